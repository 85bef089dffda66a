package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.util.ArrayList;
import java.util.List;
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
                case "oom" -> {
                    List<long[]> hog = new ArrayList<>();
                    while (true) {
                        hog.add(new long[1 << 20]);
                    }
                }
                case "hang" -> {
                    try {
                        Thread.sleep(60_000);
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
            case TCP4, TCP6 -> new ForkingTcpServer((InetSocketAddress) address, PidEcho::new, options);
            case UDP4, UDP6 -> new ForkingUdpServer((InetSocketAddress) address, PidEchoDatagram::new, options);
            case UNIX_STREAM -> new ForkingUnixStreamServer((java.net.UnixDomainSocketAddress) address, PidEcho::new,
                    options);
            case UNIX_DGRAM -> new ForkingUnixDatagramServer((java.net.UnixDomainSocketAddress) address,
                    PidEchoDatagram::new, options);
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
        var server = new ForkingTcpServer(LOOPBACK, Misbehaving::new, ServerOptions.defaults()
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
        var server = new ForkingTcpServer(LOOPBACK, Misbehaving::new,
                ServerOptions.defaults().concurrency(Concurrency.processes(2)));
        List<SocketChannel> clients = new ArrayList<>();
        try (Serving s = Serving.start(server)) {
            for (int i = 0; i < 3; i++) {
                clients.add(SocketChannel.open(server.serverAddress())); // each child waits for its line
            }
            ServerSuiteTest.await("two children", () -> server.activeRequests() == 2);
            Thread.sleep(500);
            assertEquals(2, server.activeRequests(), "the third connection waits in the backlog");
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
        var server = new ForkingTcpServer(LOOPBACK, Misbehaving::new,
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
        var server = new ForkingTcpServer(LOOPBACK, Misbehaving::new);
        Serving s = Serving.start(server);
        try (SocketChannel c = SocketChannel.open(server.serverAddress())) {
            ServerSuiteTest.await("the child", () -> server.activeRequests() == 1);
            Thread answer = Thread.ofPlatform().start(() -> {
                try {
                    Thread.sleep(300);
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

    @Test
    void aLambdaHandlerIsRefusedWithAReason() {
        var e = assertThrows(IllegalArgumentException.class, () -> new ForkingTcpServer(LOOPBACK,
                StreamRequestHandler.of(h -> { })));
        assertTrue(e.getMessage().contains("public no-argument constructor"), e.getMessage());
    }
}
