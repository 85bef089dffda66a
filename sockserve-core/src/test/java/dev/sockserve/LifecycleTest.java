package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketTimeoutException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * shutdown(), handleRequest(), serverClose() and the bound on requests in flight, on every transport
 * (TCP and UDP over IPv4 and IPv6, Unix stream, Unix datagram) where the behaviour applies: what is about
 * connections (a late client refused, an idle connection cut, a read timeout) runs on the stream transports.
 * No test waits by sleeping: latches, observer events, or {@link Await} on a condition.
 */
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

    /** Every transport under the policies whose handlers run on a thread of this JVM other than the loop's. */
    static Stream<Arguments> threadedRows() {
        return Stream.of(Transport.values()).flatMap(t -> Stream.of(Policy.THREADS, Policy.VIRTUAL_THREADS)
                .map(p -> Arguments.of(t, p)));
    }

    static Stream<Arguments> everyThread() {
        return Stream.of(Transport.values()).flatMap(t -> Stream.of(Policy.SYNCHRONOUS, Policy.THREADS,
                Policy.VIRTUAL_THREADS).map(p -> Arguments.of(t, p)));
    }

    /** An echo server of the transport with Python's two loop hooks overridden, as a subclass does. */
    static BaseServer<?> hooked(Transport transport, Path dir, ServerOptions options, Runnable onTimeout,
            Runnable onServiceActions) {
        SocketAddress address = transport.address(dir);
        return switch (transport) {
            case TCP4, TCP6 -> new TcpServer((InetSocketAddress) address, Transport.EchoStream::new, options) {
                @Override
                protected void handleTimeout() {
                    onTimeout.run();
                }

                @Override
                protected void serviceActions() {
                    onServiceActions.run();
                }
            };
            case UNIX_STREAM -> new UnixStreamServer((UnixDomainSocketAddress) address, Transport.EchoStream::new,
                    options) {
                @Override
                protected void handleTimeout() {
                    onTimeout.run();
                }

                @Override
                protected void serviceActions() {
                    onServiceActions.run();
                }
            };
            case UDP4, UDP6 -> new UdpServer((InetSocketAddress) address, Transport.EchoDatagram::new, options) {
                @Override
                protected void handleTimeout() {
                    onTimeout.run();
                }

                @Override
                protected void serviceActions() {
                    onServiceActions.run();
                }
            };
            case UNIX_DGRAM -> new UnixDatagramServer((UnixDomainSocketAddress) address,
                    Transport.EchoDatagram::new, options) {
                @Override
                protected void handleTimeout() {
                    onTimeout.run();
                }

                @Override
                protected void serviceActions() {
                    onServiceActions.run();
                }
            };
        };
    }

    /** Runs {@code action} on a new thread of the kind given and fails unless it returns within the deadline. */
    static void returnsPromptly(String what, Thread.Builder thread, Runnable action) throws InterruptedException {
        Thread t = thread.start(action);
        assertTrue(t.join(Await.DEADLINE), what + " did not return");
    }

    // ---- shutdown, from every thread ----

    @ParameterizedTest
    @EnumSource(Transport.class)
    void shutdownFromAnotherThreadWakesTheLoopAtOnceWhateverThePollInterval(Transport transport) throws Exception {
        for (Thread.Builder caller : List.of(Thread.ofPlatform(), Thread.ofVirtual())) {
            Path sub = Files.createTempDirectory(dir, "s");
            try (BaseServer<?> server = transport.server(sub, Transport.ECHO, ServerOptions.defaults())) {
                // an hour between two looks: only the wake-up can end the loop within the test's timeout
                Thread loop = Thread.ofPlatform().start(() -> server.serveForever(Duration.ofHours(1)));
                assertArrayEquals(HELLO, transport.roundTrip(server, sub, HELLO));
                returnsPromptly("shutdown() from a " + (caller instanceof Thread.Builder.OfVirtual ? "virtual"
                        : "platform") + " thread", caller, server::shutdown);
                assertTrue(loop.join(Await.DEADLINE), "serveForever returned");
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("everyThread")
    void shutdownFromAHandlerDoesNotDeadlock(Transport transport, Policy policy) throws Exception {
        AtomicReference<BaseServer<?>> self = new AtomicReference<>();
        BaseServer<?> server = transport.server(dir, (in, out) -> {
            byte[] request = in.readNBytes(HELLO.length);
            self.get().shutdown(); // on the serving thread (synchronous) or on the request's own thread
            out.write(request);
        }, policy.options());
        self.set(server);
        try (server) {
            Thread loop = Thread.ofPlatform().start(server::serveForever);
            assertArrayEquals(HELLO, transport.roundTrip(server, dir, HELLO));
            assertTrue(loop.join(Await.DEADLINE), "serveForever ended after the handler that asked it to");
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void shutdownBeforeServeForeverMakesItReturnAndLeavesNoStaleFlag(Transport transport) throws Exception {
        try (BaseServer<?> server = transport.server(dir, Transport.ECHO, ServerOptions.defaults())) {
            returnsPromptly("shutdown() with no loop yet", Thread.ofPlatform(), server::shutdown);
            returnsPromptly("serveForever() after shutdown()", Thread.ofPlatform(), server::serveForever);
            Thread loop = Thread.ofPlatform().start(server::serveForever);
            assertArrayEquals(HELLO, transport.roundTrip(server, dir, HELLO), "a later serveForever serves again");
            server.shutdown();
            assertTrue(loop.join(Await.DEADLINE));
            returnsPromptly("shutdown() after the loop ended", Thread.ofPlatform(), server::shutdown);
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void shutdownOfAServerThatNeverServesReturnsBeforeAndAfterClose(Transport transport) throws Exception {
        BaseServer<?> server = transport.server(dir, Transport.ECHO, ServerOptions.defaults());
        returnsPromptly("shutdown() of a server that never served", Thread.ofPlatform(), server::shutdown);
        assertEquals(CloseOutcome.GRACEFUL, server.serverClose());
        assertTrue(server.isClosed());
        returnsPromptly("shutdown() after serverClose()", Thread.ofPlatform(), server::shutdown);
        assertThrows(IllegalStateException.class, server::serveForever, "a closed server cannot serve again");
    }

    @ParameterizedTest
    @EnumSource(value = Transport.class, names = {"TCP4", "TCP6", "UNIX_STREAM"})
    void aConnectionArrivingAfterShutdownIsNeverServed(Transport transport) throws Exception {
        var hooks = new Transport.Hooks();
        BaseServer<?> server = transport.server(dir, Transport.ECHO, ServerOptions.defaults(), hooks);
        try (server) {
            Thread loop = Thread.ofPlatform().start(server::serveForever);
            server.shutdown();
            assertTrue(loop.join(Await.DEADLINE));
            try (Transport.Client late = transport.client(server, dir)) {
                late.send(HELLO); // the kernel completes the handshake into the backlog
                late.finishSending();
                server.serverClose();
                assertEquals(0, hooks.accepted.get(), "not accepted");
                assertTrue(late.endedWithoutReply(), "the connection ends (reset or end of file) with no reply");
            }
        }
    }

    // ---- handleRequest and Python's loop hooks ----

    @ParameterizedTest
    @EnumSource(Transport.class)
    void handleRequestServesOneRequest(Transport transport) throws Exception {
        try (BaseServer<?> server = transport.server(dir, Transport.ECHO, ServerOptions.defaults())) {
            CompletableFuture<byte[]> reply = CompletableFuture.supplyAsync(() -> {
                try {
                    return transport.roundTrip(server, dir, HELLO);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, r -> Thread.ofPlatform().start(r));
            server.handleRequest();
            assertArrayEquals(HELLO, reply.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void handleRequestCallsHandleTimeoutWhenNoRequestComes(Transport transport) {
        AtomicInteger timeouts = new AtomicInteger();
        try (BaseServer<?> server = hooked(transport, dir, ServerOptions.defaults().timeout(Duration.ofMillis(50)),
                timeouts::incrementAndGet, () -> { })) {
            server.handleRequest();
            assertEquals(1, timeouts.get());
            server.handleRequest();
            assertEquals(2, timeouts.get());
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void serviceActionsRunEveryPollIntervalWithNoRequestAtAll(Transport transport) throws Exception {
        CountDownLatch turns = new CountDownLatch(3);
        try (BaseServer<?> server = hooked(transport, dir, ServerOptions.defaults(), () -> { }, turns::countDown)) {
            Thread loop = Thread.ofPlatform().start(() -> server.serveForever(Duration.ofMillis(20)));
            assertTrue(turns.await(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS), "serviceActions ran three times");
            server.shutdown();
            loop.join();
        }
    }

    // ---- close: grace, forced, refusing newcomers, groups ----

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("threadedRows")
    void closeWaitsForARequestInFlightAndSaysItWasGraceful(Transport transport, Policy policy) throws Exception {
        CountDownLatch inHandler = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger completed = new AtomicInteger();
        BaseServer<?> server = transport.server(dir, (in, out) -> {
            inHandler.countDown();
            release.await();
            Transport.ECHO.run(in, out);
            completed.incrementAndGet();
        }, policy.options());
        Serving s = Serving.start(server);
        try (Transport.Client c = transport.client(server, dir)) {
            c.send(HELLO);
            c.finishSending();
            assertTrue(inHandler.await(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
            Thread releaser = Thread.ofPlatform().start(() -> {
                try { // once the close has begun, let the handler finish
                    Await.until("the listening socket to close", () -> !server.socket().isOpen());
                } catch (InterruptedException ignored) {
                    // released either way
                }
                release.countDown();
            });
            s.close();
            releaser.join();
            assertEquals(CloseOutcome.GRACEFUL, s.outcome());
            assertEquals(1, completed.get(), "the request finished before serverClose returned");
            if (transport.stream()) { // a datagram's reply would go out through the closed socket
                assertArrayEquals(HELLO, c.receive(), "the request in flight still got its answer");
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("threadedRows")
    void requestsStillRunningAfterTheGracePeriodAreCutAndTheCloseSaysForced(Transport transport, Policy policy)
            throws Exception {
        CountDownLatch running = new CountDownLatch(2);
        CountDownLatch release = new CountDownLatch(1);
        var hooks = new Transport.Hooks();
        BaseServer<?> server = transport.server(dir, (in, out) -> {
            running.countDown();
            if (transport.stream()) {
                in.transferTo(out); // an idle keep-alive client: blocks in read until the connection is cut
            } else {
                release.await(); // a datagram has no connection to cut: the handler ends when released
            }
        }, policy.options().closeGracePeriod(Duration.ofMillis(300)), hooks);
        Serving s = Serving.start(server);
        try (Transport.Client a = transport.client(server, dir); Transport.Client b = transport.client(server, dir)) {
            if (!transport.stream()) {
                a.send(HELLO);
                b.send(HELLO);
            }
            assertTrue(running.await(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
            s.close();
            assertEquals(CloseOutcome.FORCED, s.outcome());
            release.countDown();
            if (transport.stream()) {
                assertArrayEquals(new byte[0], a.receive(), "the idle connection was closed");
                assertArrayEquals(new byte[0], b.receive());
            }
            Await.until("both requests to end as cut", () -> hooks.endedBy(RequestEnd.Reason.CUT) == 2);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Transport.class, names = {"TCP4", "TCP6", "UNIX_STREAM"})
    void newClientsAreRefusedAsSoonAsCloseBeginsWhileRequestsFinish(Transport transport) throws Exception {
        CountDownLatch inHandler = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        BaseServer<?> server = transport.server(dir, (in, out) -> {
            inHandler.countDown();
            release.await();
            out.write(HELLO);
        }, Policy.THREADS.options());
        SocketAddress address = server.serverAddress();
        Serving s = Serving.start(server);
        try (Transport.Client inFlight = transport.client(server, dir)) {
            assertTrue(inHandler.await(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
            Thread closing = Thread.ofPlatform().start(s::close);
            Await.until("a new client to be refused during the grace period", () -> refused(address));
            assertTrue(closing.isAlive(), "still in the grace period, waiting for the request in flight");
            release.countDown();
            closing.join();
            assertEquals(CloseOutcome.GRACEFUL, s.outcome());
            assertArrayEquals(HELLO, inFlight.receive(), "the request in flight still gets its answer");
        }
    }

    /** Whether connecting to {@code address} fails at once (refused, or the socket file is gone). */
    @SuppressWarnings("try") // the connection is only opened
    static boolean refused(SocketAddress address) {
        try (SocketChannel c = SocketChannel.open(address)) {
            return false;
        } catch (java.net.SocketException refused) {
            return true;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aGroupClosesItsServersSideBySide(Transport transport) throws Exception {
        CountDownLatch running = new CountDownLatch(3);
        CountDownLatch release = new CountDownLatch(1);
        List<BaseServer<?>> servers = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            // a grace period far past the wait below: one after another, the second would still be listening
            servers.add(transport.server(Files.createTempDirectory(dir, "g"), (in, out) -> {
                running.countDown();
                release.await();
            }, Policy.THREADS.options().closeGracePeriod(Duration.ofMinutes(1))));
        }
        ServerGroup group = new ServerGroup(servers);
        Thread loop = Thread.ofPlatform().start(group::serveForever);
        List<Transport.Client> clients = new ArrayList<>();
        try {
            for (BaseServer<?> server : servers) {
                Transport.Client c = transport.client(server, dir);
                clients.add(c);
                c.send(HELLO);
            }
            assertTrue(running.await(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
            Thread closing = Thread.ofPlatform().start(group::close);
            Await.until("every server to stop listening while all three requests still run",
                    () -> servers.stream().noneMatch(server -> server.socket().isOpen()));
            assertEquals(3, servers.stream().mapToInt(BaseServer::activeRequests).sum(), "all three still in flight");
            release.countDown();
            closing.join();
            loop.join();
        } finally {
            release.countDown();
            for (Transport.Client c : clients) {
                c.close();
            }
        }
    }

    // ---- the bounded limit ----

    @ParameterizedTest
    @EnumSource(Transport.class)
    void boundedPolicyStopsAcceptingAtTheLimitAndResumesWhenOneEnds(Transport transport) throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger started = new AtomicInteger();
        var hooks = new Transport.Hooks();
        BaseServer<?> server = transport.server(dir, (in, out) -> {
            started.incrementAndGet();
            release.await();
            Transport.ECHO.run(in, out);
        }, ServerOptions.defaults().concurrency(Concurrency.bounded(2)).timeout(Duration.ofMillis(50)), hooks);
        List<Transport.Client> clients = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                Transport.Client c = transport.client(server, dir);
                clients.add(c);
                c.send(HELLO);
                c.finishSending();
            }
            server.handleRequest();
            server.handleRequest();
            Await.until("two requests started", () -> started.get() == 2);
            server.handleRequest(); // at the limit: waits its timeout without accepting
            assertEquals(2, hooks.accepted.get(), "the third request waits in the kernel, not accepted");
            assertEquals(2, server.activeRequests());
            try (Serving s = Serving.start(server)) {
                release.countDown();
                Await.until("the third request started", () -> started.get() == 3);
                for (Transport.Client c : clients) {
                    assertArrayEquals(HELLO, c.receive());
                }
            }
        } finally {
            release.countDown();
            for (Transport.Client c : clients) {
                c.close();
            }
            server.serverClose();
        }
    }

    // ---- read and write timeouts (streams: a datagram is read whole before the handler runs) ----

    @ParameterizedTest
    @EnumSource(value = Transport.class, names = {"TCP4", "TCP6", "UNIX_STREAM"})
    void aReadTimeoutEndsTheReadWithSocketTimeoutException(Transport transport) throws Exception {
        AtomicReference<Throwable> seen = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        java.util.function.Supplier<StreamRequestHandler> handler = () -> new StreamRequestHandler() {
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
        };
        SocketAddress address = transport.address(dir);
        BaseServer<?> server = transport == Transport.UNIX_STREAM
                ? new ThreadingUnixStreamServer((UnixDomainSocketAddress) address, handler)
                : new ThreadingTcpServer((InetSocketAddress) address, handler);
        try (Serving s = Serving.start(server); Transport.Client c = transport.client(server, dir)) {
            assertTrue(done.await(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
            assertTrue(seen.get() instanceof SocketTimeoutException, "got " + seen.get());
            assertTrue(seen.get().getMessage().contains("timed out"), seen.get().getMessage());
            if (transport == Transport.TCP4) {
                assertTrue(seen.get().getMessage().contains("127.0.0.1"), "names the client: "
                        + seen.get().getMessage());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Transport.class, names = {"TCP4", "TCP6", "UNIX_STREAM"})
    void aWriteThatMakesNoProgressTimesOut(Transport transport) throws Exception {
        assertWriteTimesOut(transport, dir, 0);
    }

    @Test
    void aWriteThatMakesNoProgressAfterTheConnectionSatIdleTimesOut() throws Exception {
        // the watchdog stops watching a connection with no deadline armed; the next write must bring it back.
        // The handler's pause is the scenario (a connection idle for longer than the watchdog's period), not a wait.
        assertWriteTimesOut(Transport.TCP4, dir, 700);
    }

    static void assertWriteTimesOut(Transport transport, Path dir, long idleMillisFirst) throws Exception {
        AtomicReference<Throwable> seen = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);
        BaseServer<?> server = transport.server(dir, (in, out) -> {
            try {
                out.write('x');
                out.flush();
                Thread.sleep(idleMillisFirst); // the scenario: the connection sits idle first
                byte[] chunk = new byte[1 << 20];
                for (int i = 0; i < 256; i++) { // far more than the socket buffers hold
                    out.write(chunk);
                }
            } catch (IOException e) {
                seen.set(e);
            }
            done.countDown();
        }, Policy.VIRTUAL_THREADS.options().writeTimeout(Duration.ofMillis(500)));
        try (Serving s = Serving.start(server); Transport.Client c = transport.client(server, dir)) {
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
