package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** shutdown(), handleRequest(), serverClose() and the bound on requests in flight. */
@ExtendWith(LeakCheck.class)
@Timeout(30)
class LifecycleTest {

    static final InetSocketAddress LOOPBACK = new InetSocketAddress("127.0.0.1", 0);
    static final byte[] HELLO = "hello world\n".getBytes(US_ASCII);

    @TempDir
    Path dir;

    static TcpServer echo(ServerOptions options) {
        return new TcpServer(LOOPBACK, StreamRequestHandler.of(h -> Transport.ECHO.run(h.rfile(), h.wfile())), options);
    }

    static byte[] roundTrip(BaseServer<?> server) throws IOException {
        return Transport.TCP4.roundTrip(server, null, HELLO);
    }

    @Test
    void shutdownWakesTheLoopAtOnceWhateverThePollInterval() throws Exception {
        try (TcpServer server = echo(ServerOptions.defaults())) {
            Thread loop = Thread.ofPlatform().start(() -> server.serveForever(Duration.ofHours(1)));
            assertArrayEquals(HELLO, roundTrip(server));
            long start = System.nanoTime();
            server.shutdown(); // returns once the loop has stopped
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "not after the poll interval");
            loop.join(5_000);
            assertFalse(loop.isAlive(), "serveForever returned");
        }
    }

    @Test
    void shutdownFromAHandlerOnTheServingThreadDoesNotDeadlock() throws Exception {
        AtomicReference<TcpServer> self = new AtomicReference<>();
        try (TcpServer server = new TcpServer(LOOPBACK, StreamRequestHandler.of(h -> {
            self.get().shutdown();
            h.wfile().write(HELLO);
        }))) {
            self.set(server);
            Thread loop = Thread.ofPlatform().start(server::serveForever);
            assertArrayEquals(HELLO, roundTrip(server));
            loop.join(10_000);
            assertFalse(loop.isAlive(), "serveForever ended after the handler that asked it to");
        }
    }

    @Test
    void shutdownBeforeServeForeverMakesItReturnAndLeavesNoStaleFlag() throws Exception {
        try (TcpServer server = echo(ServerOptions.defaults())) {
            server.shutdown(); // no loop yet: must not block
            server.serveForever(); // returns at once: the stop applies to this run
            Thread loop = Thread.ofPlatform().start(server::serveForever);
            assertArrayEquals(HELLO, roundTrip(server), "a later serveForever serves again");
            server.shutdown();
            loop.join();
            server.shutdown(); // after it ended: harmless
        }
    }

    @Test
    void shutdownOfAServerThatNeverServesReturns() {
        TcpServer server = echo(ServerOptions.defaults());
        server.shutdown();
        server.serverClose();
        server.shutdown(); // even after close
    }

    @Test
    void aConnectionArrivingAfterShutdownIsNotAccepted() throws Exception {
        AtomicInteger handled = new AtomicInteger();
        TcpServer server = new TcpServer(LOOPBACK, StreamRequestHandler.of(h -> handled.incrementAndGet()));
        Thread loop = Thread.ofPlatform().start(server::serveForever);
        server.shutdown();
        loop.join();
        try (SocketChannel late = SocketChannel.open(server.serverAddress())) {
            late.write(ByteBuffer.wrap(HELLO)); // the kernel completes the handshake into the backlog
            Thread.sleep(200);
            assertEquals(0, handled.get());
            assertEquals(0, server.activeRequests());
            server.serverClose();
            ByteBuffer b = ByteBuffer.allocate(16);
            assertThrows(IOException.class, () -> {
                if (late.read(b) < 0) {
                    throw new IOException("end of file: never served");
                }
            });
        }
    }

    @Test
    void handleRequestServesOneRequest() throws Exception {
        try (TcpServer server = echo(ServerOptions.defaults())) {
            Thread client = Thread.ofPlatform().start(() -> {
                try {
                    assertArrayEquals(HELLO, roundTrip(server));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            server.handleRequest();
            client.join();
        }
    }

    @Test
    void handleRequestCallsHandleTimeoutWhenNoRequestComes() {
        AtomicInteger timeouts = new AtomicInteger();
        try (TcpServer server = new TcpServer(LOOPBACK, StreamRequestHandler.of(h -> { }),
                ServerOptions.defaults().timeout(Duration.ofMillis(100))) {
            @Override
            protected void handleTimeout() {
                timeouts.incrementAndGet();
            }
        }) {
            server.handleRequest();
            server.handleRequest();
            assertEquals(2, timeouts.get());
        }
    }

    @Test
    void serviceActionsRunEveryPollInterval() throws Exception {
        CountDownLatch turns = new CountDownLatch(3);
        try (TcpServer server = new TcpServer(LOOPBACK, StreamRequestHandler.of(h -> { })) {
            @Override
            protected void serviceActions() {
                turns.countDown();
            }
        }) {
            Thread loop = Thread.ofPlatform().start(() -> server.serveForever(Duration.ofMillis(20)));
            assertTrue(turns.await(10, TimeUnit.SECONDS), "serviceActions ran with no request at all");
            server.shutdown();
            loop.join();
        }
    }

    @Test
    void closeWaitsForARequestInFlightAndSaysItWasGraceful() throws Exception {
        CountDownLatch inHandler = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger completed = new AtomicInteger();
        TcpServer server = new ThreadingTcpServer(LOOPBACK, StreamRequestHandler.of(h -> {
            inHandler.countDown();
            release.await();
            h.wfile().write(HELLO);
            completed.incrementAndGet();
        }));
        Serving s = Serving.start(server);
        try (SocketChannel c = SocketChannel.open(server.serverAddress())) {
            assertTrue(inHandler.await(10, TimeUnit.SECONDS));
            Thread.ofPlatform().start(() -> {
                try {
                    Thread.sleep(200);
                } catch (InterruptedException ignored) {
                    // released either way
                }
                release.countDown();
            });
            s.close();
            assertEquals(CloseOutcome.GRACEFUL, s.outcome());
            assertEquals(1, completed.get(), "the request finished before serverClose returned");
            ByteBuffer reply = ByteBuffer.allocate(64);
            while (c.read(reply) >= 0) {
                // until end of file
            }
            assertEquals("hello world\n", new String(reply.array(), 0, reply.position(), US_ASCII));
        }
    }

    @Test
    void idleKeepAliveConnectionsCannotHoldCloseBeyondTheGracePeriod() throws Exception {
        CountDownLatch reading = new CountDownLatch(2);
        TcpServer server = new ThreadingTcpServer(LOOPBACK, StreamRequestHandler.of(h -> {
            reading.countDown();
            h.rfile().transferTo(h.wfile()); // an idle keep-alive client: blocks in read for ever
        }), ServerOptions.defaults().closeGracePeriod(Duration.ofMillis(300)));
        Serving s = Serving.start(server);
        try (SocketChannel a = SocketChannel.open(server.serverAddress());
                SocketChannel b = SocketChannel.open(server.serverAddress())) {
            assertTrue(reading.await(10, TimeUnit.SECONDS));
            long start = System.nanoTime();
            s.close();
            assertEquals(CloseOutcome.FORCED, s.outcome());
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(8), "close is bounded");
            assertEquals(-1, a.read(ByteBuffer.allocate(8)), "the idle connection was closed");
            assertEquals(-1, b.read(ByteBuffer.allocate(8)));
        }
        ServerSuiteTest.await("handlers to end", () -> server.activeRequests() == 0);
    }

    @Test
    void newClientsAreRefusedAsSoonAsCloseBeginsWhileRequestsFinish() throws Exception {
        CountDownLatch inHandler = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        TcpServer server = new ThreadingTcpServer(LOOPBACK, StreamRequestHandler.of(h -> {
            inHandler.countDown();
            release.await();
            h.wfile().write(HELLO);
        }));
        Serving s = Serving.start(server);
        try (SocketChannel inFlight = SocketChannel.open(server.serverAddress())) {
            assertTrue(inHandler.await(10, TimeUnit.SECONDS));
            Thread closing = Thread.ofPlatform().start(s::close);
            ServerSuiteTest.await("the listening socket to close", () -> !server.socket().isOpen());
            Thread.sleep(100);
            assertThrows(java.net.ConnectException.class, () -> SocketChannel.open(server.serverAddress()).close(),
                    "refused during the grace period, not left hanging in a backlog");
            release.countDown();
            closing.join();
            assertEquals(CloseOutcome.GRACEFUL, s.outcome());
            ByteBuffer reply = ByteBuffer.allocate(64);
            while (inFlight.read(reply) >= 0) {
                // the request in flight still gets its answer
            }
            assertEquals("hello world\n", new String(reply.array(), 0, reply.position(), US_ASCII));
        }
    }

    @Test
    void aGroupClosesItsServersSideBySide() throws Exception {
        CountDownLatch reading = new CountDownLatch(3);
        List<BaseServer<?>> servers = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            servers.add(new ThreadingTcpServer(LOOPBACK, StreamRequestHandler.of(h -> {
                reading.countDown();
                h.rfile().transferTo(h.wfile()); // idle until the grace period ends
            }), ServerOptions.defaults().closeGracePeriod(Duration.ofSeconds(1))));
        }
        ServerGroup group = new ServerGroup(servers);
        Thread loop = Thread.ofPlatform().start(group::serveForever);
        List<SocketChannel> clients = new ArrayList<>();
        try {
            for (BaseServer<?> server : servers) {
                clients.add(SocketChannel.open(server.serverAddress()));
            }
            assertTrue(reading.await(10, TimeUnit.SECONDS));
            long start = System.nanoTime();
            group.close();
            long took = System.nanoTime() - start;
            assertTrue(took < TimeUnit.MILLISECONDS.toNanos(2500), "three 1 s grace periods ran together: " + took);
            loop.join();
        } finally {
            for (SocketChannel c : clients) {
                c.close();
            }
        }
    }

    @Test
    void boundedPolicyStopsAcceptingAtTheLimitAndResumesWhenOneEnds() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger started = new AtomicInteger();
        TcpServer server = new TcpServer(LOOPBACK, StreamRequestHandler.of(h -> {
            started.incrementAndGet();
            release.await();
            Transport.ECHO.run(h.rfile(), h.wfile());
        }), ServerOptions.defaults().concurrency(Concurrency.bounded(2)));
        List<SocketChannel> clients = new ArrayList<>();
        try (Serving s = Serving.start(server)) {
            for (int i = 0; i < 3; i++) {
                SocketChannel c = SocketChannel.open(server.serverAddress());
                clients.add(c);
                c.write(ByteBuffer.wrap(HELLO));
            }
            ServerSuiteTest.await("two requests started", () -> started.get() == 2);
            Thread.sleep(300);
            assertEquals(2, started.get(), "the third connection waits in the backlog");
            assertEquals(2, server.activeRequests());
            release.countDown();
            ServerSuiteTest.await("the third request started", () -> started.get() == 3);
            for (SocketChannel c : clients) {
                ByteBuffer reply = ByteBuffer.allocate(64);
                while (reply.position() < HELLO.length && c.read(reply) >= 0) {
                    // read the echo
                }
                assertEquals("hello world\n", new String(reply.array(), 0, reply.position(), US_ASCII));
            }
        } finally {
            for (SocketChannel c : clients) {
                c.close();
            }
        }
    }

    @Test
    void aReadTimeoutEndsTheReadWithSocketTimeoutException() throws Exception {
        AtomicReference<Throwable> seen = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        TcpServer server = new ThreadingTcpServer(LOOPBACK, () -> new StreamRequestHandler() {
            @Override
            protected java.util.Optional<Duration> timeout() {
                return java.util.Optional.of(Duration.ofMillis(300));
            }

            @Override
            protected void handle() {
                try {
                    rfile().read();
                } catch (IOException e) {
                    seen.set(e);
                }
                done.countDown();
            }
        });
        try (Serving s = Serving.start(server); SocketChannel c = SocketChannel.open(server.serverAddress())) {
            assertTrue(done.await(10, TimeUnit.SECONDS));
            assertTrue(seen.get() instanceof SocketTimeoutException, "got " + seen.get());
            assertTrue(seen.get().getMessage().contains("127.0.0.1"), seen.get().getMessage());
        }
    }

    @Test
    void aWriteThatMakesNoProgressTimesOut() throws Exception {
        assertWriteTimesOut(0);
    }

    @Test
    void aWriteThatMakesNoProgressAfterTheConnectionSatIdleTimesOut() throws Exception {
        // the watchdog stops watching a connection with no deadline armed; the next write must bring it back
        assertWriteTimesOut(700);
    }

    static void assertWriteTimesOut(long idleMillisFirst) throws Exception {
        AtomicReference<Throwable> seen = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        TcpServer server = new ThreadingTcpServer(LOOPBACK, StreamRequestHandler.of(h -> {
            try {
                h.wfile().write('x');
                Thread.sleep(idleMillisFirst);
                byte[] chunk = new byte[1 << 20];
                for (int i = 0; i < 256; i++) { // far more than the socket buffers hold
                    h.wfile().write(chunk);
                }
            } catch (IOException e) {
                seen.set(e);
            }
            done.countDown();
        }), ServerOptions.defaults().writeTimeout(Duration.ofMillis(500)));
        try (Serving s = Serving.start(server); SocketChannel c = SocketChannel.open(server.serverAddress())) {
            // the client never reads
            assertTrue(done.await(20, TimeUnit.SECONDS));
            assertTrue(seen.get() instanceof SocketTimeoutException, "got " + seen.get());
        }
    }

    @Test
    void rfileReturnsEveryByteInOrderWhateverMixOfReadsTheHandlerUses() throws Exception {
        java.util.Random random = new java.util.Random(42);
        byte[] sent = new byte[3 * 1024 * 1024 + 7];
        random.nextBytes(sent);
        TcpServer server = new ThreadingTcpServer(LOOPBACK, () -> new StreamRequestHandler() {
            @Override
            protected int rbufsize() {
                return 4096;
            }

            @Override
            protected void handle() throws IOException {
                java.util.Random mix = new java.util.Random(7);
                byte[] buffer = new byte[20_000];
                while (true) {
                    switch (mix.nextInt(4)) {
                        case 0 -> {
                            int b = rfile().read();
                            if (b < 0) {
                                return;
                            }
                            wfile().write(b);
                        }
                        case 1, 2 -> {
                            int n = rfile().read(buffer, 0, 1 + mix.nextInt(buffer.length)); // below and above rbufsize
                            if (n < 0) {
                                return;
                            }
                            wfile().write(buffer, 0, n);
                        }
                        default -> {
                            if (mix.nextInt(50) == 0) {
                                rfile().transferTo(wfile());
                                return;
                            }
                        }
                    }
                }
            }
        });
        try (Serving s = Serving.start(server); SocketChannel c = SocketChannel.open(server.serverAddress())) {
            assertArrayEquals(sent, sendAndReadBack(c, sent, () -> 1 + random.nextInt(70_000)));
        }
    }

    /** Writes {@code sent} in chunks of the given sizes on another thread while reading everything back. */
    static byte[] sendAndReadBack(SocketChannel c, byte[] sent, java.util.function.IntSupplier chunk)
            throws IOException, InterruptedException {
        Thread writer = Thread.ofPlatform().start(() -> {
            try {
                for (int off = 0; off < sent.length;) {
                    int n = Math.min(sent.length - off, chunk.getAsInt());
                    c.write(ByteBuffer.wrap(sent, off, n));
                    off += n;
                }
                c.shutdownOutput();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(65536);
        while (c.read(b.clear()) >= 0) {
            got.write(b.array(), 0, b.position());
        }
        writer.join();
        return got.toByteArray();
    }

    @Test
    void transferToEchoesEightMebibytesWhileTheClientStillWrites() throws Exception {
        byte[] sent = new byte[8 * 1024 * 1024];
        new java.util.Random(3).nextBytes(sent);
        TcpServer server = new ThreadingTcpServer(LOOPBACK, StreamRequestHandler.of(h -> h.rfile().transferTo(h.wfile())));
        try (Serving s = Serving.start(server); SocketChannel c = SocketChannel.open(server.serverAddress())) {
            assertArrayEquals(sent, sendAndReadBack(c, sent, () -> 100_000));
        }
    }

    @Test
    void aThousandFailedBindsLeakNoDescriptor() throws Exception {
        try (TcpServer holder = echo(ServerOptions.defaults())) {
            InetSocketAddress taken = (InetSocketAddress) holder.serverAddress();
            int before = LeakCheck.take().fds();
            for (int i = 0; i < 1000; i++) {
                UncheckedIOException e = assertThrows(UncheckedIOException.class,
                        () -> new TcpServer(taken, StreamRequestHandler.of(h -> { })));
                if (i == 0) {
                    assertTrue(e.getMessage().contains("tcp 127.0.0.1:" + taken.getPort()), e.getMessage());
                    assertTrue(e.getMessage().contains("in use"), e.getMessage());
                }
            }
            assertEquals(before, LeakCheck.take().fds());
        }
    }

    @Test
    void aThousandFailedUdpBindsLeakNoDescriptor() throws Exception {
        try (UdpServer holder = new UdpServer(LOOPBACK, DatagramRequestHandler.of(h -> { }))) {
            InetSocketAddress taken = (InetSocketAddress) holder.serverAddress();
            int before = LeakCheck.take().fds();
            for (int i = 0; i < 1000; i++) {
                assertThrows(UncheckedIOException.class, () -> new UdpServer(taken, DatagramRequestHandler.of(h -> { })));
            }
            assertEquals(before, LeakCheck.take().fds());
        }
    }

    @Test
    void verifyRequestThatThrowsDropsTheRequestAndServingGoesOn() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        try (Serving s = Serving.start(new TcpServer(LOOPBACK,
                StreamRequestHandler.of(h -> Transport.ECHO.run(h.rfile(), h.wfile()))) {
            @Override
            protected boolean verifyRequest(SocketChannel request, java.net.SocketAddress client) {
                if (calls.incrementAndGet() == 1) {
                    throw new IllegalStateException("verify blew up");
                }
                return true;
            }
        })) {
            try (Transport.Client c = Transport.TCP4.client(s.server, dir)) {
                c.sendMaybeEnded(HELLO);
                assertTrue(c.endedWithoutReply());
            }
            assertArrayEquals(HELLO, roundTrip(s.server));
            ServerSuiteTest.await("both requests ended", () -> s.server.activeRequests() == 0);
        }
    }

    @Test
    void handleErrorThatThrowsIsLoggedAndServingGoesOn() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        try (Serving s = Serving.start(new TcpServer(LOOPBACK, StreamRequestHandler.of(h -> {
            if (calls.incrementAndGet() == 1) {
                throw new IOException("handler failed");
            }
            Transport.ECHO.run(h.rfile(), h.wfile());
        })) {
            @Override
            protected void handleError(SocketChannel request, java.net.SocketAddress client, Throwable error) {
                throw new IllegalStateException("handleError blew up too");
            }
        })) {
            try (Transport.Client c = Transport.TCP4.client(s.server, dir)) {
                c.sendMaybeEnded(HELLO);
                assertTrue(c.endedWithoutReply());
            }
            assertArrayEquals(HELLO, roundTrip(s.server));
        }
    }

    @Test
    void optionsRefuseNonsenseWithTheirName() {
        var e = assertThrows(IllegalArgumentException.class, () -> ServerOptions.defaults().requestQueueSize(0));
        assertTrue(e.getMessage().contains("requestQueueSize"));
        e = assertThrows(IllegalArgumentException.class, () -> Concurrency.bounded(0));
        assertTrue(e.getMessage().contains("at least 1"));
        e = assertThrows(IllegalArgumentException.class,
                () -> new UnixStreamServer(java.net.UnixDomainSocketAddress.of(dir.resolve("x")),
                        StreamRequestHandler.of(h -> { }), ServerOptions.defaults().allowReusePort(true)));
        assertTrue(e.getMessage().contains("allowReusePort"));
    }
}
