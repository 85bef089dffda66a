package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real HAProxy for the tests, on a loopback port bound to 0: python3 binds it and hands it over as
 * descriptor 3, so the configuration's frontend says {@code bind fd@3}. The test kit's one launcher, for the
 * core's PROXY protocol tests and the command's rolling restart.
 */
public record HaProxy(Process process, int port) implements AutoCloseable {

    /** Writes {@code config} (its lines) to {@code file} and starts HAProxy on it; returns once it is bound. */
    public static HaProxy start(Path file, List<String> config) throws Exception {
        Files.writeString(file, String.join("\n", config) + "\n");
        String launcher = String.join("\n", "import os, socket, sys",
                "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(128)",
                "os.dup2(s.fileno(), 3); os.set_inheritable(3, True)",
                "print(s.getsockname()[1], flush=True)",
                "os.execvp('haproxy', ['haproxy', '-db', '-f', sys.argv[1]])");
        Process p = new ProcessBuilder("python3", "-c", launcher, file.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String port = new BufferedReader(new InputStreamReader(p.getInputStream(), US_ASCII)).readLine();
        assertTrue(port != null && port.matches("\\d+"), "haproxy's port: " + port);
        return new HaProxy(p, Integer.parseInt(port));
    }

    @Override
    public void close() throws Exception {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
        }
    }
}
