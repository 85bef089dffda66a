package dev.sockserve.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Where the C library cannot be called (native access denied, another platform), every entry point of
 * the native layer fails with an exception naming the cause, every time: never an
 * {@link ExceptionInInitializerError} followed by {@link NoClassDefFoundError}s. Each case runs in a JVM
 * of its own, since the native layer decides once per JVM.
 */
@Timeout(60)
class NativeUnavailableTest {

    /** Tries each entry point twice and prints what it threw, one line each. */
    public static final class Probe {
        public static void main(String[] args) {
            List<Runnable> calls = List.of(
                    () -> {
                        try {
                            UnixDatagramSocket.open().close();
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    },
                    () -> {
                        try {
                            UnixDatagramSocket.isLive(Path.of("/nonexistent.sock"));
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    },
                    ChildProcesses::requireSupported,
                    () -> Posix.kill(1, 0));
            for (int round = 0; round < 2; round++) {
                for (Runnable call : calls) {
                    try {
                        call.run();
                        System.out.println("no exception");
                    } catch (Throwable t) {
                        System.out.println(t.getClass().getName() + ": " + t.getMessage());
                    }
                }
            }
        }
    }

    private static List<String> probe(String... jvmOptions) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(List.of(jvmOptions));
        command.addAll(List.of("--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED", "-cp",
                Path.of("target/classes").toAbsolutePath() + ":" + Path.of("target/test-classes").toAbsolutePath(),
                Probe.class.getName()));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out.lines().filter(l -> !l.startsWith("WARNING")).toList();
    }

    @Test
    void deniedNativeAccessNamesTheFlagOnEveryCall() throws Exception {
        List<String> lines = probe("--illegal-native-access=deny");
        assertEquals(8, lines.size(), String.join("\n", lines));
        for (String line : lines) {
            assertTrue(line.startsWith("java.lang.IllegalCallerException: ") && line.contains("denies it native access")
                    && line.contains("--enable-native-access=dev.sockserve"), line);
        }
    }

    @Test
    void anotherPlatformIsNamedOnEveryCall() throws Exception {
        List<String> lines = probe("--enable-native-access=ALL-UNNAMED", "-Dos.name=Plan9");
        assertEquals(8, lines.size(), String.join("\n", lines));
        for (String line : lines) {
            assertTrue(line.startsWith("java.lang.UnsupportedOperationException: ")
                    && line.contains("Linux on x86_64 and aarch64 only, not Plan9"), line);
        }
    }
}
