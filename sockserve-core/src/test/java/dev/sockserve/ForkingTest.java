package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The processes() policy: a child JVM per request, over every transport, and what it protects from. */
@ExtendWith(LeakCheck.class)
@Timeout(120)
class ForkingTest {

    static final InetSocketAddress LOOPBACK = new InetSocketAddress("127.0.0.1", 0);

    @TempDir
    Path dir;

    static String readLine(java.io.InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0 && b != '\n') {
            line.write(b);
        }
        return line.toString(US_ASCII);
    }

    /** Echoes a line, prefixed with the pid of the process that handled it. */
    public static final class PidEcho extends StreamRequestHandler {
        @Override
        protected void handle() throws IOException {
            wfile().write((ProcessHandle.current().pid() + " " + readLine(rfile()) + "\n").getBytes(US_ASCII));
        }
    }

    public static final class PidEchoDatagram extends DatagramRequestHandler {
        @Override
        protected void handle() throws IOException {
            String text = new String(packet(), US_ASCII).strip();
            wfile().write((ProcessHandle.current().pid() + " " + text + "\n").getBytes(US_ASCII));
        }
    }

    /** Misbehaves as the first word of its input says, then echoes like PidEcho. */
    public static final class Misbehaving extends StreamRequestHandler {
        @Override
        protected void handle() throws IOException {
            String line = readLine(rfile());
            switch (line) {
                case "exit" -> System.exit(3);
                case "throw" -> throw new IllegalStateException("handler failed in the child");
                case "error" -> throw new AssertionError("an Error in the child");
                case "oom" -> {
                    List<long[]> hog = new ArrayList<>();
                    while (true) {
                        hog.add(new long[1 << 20]);
                    }
                }
                case "hang" -> {
                    try {
                        new CountDownLatch(1).await(); // the scenario: a handler that hangs until it is ended
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                default -> wfile().write((ProcessHandle.current().pid() + " " + line + "\n").getBytes(US_ASCII));
            }
        }
    }

    static Stream<Arguments> transports() {
        return Stream.of(Transport.values()).map(Arguments::of);
    }

    static BaseServer<?> forking(Transport transport, Path dir, ServerOptions options) {
        SocketAddress address = transport.address(dir);
        return switch (transport) {
            case TCP4, TCP6 -> new ForkingTcpServer((InetSocketAddress) address, PidEcho.class, options);
            case UDP4, UDP6 -> new ForkingUdpServer((InetSocketAddress) address, PidEchoDatagram.class, options);
            case UNIX_STREAM -> new ForkingUnixStreamServer((java.net.UnixDomainSocketAddress) address, PidEcho.class,
                    options);
            case UNIX_DGRAM -> new ForkingUnixDatagramServer((java.net.UnixDomainSocketAddress) address,
                    PidEchoDatagram.class, options);
        };
    }

    static String ask(SocketChannel c, String line) throws IOException {
        c.write(ByteBuffer.wrap((line + "\n").getBytes(US_ASCII)));
        ByteBuffer reply = ByteBuffer.allocate(256);
        while (c.read(reply) >= 0) {
            // to end of file
        }
        return new String(reply.array(), 0, reply.position(), US_ASCII);
    }

    @ParameterizedTest
    @MethodSource("transports")
    void eachRequestRunsInItsOwnChildProcess(Transport transport) throws Exception {
        BaseServer<?> server = forking(transport, dir, ServerOptions.defaults());
        assertEquals(Concurrency.processes(ForkingTcpServer.DEFAULT_MAX_CHILDREN), server.concurrency());
        List<String> pids = new ArrayList<>();
        try (Serving s = Serving.start(server)) {
            for (int i = 0; i < 3; i++) {
                String reply = new String(transport.roundTrip(server, dir, ("hello world " + i + "\n").getBytes(US_ASCII)),
                        US_ASCII);
                assertTrue(reply.endsWith(" hello world " + i + "\n"), reply);
                pids.add(reply.substring(0, reply.indexOf(' ')));
            }
        }
        assertNotEquals(Long.toString(ProcessHandle.current().pid()), pids.get(0), "not handled in the server");
        assertEquals(3, pids.stream().distinct().count(), "a new child per request: " + pids);
    }

    @Test
    void aHandlerThatExitsThrowsOrRunsOutOfMemoryHarmsNeitherTheServerNorOtherClients() throws Exception {
        var server = new ForkingTcpServer(LOOPBACK, Misbehaving.class, ServerOptions.defaults()
                .concurrency(Concurrency.processes(8).childJvmOptions("-Xmx24m", "-XX:+ExitOnOutOfMemoryError",
                        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")));
        try (Serving s = Serving.start(server);
                SocketChannel patient = SocketChannel.open(server.serverAddress())) {
            // a client in the middle of its request while the others misbehave
            for (String bad : List.of("exit", "throw", "oom")) {
                try (SocketChannel c = SocketChannel.open(server.serverAddress())) {
                    assertEquals("", ask(c, bad), bad + ": the connection ends without a reply");
                }
            }
            String reply = ask(patient, "still here");
            assertTrue(reply.endsWith(" still here\n"), reply);
            try (SocketChannel c = SocketChannel.open(server.serverAddress())) {
                assertTrue(ask(c, "after").endsWith(" after\n"));
            }
            ServerSuiteTest.await("every child reaped", () -> server.activeRequests() == 0);
        }
    }

    @Test
    void atMaxChildrenTheServerStopsAccepting() throws Exception {
        var server = new ForkingTcpServer(LOOPBACK, Misbehaving.class,
                ServerOptions.defaults().concurrency(Concurrency.processes(2)));
        List<SocketChannel> clients = new ArrayList<>();
        try (Serving s = Serving.start(server)) {
            for (int i = 0; i < 3; i++) {
                clients.add(SocketChannel.open(server.serverAddress())); // each child waits for its line
            }
            ServerSuiteTest.await("two children", () -> server.activeRequests() == 2);
            assertFalse(Await.holdsWithin(Duration.ofMillis(500), () -> server.activeRequests() != 2),
                    "the third connection waits in the backlog");
            assertTrue(ask(clients.get(0), "one").endsWith(" one\n"));
            assertTrue(ask(clients.get(2), "three").endsWith(" three\n"), "accepted once a child ended");
            assertTrue(ask(clients.get(1), "two").endsWith(" two\n"));
        } finally {
            for (SocketChannel c : clients) {
                c.close();
            }
        }
    }

    @Test
    void closeEndsChildrenStillRunningAfterTheGracePeriod() throws Exception {
        var server = new ForkingTcpServer(LOOPBACK, Misbehaving.class,
                ServerOptions.defaults().closeGracePeriod(java.time.Duration.ofMillis(500)));
        Serving s = Serving.start(server);
        try (SocketChannel c = SocketChannel.open(server.serverAddress())) {
            c.write(ByteBuffer.wrap("hang\n".getBytes(US_ASCII)));
            ServerSuiteTest.await("the child", () -> ProcessHandle.current().children().count() == 1);
            s.close();
            assertEquals(CloseOutcome.FORCED, s.outcome());
            ServerSuiteTest.await("the child to be gone", () -> ProcessHandle.current().children().count() == 0);
        }
    }

    @Test
    void closeWaitsForARunningChildWhenItEndsInTime() throws Exception {
        var server = new ForkingTcpServer(LOOPBACK, Misbehaving.class);
        Serving s = Serving.start(server);
        try (SocketChannel c = SocketChannel.open(server.serverAddress())) {
            ServerSuiteTest.await("the child", () -> server.activeRequests() == 1);
            Thread answer = Thread.ofPlatform().start(() -> {
                try {
                    // the client answers once close has begun (the listener is closed, the drain waits)
                    Await.until("close to begin", server::isClosed);
                    c.write(ByteBuffer.wrap("late\n".getBytes(US_ASCII)));
                } catch (IOException | InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            s.close();
            answer.join();
            assertEquals(CloseOutcome.GRACEFUL, s.outcome());
            ByteBuffer reply = ByteBuffer.allocate(256);
            while (c.read(reply) >= 0) {
                // the child's answer, sent before close returned
            }
            assertTrue(new String(reply.array(), 0, reply.position(), US_ASCII).endsWith(" late\n"));
        }
    }

    /** Counts the handlers made in this JVM. */
    public static final class Counted extends StreamRequestHandler {
        static final java.util.concurrent.atomic.AtomicInteger MADE = new java.util.concurrent.atomic.AtomicInteger();

        public Counted() {
            MADE.incrementAndGet();
        }

        @Override
        protected void handle() throws IOException {
            wfile().write(("made here " + MADE.get() + "\n").getBytes(US_ASCII));
        }
    }

    @Test
    void theServerNeverMakesAHandlerItselfOnlyEachChildDoes() throws Exception {
        int before = Counted.MADE.get();
        var server = new ForkingTcpServer(LOOPBACK, Counted.class);
        try (Serving s = Serving.start(server);
                SocketChannel c = SocketChannel.open(server.serverAddress())) {
            assertEquals("made here 1\n", ask(c, "x"), "the child made one handler");
        }
        assertEquals(before, Counted.MADE.get(), "a handler was made in the server");
    }

    static final class NotPublic extends StreamRequestHandler {
        @Override
        protected void handle() {
        }
    }

    @Test
    void aHandlerClassTheChildCannotMakeIsRefusedWithAReason() {
        var e = assertThrows(IllegalArgumentException.class, () -> new ForkingTcpServer(LOOPBACK, NotPublic.class));
        assertTrue(e.getMessage().contains("public no-argument constructor"), e.getMessage());
    }

    @Test
    void aFactoryWithTheProcessesPolicyIsRefusedNamingTheClassTakingConstructor() {
        var e = assertThrows(IllegalArgumentException.class, () -> new TcpServer(LOOPBACK, PidEcho::new,
                ServerOptions.defaults().concurrency(Concurrency.processes(2))));
        assertTrue(e.getMessage().contains("new ForkingTcpServer(address, MyHandler.class"), e.getMessage());
    }

    /**
     * A Forking server with {@link Misbehaving} handlers in a JVM of its own, so that a test can read what it
     * and its children log on standard error: prints {@code PORT n}, stops at the first line on standard input.
     */
    public static final class ChildServer {
        public static void main(String[] args) throws Exception {
            var server = new ForkingTcpServer(LOOPBACK, Misbehaving.class);
            Thread loop = Thread.ofPlatform().start(server::serveForever);
            System.out.println("PORT " + ((InetSocketAddress) server.serverAddress()).getPort());
            new java.io.BufferedReader(new java.io.InputStreamReader(System.in, US_ASCII)).readLine();
            server.shutdown();
            loop.join();
            server.serverClose();
        }
    }

    @Test
    void anExceptionInTheChildGoesToHandleErrorThereAndTheParentTellsAnErrorByTheExitStatus() throws Exception {
        Path err = dir.resolve("stderr");
        String javaCommand = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String classpath = Path.of("target/classes").toAbsolutePath() + ":" + Path.of("target/test-classes").toAbsolutePath();
        Process p = new ProcessBuilder(javaCommand, "--enable-native-access=ALL-UNNAMED", "--add-opens",
                "java.base/sun.nio.ch=ALL-UNNAMED", "-cp", classpath, ChildServer.class.getName())
                .redirectError(err.toFile()).start();
        try {
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), US_ASCII));
            String line = out.readLine();
            assertTrue(line != null && line.startsWith("PORT "), "the server said " + line);
            var address = new InetSocketAddress("127.0.0.1", Integer.parseInt(line.substring(5)));
            for (String bad : List.of("throw", "error")) {
                try (SocketChannel c = SocketChannel.open(address)) {
                    assertEquals("", ask(c, bad));
                }
            }
            try (SocketChannel c = SocketChannel.open(address)) {
                assertTrue(ask(c, "after").endsWith(" after\n")); // served after both
            }
            ServerSuiteTest.await("the parent's word on the Error",
                    () -> readQuietly(err).contains("the handler threw an Error (exit 2)"));
            String log = readQuietly(err);
            // handleError's own line, logged by the child: the client's address and the exception
            assertTrue(log.matches("(?s).*error while handling a request from 127\\.0\\.0\\.1:\\d+ on tcp 127\\.0\\.0\\.1:\\d+.*"
                    + "IllegalStateException: handler failed in the child.*"), log);
            assertTrue(log.contains("AssertionError: an Error in the child"), log);
            assertEquals(1, log.split("child \\d+ for ", -1).length - 1, "only the Error is the parent's warning: " + log);
        } finally {
            p.getOutputStream().write('\n');
            p.getOutputStream().flush();
            if (!p.waitFor(20, java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
            }
        }
    }

    private static String readQuietly(Path file) {
        try {
            return java.nio.file.Files.readString(file);
        } catch (IOException e) {
            return "";
        }
    }

    @Test
    void anOversizeDatagramReplyIsCutToTheMaximumPacketSize() throws Exception {
        var server = new ForkingUdpServer(LOOPBACK, Chatty.class, ServerOptions.defaults().maxPacketSize(100));
        try (Serving s = Serving.start(server); var client = new java.net.DatagramSocket()) {
            client.setSoTimeout(20_000);
            client.send(new java.net.DatagramPacket("hi".getBytes(US_ASCII), 2, server.serverAddress()));
            java.net.DatagramPacket reply = new java.net.DatagramPacket(new byte[1000], 1000);
            client.receive(reply);
            assertEquals("x".repeat(100), new String(reply.getData(), 0, reply.getLength(), US_ASCII),
                    "cut to maxPacketSize, not dropped");
        }
    }

    /** Replies with more than any maxPacketSize a test sets. */
    public static final class Chatty extends DatagramRequestHandler {
        @Override
        protected void handle() throws IOException {
            wfile().write("x".repeat(5000).getBytes(US_ASCII));
        }
    }
}
