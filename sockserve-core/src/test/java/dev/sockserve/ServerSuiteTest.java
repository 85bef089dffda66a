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

    static Stream<Arguments> streamMatrix() {
        return matrix().filter(a -> ((Transport) a.get()[0]).stream());
    }

    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(5);
        }
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
    void rejectedRequestIsShutDownExactlyOnceAndNeverHandled(Transport transport, Policy policy) throws Exception {
        AtomicInteger handled = new AtomicInteger();
        var hooks = new Transport.Hooks() {
            @Override
            boolean verify(java.net.SocketAddress client) {
                return false;
            }
        };
        Transport.Body body = (in, out) -> handled.incrementAndGet();
        try (Serving s = Serving.start(transport.server(dir, body, policy.options(), hooks));
                Transport.Client c = transport.client(s.server, dir)) {
            c.sendMaybeEnded(HELLO);
            await("the request to be shut down", () -> hooks.shutdownRequests.get() > 0);
            if (transport.stream()) {
                assertTrue(c.endedWithoutReply(), "a rejected connection is closed without a reply");
            }
            Thread.sleep(100);
            assertEquals(1, hooks.shutdownRequests.get());
            assertEquals(0, handled.get());
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("matrix")
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
    @MethodSource("matrix")
    void handlerErrorEndsTheRequestAndLeavesServeForeverOnlyWhenSynchronous(Transport transport, Policy policy)
            throws Exception {
        AtomicInteger calls = new AtomicInteger();
        AtomicInteger finished = new AtomicInteger();
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
            finished.incrementAndGet();
        }
        assertEquals(1, finished.get());
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("streamMatrix")
    void wfileWritesSixteenMebibytesAndOneWhole(Transport transport, Policy policy) throws Exception {
        int size = 16 * 1024 * 1024 + 1;
        byte[] big = new byte[size];
        for (int i = 0; i < size; i++) {
            big[i] = (byte) (i * 31 + (i >>> 8));
        }
        try (Serving s = Serving.start(transport.server(dir, (in, out) -> out.write(big), policy.options()));
                Transport.Client c = transport.client(s.server, dir)) {
            assertArrayEquals(big, c.receive());
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("matrix")
    void finishedRequestsAreNotRetained(Transport transport, Policy policy) throws Exception {
        try (Serving s = Serving.start(transport.server(dir, Transport.ECHO, policy.options()))) {
            for (int i = 0; i < 10; i++) {
                assertArrayEquals(HELLO, transport.roundTrip(s.server, dir, HELLO));
            }
            await("no request in flight", () -> s.server.activeRequests() == 0);
            await("no request thread left", () -> Thread.getAllStackTraces().keySet().stream()
                    .noneMatch(t -> t.getName().startsWith("sockserve-") && t.getName().contains("-request")));
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
            assertTrue(server.requestHandlerFactory().get() instanceof BaseRequestHandler<?>);
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
        }
        assertFalse(kept.socket().isOpen());
        if (kept.serverAddress() instanceof UnixDomainSocketAddress unix) {
            assertFalse(Files.exists(unix.getPath()), "the socket file is removed");
        }
    }
}
