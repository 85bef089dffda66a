package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Descriptor exhaustion: a child JVM with a low open-file limit fills its descriptors while a client
 * waits; accept fails with EMFILE, the server logs it and pauses accepting instead of spinning, and it
 * serves the client once descriptors are free again.
 */
@ExtendWith(LeakCheck.class)
@Timeout(90)
class AcceptBackoffTest {

    /** The child: an echo server that fills its descriptors on request. */
    public static final class FullServer {
        public static void main(String[] args) throws Exception {
            // nothing logged before the descriptors run out: the server made what its first log line needs
            var server = new ThreadingTcpServer(new InetSocketAddress("127.0.0.1", 0),
                    StreamRequestHandler.of(h -> Transport.ECHO.run(h.rfile(), h.wfile())));
            DescriptorExhaustionTest.awaitSelecting(Thread.ofPlatform().daemon(true).start(server::serveForever));
            var in = new BufferedReader(new InputStreamReader(System.in, US_ASCII));
            System.out.println("PORT " + ((InetSocketAddress) server.serverAddress()).getPort());
            List<java.io.FileInputStream> hoard = new java.util.ArrayList<>();
            in.readLine(); // FILL
            try {
                while (true) {
                    hoard.add(new java.io.FileInputStream("/dev/null"));
                }
            } catch (java.io.IOException full) {
                System.out.println("FULL " + hoard.size() + " " + full.getMessage());
            }
            in.readLine(); // RELEASE
            for (var f : hoard) {
                f.close();
            }
            System.out.println("RELEASED");
            in.readLine(); // EXIT
            server.shutdown();
            server.serverClose();
        }
    }

    @Test
    void acceptBacksOffOnDescriptorExhaustionAndRecovers() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String classpath = Path.of("target/classes").toAbsolutePath() + ":" + Path.of("target/test-classes").toAbsolutePath();
        assertTrue(Files.isDirectory(Path.of("target/test-classes")), "run from the module folder");
        Process child = new ProcessBuilder("bash", "-c", "ulimit -n 128 && exec \"$0\" \"$@\"", java,
                "--enable-native-access=ALL-UNNAMED", "-cp", classpath, FullServer.class.getName()).start();
        List<String> log = new CopyOnWriteArrayList<>();
        Thread errors = Thread.ofPlatform().start(() -> new BufferedReader(new InputStreamReader(child.getErrorStream(),
                US_ASCII)).lines().forEach(log::add));
        try (var out = new BufferedReader(new InputStreamReader(child.getInputStream(), US_ASCII));
                var cmd = new PrintWriter(child.getOutputStream(), true)) {
            String portLine = out.readLine();
            assertTrue(portLine != null && portLine.startsWith("PORT "), "child said " + portLine + " " + log);
            int port = Integer.parseInt(portLine.substring(5));
            cmd.println("FILL");
            String full = out.readLine();
            assertTrue(full.startsWith("FULL"), full);
            try (SocketChannel client = SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
                client.write(ByteBuffer.wrap("hello world\n".getBytes(US_ASCII)));
                client.shutdownOutput();
                try {
                    ServerSuiteTest.await("the EMFILE warning", () -> log.stream().anyMatch(l -> l.contains("Too many open files")));
                } catch (AssertionError e) {
                    throw new AssertionError(e.getMessage() + "; the child logged:\n" + String.join("\n", log), e);
                }
                // over a 2.5 s pause the warnings stay few: one per pause, not one per turn of the accept loop
                assertFalse(Await.holdsWithin(Duration.ofMillis(2500),
                        () -> log.stream().filter(l -> l.contains("pausing accepts")).count() > 5),
                        "one warning per pause, not a spin:\n" + String.join("\n", log));
                long warnings = log.stream().filter(l -> l.contains("pausing accepts")).count();
                assertTrue(warnings >= 1 && warnings <= 5, "one warning per pause, not a spin: " + warnings + "\n" + String.join("\n", log));
                cmd.println("RELEASE");
                assertEquals("RELEASED", out.readLine());
                ByteBuffer reply = ByteBuffer.allocate(64);
                while (client.read(reply) >= 0) {
                    // until end of file
                }
                assertEquals("hello world\n", new String(reply.array(), 0, reply.position(), US_ASCII),
                        "the waiting client is served once descriptors are free");
            }
            cmd.println("EXIT");
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, child.exitValue(), String.join("\n", log));
        } finally {
            child.destroyForcibly().waitFor();
            errors.join();
        }
    }
}
