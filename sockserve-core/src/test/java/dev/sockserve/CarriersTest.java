package dev.sockserve;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A JVM started with fewer virtual-thread carriers than the JDK's read pollers can starve connections
 * under load; a threaded server started in one says so once, with the setting that fixes it.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class CarriersTest {

    /** Starts a virtual-thread server, serves one echo, closes it: what a user's program does. */
    public static final class EchoOnce {
        public static void main(String[] args) throws Exception {
            var server = new ThreadingTcpServer(new InetSocketAddress("127.0.0.1", 0),
                    StreamRequestHandler.of(h -> h.rfile().transferTo(h.wfile())));
            Thread loop = Thread.ofPlatform().start(server::serveForever);
            try (var c = SocketChannel.open(server.serverAddress())) {
                c.write(java.nio.ByteBuffer.wrap(new byte[] {7}));
                c.shutdownOutput();
                var reply = java.nio.ByteBuffer.allocate(1);
                c.read(reply);
                System.out.println("ECHOED " + reply.get(0));
            }
            server.shutdown();
            loop.join();
            server.serverClose();
        }
    }

    private static List<String> run(String... jvmOptions) throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        assertTrue(Files.isDirectory(Path.of("target/test-classes")), "run from the module folder");
        String classpath = Path.of("target/classes").toAbsolutePath() + ":" + Path.of("target/test-classes").toAbsolutePath();
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
        command.addAll(List.of(jvmOptions));
        command.addAll(List.of("-cp", classpath, EchoOnce.class.getName()));
        Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            String output = new String(child.getInputStream().readAllBytes(), UTF_8);
            assertTrue(child.waitFor(30, TimeUnit.SECONDS), output);
            assertEquals(0, child.exitValue(), output);
            assertTrue(output.contains("ECHOED 7"), "the server worked either way: " + output);
            return output.lines().toList();
        } finally {
            child.destroyForcibly().waitFor();
        }
    }

    @Test
    void moreReadPollersThanCarriersIsWarnedAboutWithTheFix() throws Exception {
        List<String> out = run("-Djdk.virtualThreadScheduler.parallelism=1", "-Djdk.readPollers=2", "-Djdk.pollerMode=2");
        String all = String.join("\n", out);
        assertEquals(1, out.stream().filter(l -> l.contains("read pollers (jdk.readPollers)")).count(), all);
        assertTrue(all.contains("WARNING"), all);
        assertTrue(all.contains("2 read pollers") && all.contains("on 1 virtual-thread carriers"), all);
        assertTrue(all.contains("-Djdk.readPollers=1"), "names the fix: " + all);
    }

    @Test
    void pollersMatchingTheCarriersOrPlatformPollersAreNotWarnedAbout() throws Exception {
        for (String[] options : List.of(
                new String[] {"-Djdk.virtualThreadScheduler.parallelism=1", "-Djdk.readPollers=1", "-Djdk.pollerMode=2"},
                new String[] {"-Djdk.virtualThreadScheduler.parallelism=2", "-Djdk.readPollers=2", "-Djdk.pollerMode=2"},
                new String[] {"-Djdk.virtualThreadScheduler.parallelism=1", "-Djdk.readPollers=2", "-Djdk.pollerMode=1"})) {
            String all = String.join("\n", run(options));
            assertFalse(all.contains("jdk.readPollers"), String.join(" ", options) + ": " + all);
        }
    }
}
