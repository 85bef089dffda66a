package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Python's close and timeout semantics where sockserve drifted (issue 9, items 2, 3, 4 and 6). */
@ExtendWith(LeakCheck.class)
@Timeout(30)
class CloseSemanticsTest {

    private static final InetSocketAddress LOOPBACK = new InetSocketAddress("127.0.0.1", 0);

    /** A handler that waits for its (silent) client, after saying it started. */
    private static StreamRequestHandler waitingFor(CountDownLatch started) {
        return StreamRequestHandler.of(h -> {
            started.countDown();
            h.rfile().read();
        }).get();
    }

    @Test
    void closingASynchronousServerWhoseHandlerWaitsOnASilentClientCutsItAfterTheGracePeriod() throws Exception {
        var started = new CountDownLatch(1);
        var server = new TcpServer(LOOPBACK, () -> waitingFor(started),
                ServerOptions.defaults().closeGracePeriod(Duration.ofMillis(300)));
        Thread loop = Thread.ofPlatform().start(server::serveForever);
        try (SocketChannel silent = SocketChannel.open(server.serverAddress())) {
            assertEquals(true, started.await(10, TimeUnit.SECONDS));
            assertEquals(CloseOutcome.FORCED, server.serverClose(), "returns after the grace period, cutting it");
            assertFalse(server.socket().isOpen(), "the listening socket is closed");
            assertEquals(-1, silent.read(ByteBuffer.allocate(1)), "the silent client's connection was cut");
        }
        loop.join(10_000);
        assertFalse(loop.isAlive(), "serveForever returned");
    }

    @Test
    void closingAServerGroupWithABusySynchronousMemberReturns() throws Exception {
        var started = new CountDownLatch(1);
        var busy = new TcpServer(LOOPBACK, () -> waitingFor(started),
                ServerOptions.defaults().closeGracePeriod(Duration.ofMillis(300)));
        var other = new ThreadingTcpServer(LOOPBACK, StreamRequestHandler.of(h -> { }));
        var group = new ServerGroup(busy, other);
        Thread loop = Thread.ofPlatform().start(group::serveForever);
        try (SocketChannel silent = SocketChannel.open(busy.serverAddress())) {
            assertEquals(true, started.await(10, TimeUnit.SECONDS));
            group.close();
            assertFalse(busy.socket().isOpen());
            assertFalse(other.socket().isOpen());
            assertEquals(-1, silent.read(ByteBuffer.allocate(1)));
        }
        loop.join(10_000);
        assertFalse(loop.isAlive(), "the group's loop returned");
    }

    @Test
    void serverCloseFromAHandlerOnTheServingThreadReturnsAtOnceAndTheReplyStillArrives() throws Exception {
        var outcome = new java.util.concurrent.atomic.AtomicReference<CloseOutcome>();
        var server = new TcpServer(LOOPBACK, StreamRequestHandler.of(h -> {
            outcome.set(h.server().serverClose());
            h.wfile().write("bye\n".getBytes(US_ASCII));
        }));
        Thread loop = Thread.ofPlatform().start(server::serveForever);
        try (SocketChannel c = SocketChannel.open(server.serverAddress())) {
            assertEquals("bye\n", new String(Channels.newInputStream(c).readAllBytes(), US_ASCII));
        }
        loop.join(10_000);
        assertFalse(loop.isAlive(), "serveForever returned after the handler");
        assertEquals(CloseOutcome.GRACEFUL, outcome.get());
        assertFalse(server.socket().isOpen());
    }

    @Test
    void serverCloseDoesNotWaitForDaemonRequestThreads() throws Exception {
        var started = new CountDownLatch(1);
        var server = new TcpServer(LOOPBACK, () -> waitingFor(started), ServerOptions.defaults()
                .concurrency(Concurrency.threads().daemonThreads(true)).closeGracePeriod(Duration.ofSeconds(20)));
        Thread loop = Thread.ofPlatform().start(server::serveForever);
        try (SocketChannel silent = SocketChannel.open(server.serverAddress())) {
            assertEquals(true, started.await(10, TimeUnit.SECONDS));
            server.shutdown();
            assertEquals(CloseOutcome.GRACEFUL, server.serverClose());
            assertEquals(1, server.activeRequests(), "the daemon thread's request is neither waited for nor cut");
        }
        ServerSuiteTest.await("the daemon thread to end once its client left", () -> server.activeRequests() == 0);
        loop.join(10_000);
    }

    @Test
    void handleTimeoutRunsOnlyWhenTheTimeoutPassedNotOnShutdown() throws Exception {
        var timeouts = new AtomicInteger();
        var options = ServerOptions.defaults().timeout(Duration.ofMillis(50));
        try (var server = new TcpServer(LOOPBACK, StreamRequestHandler.of(h -> { }), options) {
            @Override
            protected void handleTimeout() {
                timeouts.incrementAndGet();
            }
        }) {
            server.handleRequest();
            assertEquals(1, timeouts.get(), "no request within the timeout");
            server.shutdown(); // no loop runs: the next handleRequest returns at once
            server.handleRequest();
            assertEquals(1, timeouts.get(), "woken by shutdown(), not timed out");
        }
        try (var server = new TcpServer(LOOPBACK, StreamRequestHandler.of(h -> { }),
                ServerOptions.defaults().timeout(Duration.ofSeconds(20))) {
            @Override
            protected void handleTimeout() {
                timeouts.incrementAndGet();
            }
        }) {
            Thread waiting = Thread.ofPlatform().start(server::handleRequest);
            ServerSuiteTest.await("handleRequest to wait", () -> waiting.getState() == Thread.State.RUNNABLE
                    || waiting.getState() == Thread.State.WAITING);
            server.shutdown();
            waiting.join(10_000);
            assertFalse(waiting.isAlive());
            assertEquals(1, timeouts.get(), "a shutdown is not a timeout");
        }
    }

}
