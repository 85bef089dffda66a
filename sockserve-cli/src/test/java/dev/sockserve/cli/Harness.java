package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

import dev.sockserve.Await;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * What the command's tests share: a server in this JVM or in a child JVM, a python3 client. The leak check
 * and the waits come from the core's test kit ({@link dev.sockserve.LeakCheck}, {@link dev.sockserve.Await}).
 */
final class Harness {

    private Harness() {
    }

    // ---- the server ----

    /** The command run in this JVM: serving on a platform thread until closed. */
    static final class InProcess implements AutoCloseable {
        final Serving serving;
        final ByteArrayOutputStream log;

        InProcess(Serving serving, ByteArrayOutputStream log) {
            this.serving = serving;
            this.log = log;
        }

        String address(int i) {
            return serving.boundAddresses().get(i);
        }

        @Override
        public void close() {
            serving.close();
        }
    }

    static InProcess start(String... args) {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(log, true, StandardCharsets.UTF_8);
        Sockserve.Parsed parsed = Sockserve.parse(args, err, err);
        assertNotNull(parsed.starter(), () -> "refused: " + log);
        int[] code = {0};
        Serving serving = Sockserve.start(parsed, err, code);
        assertNotNull(serving, () -> "did not start: " + log);
        Thread.ofPlatform().name("test-serve").start(() -> {
            try {
                serving.serve();
            } catch (IllegalStateException closedFirst) {
                // a test that closes at once can close before this thread serves; close() ended it all itself
            }
        });
        return new InProcess(serving, log);
    }

    /** Runs the command in this JVM expecting a refusal; returns the exit code and the message. */
    record Refusal(int exitCode, String message) {
    }

    static Refusal refuse(String... args) {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(log, true, StandardCharsets.UTF_8);
        Sockserve.Parsed parsed = Sockserve.parse(args, err, err);
        if (parsed.starter() == null) {
            return new Refusal(parsed.exitCode(), log.toString(StandardCharsets.UTF_8));
        }
        int[] code = {0};
        Serving serving = Sockserve.start(parsed, err, code);
        if (serving != null) {
            serving.close();
            fail("started, but should have been refused: " + String.join(" ", args));
        }
        return new Refusal(code[0], log.toString(StandardCharsets.UTF_8));
    }

    /** The command as a real process, started the way the ./sockserve launcher starts it. */
    static ProcessBuilder childJvm(List<String> args) {
        List<String> command = new ArrayList<>(List.of(
                // a build run in the background (nohup, a CI runner) may start us with SIGINT ignored, which a
                // JVM cannot undo; the command's users start it from a shell with the default disposition
                "python3", "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                        + "os.execv(sys.argv[1], sys.argv[1:])",
                ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=dev.sockserve,org.conscrypt", "--add-opens", "java.base/sun.nio.ch=dev.sockserve",
                "-p", System.getProperty("jdk.module.path"), "-m", "dev.sockserve.cli/" + Sockserve.class.getName()));
        command.addAll(args);
        return new ProcessBuilder(command);
    }

    /**
     * A port that was free a moment ago. Racy (another process may take it before the command binds it):
     * the tests bind port 0 and read the bound address instead ({@link #startChild}); only outside programs
     * that need a port chosen in advance (tcpserver, systemd-socket-activate) use this.
     */
    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** The command as a child JVM, with what it printed until it said where it serves. */
    record Child(Process process, List<String> boundAddresses) {
        /** The port of the {@code i}th listener. */
        int port(int i) {
            String bound = boundAddresses.get(i);
            return Integer.parseInt(bound.substring(bound.lastIndexOf(':') + 1));
        }
    }

    /**
     * Starts the command as a child JVM with {@code -v} and waits for its "serving ADDRESS, ..." line, so its
     * listeners can bind port 0; the rest of its standard error is copied to ours.
     */
    static Child startChild(List<String> args) throws Exception {
        return startChild(args, Map.of());
    }

