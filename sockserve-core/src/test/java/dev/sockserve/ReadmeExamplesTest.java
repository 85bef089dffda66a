package dev.sockserve;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Compiles every Java block of the README's "Coming from Python's socketserver" section against the
 * library and runs it in its own JVM, so the examples a newcomer copies do work.
 */
@ExtendWith(LeakCheck.class)
@Timeout(120)
class ReadmeExamplesTest {

    /** What each example must print (Python's examples print the same). */
    static final Map<String, List<String>> EXPECTED = Map.of(
            "TcpServerExample", List.of("Received: HELLO WORLD", "hello world"),
            "StreamHandlerExample", List.of("Received: HELLO WORLD", " wrote:"),
            "UdpServerExample", List.of("Received: HELLO WORLD", " wrote:"),
            "ThreadedServerExample", List.of("Received: virtual thread: Hello World 1",
                    "Received: virtual thread: Hello World 2", "Received: virtual thread: Hello World 3",
                    "Server loop running in thread: "));

    @TempDir
    Path dir;

    @Test
    void everyPythonExampleInTheReadmeCompilesAndRuns() throws Exception {
        String readme = Files.readString(Path.of("../README.md"));
        int start = readme.indexOf("## Coming from Python's socketserver");
        int end = readme.indexOf("\n## ", start + 5);
        assertTrue(start >= 0 && end > start, "the README has the section");
        Matcher block = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL).matcher(readme.substring(start, end));
        List<String> names = new ArrayList<>();
        while (block.find()) {
            Matcher name = Pattern.compile("public class (\\w+)").matcher(block.group(1));
            assertTrue(name.find(), "each example is a whole class");
            names.add(name.group(1));
            Files.writeString(dir.resolve(name.group(1) + ".java"), block.group(1));
        }
        assertEquals(EXPECTED.keySet(), java.util.Set.copyOf(names), "the examples the test knows");
        String classes = Path.of("target/classes").toAbsolutePath().toString();
        String javac = Path.of(System.getProperty("java.home"), "bin", "javac").toString();
        List<String> args = new ArrayList<>(List.of(javac, "-d", dir.toString(), "-cp", classes));
        names.forEach(n -> args.add(dir.resolve(n + ".java").toString()));
        Process compile = new ProcessBuilder(args).redirectErrorStream(true).start();
        String errors = new String(compile.getInputStream().readAllBytes(), UTF_8);
        assertTrue(compile.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, compile.exitValue(), "the README examples compile:\n" + errors);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        for (String name : names) {
            Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                    dir + ":" + classes, name).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), name + " ended");
            assertEquals(0, p.exitValue(), name + " printed:\n" + out);
            for (String expected : EXPECTED.get(name)) {
                assertTrue(out.contains(expected), name + " printed:\n" + out + "\nwithout: " + expected);
            }
        }
    }
}
