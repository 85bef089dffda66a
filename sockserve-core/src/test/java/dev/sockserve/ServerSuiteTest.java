package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The behavioural suite, written once and run over every transport x concurrency policy (the way
 * Netty's testsuite and Jetty's transport matrix do). It covers what CPython's test_socketserver.py
 * covers, and the fixes the spec names.
 *
 * <p>Which rows each test gets:
 * <ul>
 * <li>{@link #matrix()}, every transport under every policy including {@link Policy#PROCESSES}: the tests
 * whose handler is a {@link Transport.ForkableBody} (echo, the 16 MiB writer) or never runs: echoing to three
 * clients, a refused request, finished requests not retained, twenty quick shutdowns, the socket's
 * description, closing with no request, try-with-resources.</li>
 * <li>{@link #inProcessMatrix()}, every policy but processes(): the tests whose handler shares state with
 * the test or whose outcome is seen in this JVM (a handler's exception reaching {@code handleError}, an
 * {@link Error} leaving {@code serveForever}). A child JVM's failure is covered by {@code ForkingTest}.</li>
 * <li>{@link #streamMatrix()}: the stream transports under every policy (the 16 MiB write).</li>
 * </ul>
 * The lifecycle (shutdown, close with grace, the bounded limit, timeouts) runs per transport in
 * {@code LifecycleTest}.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class ServerSuiteTest {

    static final byte[] HELLO = "hello world\n".getBytes(US_ASCII);

    @TempDir
    Path dir;

    static Stream<Arguments> matrix() {
        List<Arguments> all = new ArrayList<>();
        for (Transport t : Transport.values()) {
            for (Policy p : Policy.values()) {
                all.add(Arguments.of(t, p));
            }
        }
        return all.stream();
    }

    static Stream<Arguments> inProcessMatrix() {
        return matrix().filter(a -> ((Policy) a.get()[1]).inProcess());
    }

    static Stream<Arguments> streamMatrix() {
        return matrix().filter(a -> ((Transport) a.get()[0]).stream());
    }

    /** Kept for the tests that call it: see {@link Await#until}. */
    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        Await.until(what, condition);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("matrix")
    void echoesHelloWorldToThreeClients(Transport transport, Policy policy) throws Exception {
        try (Serving s = Serving.start(transport.server(dir, Transport.ECHO, policy.options()))) {
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(HELLO, transport.roundTrip(s.server, dir, HELLO));
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("matrix")
    void refusedRequestsAreShutDownAndNeverHandled(Transport transport, Policy policy) throws Exception {
        var hooks = new Transport.Hooks() {
            @Override
            public boolean verify(java.net.SocketAddress client) {
                return false;
            }
        };
        try (Serving s = Serving.start(transport.server(dir, Transport.ECHO, policy.options(), hooks))) {
            for (int i = 1; i <= 2; i++) {
                try (Transport.Client c = transport.client(s.server, dir)) {
                    c.sendMaybeEnded(HELLO);
                    int ended = i;
                    await("the request to be shut down", () -> hooks.shutdownRequests.get() == ended);
                    if (transport.stream()) {
                        assertTrue(c.endedWithoutReply(), "a refused connection is closed without a reply");
                    }
                }
            }
            assertEquals(2, hooks.refused.get());
            assertEquals(2, s.server.refusedRequests());
            assertEquals(2, hooks.endedBy(RequestEnd.Reason.REFUSED), "both ended as refused: " + hooks.endedBy);
            assertEquals(0, hooks.verified.get(), "no handler was started");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("inProcessMatrix")
    void handlerExceptionGoesToHandleErrorAndServingGoesOn(Transport transport, Policy policy) throws Exception {
        AtomicInteger calls = new AtomicInteger();
        Transport.Body body = (in, out) -> {
            if (calls.incrementAndGet() == 1) {
                throw new IllegalStateException("boom in handle");
            }
            Transport.ECHO.run(in, out);
        };
        var hooks = new Transport.Hooks();
        try (Serving s = Serving.start(transport.server(dir, body, policy.options(), hooks))) {
            try (Transport.Client c = transport.client(s.server, dir)) {
                c.sendMaybeEnded(HELLO);
                if (transport.stream()) {
                    assertTrue(c.endedWithoutReply());
                }
                await("handleError", () -> hooks.handledErrors.get() == 1);
            }
            assertArrayEquals(HELLO, transport.roundTrip(s.server, dir, HELLO));
            assertInstanceOf(IllegalStateException.class, hooks.lastError);
            assertEquals("boom in handle", hooks.lastError.getMessage());
            await("both requests shut down", () -> hooks.shutdownRequests.get() == 2);
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("inProcessMatrix")
    void handlerErrorEndsTheRequestAndLeavesServeForeverOnlyWhenSynchronous(Transport transport, Policy policy)
            throws Exception {
        AtomicInteger calls = new AtomicInteger();
        var hooks = new Transport.Hooks();
        var server = transport.server(dir, (in, out) -> {
            if (calls.incrementAndGet() == 1) {
                throw new Error("unhandled: like SystemExit");
            }
            Transport.ECHO.run(in, out);
        }, policy.options(), hooks);
        try (Serving s = Serving.start(server)) {
            try (Transport.Client c = transport.client(server, dir)) {
                c.sendMaybeEnded(HELLO);
                await("shutdownRequest", () -> hooks.shutdownRequests.get() == 1);
                if (transport.stream()) {
                    assertTrue(c.endedWithoutReply(), "the connection was shut down");
                }
            }
            if (policy == Policy.SYNCHRONOUS) {
                s.thread.join(10_000);
                assertFalse(s.thread.isAlive(), "serveForever returned");
                assertEquals("unhandled: like SystemExit", s.failure.get().getMessage());
            } else {
                assertArrayEquals(HELLO, transport.roundTrip(server, dir, HELLO), "the server keeps serving");
                assertNull(s.failure.get());
            }
            assertEquals(0, hooks.handledErrors.get(), "handleError is not called for an Error");
            assertEquals(1, hooks.endedBy(RequestEnd.Reason.FAILED), "the failed request ended as failed");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("streamMatrix")
    void wfileWritesSixteenMebibytesAndOneWhole(Transport transport, Policy policy) throws Exception {
        try (Serving s = Serving.start(transport.server(dir, BIG, policy.options()));
                Transport.Client c = transport.client(s.server, dir)) {
            assertArrayEquals(BigWrite.bytes(), c.receive());
        }
    }

    /** Writes 16 MiB and one byte of a fixed pattern; a class, so that a child JVM can run it. */
    public static final class BigWrite extends StreamRequestHandler {
        static byte[] bytes() {
            int size = 16 * 1024 * 1024 + 1;
            byte[] big = new byte[size];
            for (int i = 0; i < size; i++) {
                big[i] = (byte) (i * 31 + (i >>> 8));
            }
            return big;
        }

        @Override
        protected void handle() throws java.io.IOException {
            wfile().write(bytes());
        }
    }

    static final Transport.ForkableBody BIG = new Transport.ForkableBody() {
        @Override
        public void run(java.io.InputStream in, java.io.OutputStream out) throws java.io.IOException {
            out.write(BigWrite.bytes());
        }

        @Override
        public Class<? extends StreamRequestHandler> streamHandler() {
            return BigWrite.class;
        }

        @Override
        public Class<? extends DatagramRequestHandler> datagramHandler() {
            throw new UnsupportedOperationException("16 MiB is no datagram");
        }
    };

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("matrix")
    void finishedRequestsAreNotRetained(Transport transport, Policy policy) throws Exception {
        try (Serving s = Serving.start(transport.server(dir, Transport.ECHO, policy.options()))) {
            List<Long> childrenBefore = ProcessHandle.current().children().map(ProcessHandle::pid).toList();
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(HELLO, transport.roundTrip(s.server, dir, HELLO));
            }
            await("no request in flight", () -> s.server.activeRequests() == 0);
            // the thread dump lists virtual threads too, which Thread.getAllStackTraces() does not
            String requestThreads = s.server.threadName("request");
            await("no request thread left", () -> LeakCheck.take().threads().keySet().stream()
                    .noneMatch(name -> name.startsWith(requestThreads)));
            await("no child process left", () -> ProcessHandle.current().children()
                    .allMatch(child -> childrenBefore.contains(child.pid())));
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("matrix")
    void twentyServersShutDownRightAfterTheirLoopsStart(Transport transport, Policy policy) throws Exception {
        for (int i = 0; i < 20; i++) {
            Path sub = Files.createDirectory(dir.resolve("s" + i));
            BaseServer<?> server = transport.server(sub, Transport.ECHO, policy.options());
            Thread loop = Thread.ofPlatform().start(server::serveForever);
            server.shutdown();
            loop.join(10_000);
            assertFalse(loop.isAlive(), "serveForever returned after shutdown()");
            assertEquals(CloseOutcome.GRACEFUL, server.serverClose());
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("matrix")
    void describesItsSocket(Transport transport, Policy policy) {
        try (BaseServer<?> server = transport.server(dir, Transport.ECHO, policy.options())) {
            assertEquals(transport.stream() ? SocketType.STREAM : SocketType.DATAGRAM, server.socketType());
            assertEquals(switch (transport) {
                case TCP4, UDP4 -> java.net.StandardProtocolFamily.INET;
                case TCP6, UDP6 -> java.net.StandardProtocolFamily.INET6;
                case UNIX_STREAM, UNIX_DGRAM -> java.net.StandardProtocolFamily.UNIX;
            }, server.addressFamily());
            assertEquals(transport != Transport.UNIX_DGRAM, server.channel().isPresent(),
                    "every transport but Unix datagram has a selectable channel");
            if (server.serverAddress() instanceof java.net.InetSocketAddress inet) {
                assertTrue(inet.getPort() > 0, "port 0 resolved to the real port");
            }
            assertEquals(policy.concurrency, server.concurrency());
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("matrix")
    void closesWithNoRequestEverHandled(Transport transport, Policy policy) {
        BaseServer<?> server = transport.server(dir, Transport.ECHO, policy.options());
        assertTrue(server.socket().isOpen());
        assertEquals(CloseOutcome.GRACEFUL, server.serverClose());
        assertFalse(server.socket().isOpen());
        assertEquals(CloseOutcome.GRACEFUL, server.serverClose(), "serverClose is idempotent");
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("matrix")
    void tryWithResourcesClosesTheServer(Transport transport, Policy policy) throws Exception {
        BaseServer<?> kept;
        try (BaseServer<?> server = transport.server(dir, Transport.ECHO, policy.options())) {
            kept = server;
            Thread loop = Thread.ofPlatform().start(server::serveForever);
            assertArrayEquals(HELLO, transport.roundTrip(server, dir, HELLO));
            server.shutdown();
            loop.join();
            assertTrue(server.socket().isOpen(), "open until the block ends");
        }
        assertFalse(kept.socket().isOpen());
        if (kept.serverAddress() instanceof UnixDomainSocketAddress unix) {
            assertFalse(Files.exists(unix.getPath()), "the socket file is removed");
        }
    }
}