    /** Like {@link #startChild(List)}, with {@code environment} added to the command's environment. */
    static Child startChild(List<String> args, Map<String, String> environment) throws Exception {
        List<String> verbose = new ArrayList<>(args);
        verbose.add(1, "-v");
        ProcessBuilder builder = childJvm(verbose);
        builder.environment().putAll(environment);
        Process process = builder.start();
        var err = new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8));
        CompletableFuture<List<String>> serving = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                for (String line; (line = err.readLine()) != null;) {
                    System.err.println(line);
                    if (!serving.isDone() && line.startsWith("sockserve: serving ")) {
                        serving.complete(List.of(line.substring("sockserve: serving ".length()).split(", ")));
                    }
                }
            } catch (IOException ended) {
                // the process is gone
            }
            serving.completeExceptionally(new AssertionError("the command ended without serving"));
        });
        try {
            return new Child(process, serving.get(Await.DEADLINE.toSeconds(), TimeUnit.SECONDS));
        } catch (ExecutionException | TimeoutException e) {
            process.destroyForcibly().waitFor();
            throw new AssertionError("the command did not say where it serves", e);
        }
    }

    // ---- the client: python3's socket module ----

    static final String CLIENT = """
            import os, socket, sys, tempfile, time
            kind, address, payload, mode, limit = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), sys.argv[4], int(sys.argv[5])
            if kind in ('tcp', 'udp'):
                host, port = address.rsplit(':', 1)
                host = host.strip('[]')
                family = socket.AF_INET6 if ':' in host else socket.AF_INET
                target = (host, int(port))
            else:
                family, target = socket.AF_UNIX, address
            stream = kind in ('tcp', 'unix')
            s = socket.socket(family, socket.SOCK_STREAM if stream else socket.SOCK_DGRAM)
            s.settimeout(10)
            if stream:
                s.connect(target)
                if payload:
                    s.sendall(payload)
                if mode == 'shut':
                    s.shutdown(socket.SHUT_WR)
                got = b''
                while limit < 0 or len(got) < limit:
                    chunk = s.recv(65536 if limit < 0 else limit - len(got))
                    if not chunk:
                        break
                    got += chunk
                sys.stdout.write(got.hex())
            else:
                if kind == 'unix-dgram':
                    s.bind(tempfile.mktemp(prefix='sockserve-client-', suffix='.sock'))
                s.sendto(payload, target)
                s.settimeout(limit / 1000.0)
                try:
                    sys.stdout.write(s.recv(65536).hex())
                except socket.timeout:
                    sys.stdout.write('NOREPLY')
                if kind == 'unix-dgram':
                    os.unlink(s.getsockname())
            """;

    /**
     * Sends {@code payload} with python3 and returns what came back. Stream: {@code mode} "shut" half-closes
     * after sending, and reading stops at end-of-file or after {@code limit} bytes (-1: no limit). Datagram:
     * waits {@code limit} milliseconds for one reply; null when none came.
     */
    static byte[] python(String kind, String address, byte[] payload, String mode, int limit) throws Exception {
        String out = run(List.of("python3", "-c", CLIENT, kind, address, HexFormat.of().formatHex(payload), mode,
                String.valueOf(limit)), 20);
        return out.equals("NOREPLY") ? null : HexFormat.of().parseHex(out.strip());
    }

    /** Runs a program to its end (at most {@code seconds}); its standard output, or a failure with its error. */
    static String run(List<String> command, int seconds) throws Exception {
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.PIPE).start();
        byte[] out;
        byte[][] err = {new byte[0]};
        try {
            var errReader = Thread.ofVirtual().start(() -> {
                try {
                    err[0] = p.getErrorStream().readAllBytes();
                } catch (IOException ignored) {
                    // the process is gone
                }
            });
            out = p.getInputStream().readAllBytes();
            errReader.join();
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                fail(command.get(0) + " did not end within " + seconds + " s");
            }
        } finally {
            p.destroyForcibly();
            p.waitFor();
        }
        assertEquals(0, p.exitValue(), () -> command.get(0) + " failed: " + new String(err[0], StandardCharsets.UTF_8));
        return new String(out, StandardCharsets.UTF_8);
    }

    /** Address forms as the python client takes them. */
    static String kindOf(String bound) {
        return bound.substring(0, bound.indexOf(':'));
    }

    static String targetOf(String bound) {
        return bound.startsWith("tcp://") || bound.startsWith("udp://") ? bound.substring(6)
                : bound.substring(bound.indexOf(':') + 1);
    }

    static Path tempDir() throws IOException {
        return Files.createTempDirectory("sockserve-test-");
    }

    static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            paths.sorted((a, b) -> b.getNameCount() - a.getNameCount()).map(Path::toFile).forEach(File::delete);
        }
    }
}
