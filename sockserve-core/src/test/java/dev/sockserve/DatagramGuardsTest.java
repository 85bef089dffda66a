package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Datagram servers against reflection loops (a forged source, two servers answering each other) and
 * floods of oversize datagrams: what is sent, counted and logged.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class DatagramGuardsTest {

    static final byte[] HELLO = "hello world\n".getBytes(US_ASCII);

    @TempDir
    Path dir;

    private LogCapture log;

    @BeforeEach
    void captureLog() throws ReflectiveOperationException {
        log = new LogCapture();
    }

    @AfterEach
    void releaseLog() throws ReflectiveOperationException {
        log.close();
    }

    /** An echo server that counts the datagrams it handled. */
    static final class CountingEcho {
        final AtomicInteger handled = new AtomicInteger();
        final UdpServer server;

        CountingEcho(String host) {
            this(host, Policy.SYNCHRONOUS);
        }

        CountingEcho(String host, Policy policy) {
            server = new UdpServer(new InetSocketAddress(host, 0), DatagramRequestHandler.of(h -> {
                handled.incrementAndGet();
                h.wfile().write(h.packet());
            }), policy.options());
        }

        DatagramChannel channel() {
            return (DatagramChannel) server.socket();
        }

        int port() {
            return ((InetSocketAddress) server.serverAddress()).getPort();
        }
    }

    private long count(String fragment) {
        return log.count(fragment);
    }

    @Test
    void aDatagramFromTheServersOwnAddressGetsNoReply() throws Exception {
        var echo = new CountingEcho("127.0.0.1");
        try (Serving s = Serving.start(echo.server)) {
            // the server's own socket sends to itself: the datagram's source is the server's address, as a
            // forged one would be; answering it would start a loop with no end
            echo.channel().send(ByteBuffer.wrap(HELLO), echo.server.serverAddress());
            ServerSuiteTest.await("the refused reply", () -> echo.server.suppressedReplies() == 1);
            assertArrayEquals(HELLO, Transport.UDP4.roundTrip(echo.server, dir, HELLO), "still serving");
            assertEquals(2, echo.handled.get(), "the forged datagram and the client's; no loop");
            assertEquals(1, echo.server.suppressedReplies());
            assertEquals(1, count("it is this server's own address"), String.join("\n", log.lines()));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.0.0.0", "::"})
    void aWildcardServerRefusesToReplyToAnyLocalAddressWithItsPort(String wildcard) throws Exception {
        var echo = new CountingEcho(wildcard);
        try (Serving s = Serving.start(echo.server)) {
            // arrives from 127.0.0.1:port, an address of this host that the wildcard socket owns
            echo.channel().send(ByteBuffer.wrap(HELLO), new InetSocketAddress("127.0.0.1", echo.port()));
            ServerSuiteTest.await("the refused reply", () -> echo.server.suppressedReplies() == 1);
            try (DatagramChannel c = DatagramChannel.open()) {
                c.connect(new InetSocketAddress("127.0.0.1", echo.port()));
                c.write(ByteBuffer.wrap(HELLO));
                ByteBuffer b = ByteBuffer.allocate(64);
                c.read(b);
                assertEquals("hello world\n", new String(b.array(), 0, b.position(), US_ASCII));
            }
            assertEquals(2, echo.handled.get());
            assertEquals(1, echo.server.suppressedReplies());
        }
    }

    @Test
    void aUnixDatagramServerNeverRepliesToItsOwnPath() throws Exception {
        AtomicInteger handled = new AtomicInteger();
        var server = new UnixDatagramServer(UnixDomainSocketAddress.of(dir.resolve("d.sock")),
                DatagramRequestHandler.of(h -> {
                    handled.incrementAndGet();
                    h.wfile().write(h.packet());
                }));
        try (Serving s = Serving.start(server)) {
            ((DatagramEndpoint) server.socket()).send(ByteBuffer.wrap(HELLO), server.serverAddress());
            ServerSuiteTest.await("the refused reply", () -> server.suppressedReplies() == 1);
            assertArrayEquals(HELLO, Transport.UNIX_DGRAM.roundTrip(server, dir, HELLO), "still serving");
            assertEquals(2, handled.get());
            assertEquals(1, server.suppressedReplies());
        }
    }

    @ParameterizedTest
    @EnumSource(value = Policy.class, names = {"SYNCHRONOUS", "VIRTUAL_THREADS"})
    void twoEchoServersKickedIntoAPingPongStopWithinTheirBudget(Policy policy) throws Exception {
        var a = new CountingEcho("127.0.0.1", policy);
        var b = new CountingEcho("127.0.0.1", policy);
        assertEquals(UdpServer.DEFAULT_REPLY_BUDGET, a.server.replyBudget());
        try (Serving sa = Serving.start(a.server); Serving sb = Serving.start(b.server)) {
            long start = System.nanoTime();
            // one datagram from A's socket to B: B answers A, A answers B, and so on, on ports no list knows
            a.channel().send(ByteBuffer.wrap(HELLO), b.server.serverAddress());
            ServerSuiteTest.await("the ping-pong to stop",
                    () -> a.server.suppressedReplies() + b.server.suppressedReplies() >= 1);
            double seconds = (System.nanoTime() - start) / 1e9;
            int exchanges = a.handled.get() + b.handled.get();
            // a burst of one second's budget, then the budget's rate, for each of the two
            long bound = Math.round(2 * UdpServer.DEFAULT_REPLY_BUDGET * (1 + seconds)) + 2;
            assertTrue(exchanges > UdpServer.DEFAULT_REPLY_BUDGET && exchanges <= bound,
                    exchanges + " datagrams in " + seconds + " s");
            // both still answer a client, and the loop did not start again
            assertArrayEquals(HELLO, Transport.UDP4.roundTrip(a.server, dir, HELLO));
            assertArrayEquals(HELLO, Transport.UDP4.roundTrip(b.server, dir, HELLO));
            assertEquals(exchanges + 2, a.handled.get() + b.handled.get());
            assertEquals(1, a.server.suppressedReplies() + b.server.suppressedReplies());
            assertEquals(1, count("exceed the budget"), String.join("\n", log.lines()));
        }
    }

    @Test
    void aLowerBudgetStopsAPingPongSoonerAndZeroTurnsItOff() throws Exception {
        var a = new CountingEcho("127.0.0.1");
        var b = new CountingEcho("127.0.0.1");
        a.server.setReplyBudget(20);
        b.server.setReplyBudget(0);
        try (Serving sa = Serving.start(a.server); Serving sb = Serving.start(b.server)) {
            a.channel().send(ByteBuffer.wrap(HELLO), b.server.serverAddress());
            ServerSuiteTest.await("A to refuse", () -> a.server.suppressedReplies() == 1);
            assertTrue(a.handled.get() <= 20 + 20 * 10 + 1, "A answered " + a.handled.get());
            assertEquals(0, b.server.suppressedReplies());
            assertArrayEquals(HELLO, Transport.UDP4.roundTrip(b.server, dir, HELLO));
        }
    }

    @Test
    void aFloodOfOversizeDatagramsIsCountedExactlyAndLoggedAtMostOnceASecond() throws Exception {
        var server = new UdpServer(new InetSocketAddress("127.0.0.1", 0), DatagramRequestHandler.of(h -> {
            h.wfile().write(h.request().truncated() ? 'T' : 'W');
        }), ServerOptions.defaults().maxPacketSize(100)) {
            @Override
            protected String maxPacketSizeName() {
                return "--max-packet-size"; // as a command names its flag
            }
        };
        server.setReplyBudget(0); // one client socket, as fast as it goes
        int flood = 2000;
        try (Serving s = Serving.start(server); Transport.Client c = Transport.UDP4.client(server, dir)) {
            long start = System.nanoTime();
            for (int i = 0; i < flood; i++) {
                c.send(new byte[5000]);
                assertEquals("T", new String(c.receive(), US_ASCII));
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            assertEquals(flood, server.truncatedDatagrams());
            long lines = count("than --max-packet-size 100");
            assertTrue(lines >= 1 && lines <= 1 + Math.ceil(seconds), lines + " lines in " + seconds + " s");
            String first = log.lines().stream().filter(l -> l.contains("than --max-packet-size")).findFirst()
                    .orElseThrow();
            assertTrue(first.contains("(more than 100 bytes)"), first);
        }
        assertEquals(1, count(": " + flood + " in all"), "closing reports the end of the flood: " + log.lines());
    }
}
