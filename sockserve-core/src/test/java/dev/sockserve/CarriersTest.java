package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.Socket;
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

    /** Runs an echo server with these options, serves one echo, stops it: the lines it wrote to standard error. */
    private static List<String> run(String... jvmOptions) throws Exception {
        Process child = ChildEchoServer.start(jvmOptions);
        try (var out = new BufferedReader(new InputStreamReader(child.getInputStream(), US_ASCII));
                var cmd = new PrintWriter(child.getOutputStream(), true)) {
            try (Socket client = new Socket("127.0.0.1", ChildEchoServer.port(out))) {
                client.setSoTimeout(10_000);
                client.getOutputStream().write(7);
                assertArrayEquals(new byte[] {7}, client.getInputStream().readNBytes(1), "the server worked either way");
            }
            cmd.println("STOP");
            String errors = new String(child.getErrorStream().readAllBytes(), UTF_8);
            assertTrue(child.waitFor(30, TimeUnit.SECONDS), errors);
            assertEquals(0, child.exitValue(), errors);
            return errors.lines().toList();
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
