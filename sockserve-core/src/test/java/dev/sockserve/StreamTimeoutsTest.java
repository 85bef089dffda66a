package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Read and write timeouts as a user sees them, and the one thread that enforces them: it waits without
 * a time limit while no deadline is armed (it does not poll), wakes for the earliest deadline, and a
 * write cut by its timeout resets the connection rather than leaving the kernel to deliver what the
 * peer never took.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class StreamTimeoutsTest {

    static final InetSocketAddress LOOPBACK = new InetSocketAddress("127.0.0.1", 0);

    /** Echoes lines until the client closes; each read waits at most {@code readTimeout}. */
    static ThreadingTcpServer lineEcho(Duration readTimeout, AtomicReference<Throwable> failure, CountDownLatch ended,
            ServerOptions options) {
        return new ThreadingTcpServer(LOOPBACK, () -> new StreamRequestHandler() {
            @Override
            protected Optional<Duration> timeout() {
                return Optional.ofNullable(readTimeout);
            }

            @Override
            protected void handle() throws Exception {
                try {
                    while (true) {
                        var line = new java.io.ByteArrayOutputStream();
                        int b;
                        while ((b = rfile().read()) >= 0 && b != '\n') {
                            line.write(b);
                        }
                        if (b < 0) {
                            return;
                        }
                        line.write('\n');
                        line.writeTo(wfile());
                    }
                } catch (IOException e) {
                    failure.set(e);
                } finally {
                    ended.countDown();
                }
            }
        }, options);
    }

    static Socket roundTrip(BaseServer<?> server) throws IOException {
        var client = new Socket();
        client.connect(server.serverAddress(), 5000);
        client.setSoTimeout(10_000);
        client.getOutputStream().write("ping\n".getBytes(US_ASCII));
        assertEquals("ping\n", new String(client.getInputStream().readNBytes(5), US_ASCII));
        return client;
    }

    static Thread watchdog() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("sockserve-io-watchdog"))
                .findFirst().orElseThrow(() -> new AssertionError("no sockserve-io-watchdog thread"));
    }

    static void await(String what, BooleanSupplier condition, Duration within) throws InterruptedException {
        Await.until(what, within, condition);
    }

    @Test
    void theWatchdogWaitsWithoutATimeLimitOnceNoDeadlineIsArmedThoughAConnectionStaysOpen() throws Exception {
        var failure = new AtomicReference<Throwable>();
        var ended = new CountDownLatch(1);
        var options = ServerOptions.defaults().writeTimeout(Duration.ofMillis(300));
        try (var server = lineEcho(null, failure, ended, options); Serving s = Serving.start(server);
                Socket client = roundTrip(server)) {
            // the round trip armed a write deadline; the client now sits silent, its handler parked in a read
            Thread watchdog = watchdog();
            // the watchdog is the JVM's: a connection another test left open may hold a deadline queued for up to
            // the default write timeout (60 s); past that, only ours could wake it, and ours is disarmed
            await("the watchdog parked without a time limit (state WAITING), not polling", () ->
                    watchdog.getState() == Thread.State.WAITING, Duration.ofSeconds(65));
            // and stays so: it has nothing to wake for
            assertFalse(Await.holdsWithin(Duration.ofMillis(500), () -> watchdog.getState() != Thread.State.WAITING),
                    "the watchdog woke with no deadline armed");
            client.getOutputStream().write("pong\n".getBytes(US_ASCII));
            assertEquals("pong\n", new String(client.getInputStream().readNBytes(5), US_ASCII));
        }
    }

    @Test
    void aReadTimeoutFiresOnTimeAfterTheWatchdogSatIdleAndBeforeALaterDeadline() throws Exception {
        var lateFailure = new AtomicReference<Throwable>();
        var lateEnded = new CountDownLatch(1);
        var failure = new AtomicReference<Throwable>();
        var ended = new CountDownLatch(1);
        try (var late = lineEcho(Duration.ofSeconds(30), lateFailure, lateEnded, ServerOptions.defaults());
                Serving ls = Serving.start(late);
                var server = lineEcho(Duration.ofMillis(300), failure, ended, ServerOptions.defaults());
                Serving s = Serving.start(server)) {
            // one connection with a deadline 30 s away: the watchdog sleeps until then
            try (Socket waiting = roundTrip(late)) {
                await("the watchdog waits for the 30 s deadline", () -> watchdog().getState() == Thread.State.TIMED_WAITING,
                        Duration.ofSeconds(5));
                long start = System.nanoTime();
                try (Socket silent = roundTrip(server)) {
                    // an earlier deadline must wake it: the handler's next read times out after 300 ms
                    assertTrue(ended.await(10, TimeUnit.SECONDS), "the read timed out");
                    long millis = (System.nanoTime() - start) / 1_000_000;
                    assertTrue(failure.get() instanceof SocketTimeoutException, "got " + failure.get());
                    assertTrue(millis >= 300 && millis < 3000, "timed out after " + millis + " ms");
                    assertEquals(-1, silent.getInputStream().read(), "the connection was closed");
                }
                assertEquals(1, lateEnded.getCount(), "the connection with the later deadline is still served");
                waiting.getOutputStream().write("pong\n".getBytes(US_ASCII));
                assertEquals("pong\n", new String(waiting.getInputStream().readNBytes(5), US_ASCII));
            }
        }
    }

    @Test
    void aWriteCutByItsTimeoutResetsTheConnectionInsteadOfLingering() throws Exception {
        var seen = new AtomicReference<Throwable>();
        var done = new CountDownLatch(1);
        var server = new ThreadingTcpServer(LOOPBACK, StreamRequestHandler.of(h -> {
            try {
                byte[] chunk = new byte[1 << 20];
                while (true) { // far more than the socket buffers hold
                    h.wfile().write(chunk);
                }
            } catch (IOException e) {
                seen.set(e);
            } finally {
                done.countDown();
            }
        }), ServerOptions.defaults().writeTimeout(Duration.ofMillis(300)));
        try (Serving s = Serving.start(server); var client = new Socket()) {
            client.setReceiveBufferSize(64 * 1024);
            client.connect(server.serverAddress(), 5000);
            client.setSoTimeout(10_000);
            // the client never reads, until the server gave up
            assertTrue(done.await(20, TimeUnit.SECONDS));
            assertTrue(seen.get() instanceof SocketTimeoutException, "got " + seen.get());
            int port = ((InetSocketAddress) server.serverAddress()).getPort();
            assertEquals(List.of(), lingering(port), "server sockets of port " + port + " still sending after the cut");
            // what the kernel had already delivered can be read; then the reset, not an orderly end
            byte[] sink = new byte[1 << 16];
            assertThrows(SocketException.class, () -> {
                while (client.getInputStream().read(sink) >= 0) {
                    // drain
                }
            }, "the connection ends with a reset");
        }
    }

    /** Local sockets of {@code port} in FIN-WAIT-1 or LAST-ACK (a close still sending), from /proc/net/tcp. */
    static List<String> lingering(int port) throws IOException {
        String local = String.format(":%04X ", port);
        return Files.readAllLines(Path.of("/proc/net/tcp")).stream().skip(1).map(String::trim)
                .filter(l -> l.split("\\s+")[1].endsWith(local.trim()))
                .filter(l -> {
                    String state = l.split("\\s+")[3];
                    return state.equals("04") || state.equals("09"); // FIN_WAIT1, LAST_ACK
                }).toList();
    }
}
