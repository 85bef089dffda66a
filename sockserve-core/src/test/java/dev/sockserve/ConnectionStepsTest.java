package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Connection steps (work between accept and verifyRequest), gates and observers, given through the
 * options on every stream transport and policy: a trivial step that reads a fixed greeting stands for
 * the PROXY protocol and TLS.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class ConnectionStepsTest {

    private static final byte[] GREETING = "HELLO\n".getBytes(US_ASCII);

    @TempDir
    Path dir;

    /** Reads exactly the greeting, byte by byte (no read-ahead), or refuses the request. */
    static ConnectionStep greeting(Duration deadline) {
        return ConnectionStep.of("greeting", deadline, request -> {
            SocketChannel connection = request.connection().orElseThrow();
            ByteBuffer got = ByteBuffer.allocate(GREETING.length);
            while (got.hasRemaining()) {
                if (connection.read(got) < 0) {
                    throw new RequestRefusedException("closed before the greeting");
                }
            }
            if (!java.util.Arrays.equals(got.array(), GREETING)) {
                throw new RequestRefusedException("bad greeting");
            }
        });
    }

    /** Records every event an observer sees, as "event:detail". */
    static final class Events implements RequestObserver {
        final BlockingQueue<String> seen = new LinkedBlockingQueue<>();

        @Override
        public void accepted(RequestContext request) {
            seen.add("accepted");
        }

        @Override
        public void refused(RequestContext request, String reason) {
            seen.add("refused:" + reason);
        }

        @Override
        public void verified(RequestContext request) {
            seen.add("verified");
        }

        @Override
        public void ended(RequestContext request, RequestEnd end) {
            seen.add("ended:" + end.reason());
        }

        String next() throws InterruptedException {
            String event = seen.poll(10, TimeUnit.SECONDS);
            if (event == null) {
                throw new AssertionError("no event within 10 s");
            }
            return event;
        }
    }

    enum Stream {
        TCP, UNIX;

        SocketAddress address(Path dir) {
            return this == TCP ? new InetSocketAddress("127.0.0.1", 0) : UnixDomainSocketAddress.of(dir.resolve("s.sock"));
        }

        BaseServer<SocketChannel> server(Path dir, ServerOptions options, AtomicInteger handled) {
            var handler = StreamRequestHandler.of(h -> {
                handled.incrementAndGet();
                h.rfile().transferTo(h.wfile());
            });
            return this == TCP ? new TcpServer((InetSocketAddress) address(dir), handler, options)
                    : new UnixStreamServer((UnixDomainSocketAddress) address(dir), handler, options);
        }
    }

    static SocketChannel connect(BaseServer<?> server) throws IOException {
        return SocketChannel.open(server.serverAddress());
    }

    static String roundTrip(SocketChannel c, byte[] first, String message) throws IOException {
        c.write(ByteBuffer.wrap(first));
        c.write(ByteBuffer.wrap(message.getBytes(US_ASCII)));
        c.shutdownOutput();
        return new String(java.nio.channels.Channels.newInputStream(c).readAllBytes(), US_ASCII);
    }

    /** Sends {@code text}, then whether the server closed (end-of-file or a reset) without a byte of reply. */
    static boolean closedWithoutReply(SocketChannel c, String text) throws IOException {
        c.write(ByteBuffer.wrap(text.getBytes(US_ASCII)));
        try {
            return c.read(ByteBuffer.allocate(1)) == -1;
        } catch (java.net.SocketException reset) {
            return true; // closed with our bytes unread: the kernel answers with a reset
        }
    }

    @ParameterizedTest
    @EnumSource(Stream.class)
    void aStepRunsBeforeTheHandlerAndRefusesWhatItDoesNotLikeOnEveryPolicy(Stream stream) throws Exception {
        // the handler is a lambda, which a processes() child cannot run
        for (Policy policy : java.util.Arrays.stream(Policy.values()).filter(Policy::inProcess).toList()) {
            var events = new Events();
            var handled = new AtomicInteger();
            ServerOptions options = policy.options().step(greeting(Duration.ofSeconds(5))).observer(events);
            try (Serving s = Serving.start(stream.server(dir, options, handled))) {
                try (SocketChannel good = connect(s.server)) {
                    assertEquals("echo me", roundTrip(good, GREETING, "echo me"), policy + ": served after the step");
                }
                assertEquals(List.of("accepted", "verified", "ended:COMPLETED"),
                        List.of(events.next(), events.next(), events.next()), policy.toString());
                try (SocketChannel bad = connect(s.server)) {
                    assertTrue(closedWithoutReply(bad, "GOODBYE\n"),
                            policy + ": a refused client gets nothing and the connection is closed");
                }
                assertEquals("accepted", events.next());
                assertEquals("refused:greeting: bad greeting", events.next());
                assertEquals("ended:REFUSED", events.next(), policy + ": refused, not FAILED: handleError never ran");
                assertEquals(1, handled.get(), policy + ": the refused request never reached a handler");
                assertEquals(1, s.server.refusedRequests());
            }
        }
    }

    @Test
    void aStepPastItsDeadlineIsClosedThenWhileOtherClientsAreServed() throws Exception {
        var events = new Events();
        var handled = new AtomicInteger();
        ServerOptions options = ServerOptions.defaults().concurrency(Concurrency.virtualThreads())
                .step(greeting(Duration.ofMillis(300))).observer(events);
        try (Serving s = Serving.start(Stream.TCP.server(dir, options, handled));
                SocketChannel silent = connect(s.server)) {
            assertEquals("accepted", events.next());
            try (SocketChannel good = connect(s.server)) {
                assertEquals("meanwhile", roundTrip(good, GREETING, "meanwhile"),
                        "a client stuck in a step does not stall accepting");
            }
            List<String> rest = List.of(events.next(), events.next(), events.next(), events.next(), events.next());
            assertTrue(rest.contains("refused:greeting did not finish within 300ms"), rest.toString());
            assertEquals(-1, silent.read(ByteBuffer.allocate(1)), "the silent client's connection was closed");
            assertEquals(1, handled.get());
        }
    }

    @ParameterizedTest
    @EnumSource(value = Policy.class, names = {"SYNCHRONOUS", "VIRTUAL_THREADS"})
    void aStepCanReplaceTheClientAddressAndWrapTheChannel(Policy policy) throws Exception {
        var seenByGate = new CopyOnWriteArrayList<SocketAddress>();
        var seenByVerify = new CopyOnWriteArrayList<SocketAddress>();
        var real = new InetSocketAddress("192.0.2.7", 4242);
        ConnectionStep proxyLike = ConnectionStep.of("proxy-like", Duration.ofSeconds(5), request -> {
            request.replaceAddresses(real, request.localAddress());
            request.wrapChannel(Upper::new);
        });
        ServerOptions options = policy.options().step(proxyLike).gate(request -> {
            seenByGate.add(request.clientAddress());
            return Optional.empty();
        });
        var handlerSaw = new LinkedBlockingQueue<String>();
        var handler = StreamRequestHandler.of(h -> {
            handlerSaw.add(h.clientAddress() + " via " + h.context().peerAddress().getClass().getSimpleName());
            h.rfile().transferTo(h.wfile());
        });
        var server = new TcpServer(new InetSocketAddress("127.0.0.1", 0), handler, options) {
            @Override
            protected boolean verifyRequest(SocketChannel request, SocketAddress clientAddress) {
                seenByVerify.add(clientAddress);
                return true;
            }
        };
        try (Serving s = Serving.start(server); SocketChannel c = connect(server)) {
            assertEquals("SHOUTED", roundTrip(c, new byte[0], "shouted"), "the handler read through the wrapper");
            assertEquals(real + " via InetSocketAddress", handlerSaw.poll(10, TimeUnit.SECONDS));
            assertEquals(List.of(real), seenByGate);
            assertEquals(List.of(real), seenByVerify);
        }
    }

    /** A wrapper that upper-cases what the client sends: stands for TLS's plain text. */
    static final class Upper implements ByteChannel {
        private final ByteChannel inner;

        Upper(ByteChannel inner) {
            this.inner = inner;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            int start = dst.position();
            int n = inner.read(dst);
            for (int i = start; i < dst.position(); i++) {
                dst.put(i, (byte) Character.toUpperCase(dst.get(i)));
            }
            return n;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            return inner.write(src);
        }

        @Override
        public boolean isOpen() {
            return inner.isOpen();
        }

        @Override
        public void close() throws IOException {
            inner.close();
        }
    }

    @Test
    void observersSeeFailuresAndCutsAndAGateRefusesWithoutSubclassing() throws Exception {
        var events = new Events();
        ServerOptions options = ServerOptions.defaults().concurrency(Concurrency.virtualThreads())
                .closeGracePeriod(Duration.ofMillis(200)).observer(events)
                .gate(request -> ((InetSocketAddress) request.clientAddress()).getAddress().isLoopbackAddress()
                        && request.id() % 1 == 0 ? Optional.empty() : Optional.of("never"));
        var calls = new AtomicInteger();
        var handler = StreamRequestHandler.of(h -> {
            switch (calls.incrementAndGet()) {
                case 1 -> throw new IllegalStateException("boom");
                default -> h.rfile().read(); // the client stays silent: held until the close cuts it
            }
        });
        var server = new TcpServer(new InetSocketAddress("127.0.0.1", 0), handler, options);
        Serving s = Serving.start(server);
        try (SocketChannel first = connect(server)) {
            assertEquals(List.of("accepted", "verified", "ended:FAILED"), List.of(events.next(), events.next(),
                    events.next()));
        }
        try (SocketChannel held = connect(server)) {
            assertEquals("accepted", events.next());
            assertEquals("verified", events.next());
            s.close();
            assertEquals(CloseOutcome.FORCED, s.outcome());
            assertEquals("ended:CUT", events.next());
        }
        assertFalse(server.socket().isOpen());
    }

    @Test
    void aDatagramServerRefusesSteps() {
        var options = ServerOptions.defaults().step(greeting(Duration.ofSeconds(1)));
        var error = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new UdpServer(new InetSocketAddress("127.0.0.1", 0), DatagramRequestHandler.of(h -> { }), options));
        assertTrue(error.getMessage().contains("stream servers only"), error.getMessage());
    }
}
