package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** What the command's tests share: a server in this JVM or in a child JVM, a python3 client, a leak check. */
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
        Thread.ofPlatform().name("test-serve").start(serving::serve);
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
                "--enable-native-access=dev.sockserve", "--add-opens", "java.base/sun.nio.ch=dev.sockserve",
                "-p", System.getProperty("jdk.module.path"), "-m", "dev.sockserve.cli/" + Sockserve.class.getName()));
        command.addAll(args);
        return new ProcessBuilder(command);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
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

    // ---- the leak check ----

    private static final java.util.concurrent.atomic.AtomicBoolean WARM = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Lets the JDK open what it keeps for the life of the process (the virtual-thread read and write
     * pollers) before the first count, so that it is not taken for a test's leak.
     */
    @SuppressWarnings("try") // closed early on purpose, to end the blocked threads
    private static void warmUp() {
        try { // temporary names come from SecureRandom, which keeps /dev/random and /dev/urandom open
            Files.delete(Files.createTempDirectory("sockserve-warm-up-"));
        } catch (IOException e) {
            throw new IllegalStateException("warm-up failed", e);
        }
        try (var listener = java.nio.channels.ServerSocketChannel.open()
                .bind(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
                var client = java.nio.channels.SocketChannel.open(listener.getLocalAddress());
                var accepted = listener.accept()) {
            Thread writer = Thread.ofVirtual().start(() -> {
                try { // more than the socket buffers hold: the virtual thread parks on the write poller
                    client.write(java.nio.ByteBuffer.allocate(16 << 20));
                } catch (IOException ignored) {
                    // closed below
                }
            });
            Thread reader = Thread.ofVirtual().start(() -> {
                try {
                    accepted.read(java.nio.ByteBuffer.allocate(16));
                } catch (IOException ignored) {
                    // closed below
                }
            });
            Thread.sleep(200);
            client.close();
            accepted.close();
            writer.join();
            reader.join();
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException("warm-up failed", e);
        }
    }

    /** Descriptors, sockserve-* platform threads and child processes, before a test. */
    record Resources(int fds, List<String> threads, List<Long> children) {
        static Resources now() {
            if (WARM.compareAndSet(false, true)) {
                warmUp();
            }
            String[] fds = new File("/proc/self/fd").list();
            List<String> threads = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> !t.isVirtual() && t.getName().startsWith("sockserve-"))
                    // the core's one process-wide thread is not a leak
                    .filter(t -> !t.getName().equals("sockserve-io-watchdog")).map(Thread::getName).toList();
            List<Long> children = ProcessHandle.current().children().map(ProcessHandle::pid).toList();
            return new Resources(fds == null ? 0 : fds.length, threads, children);
        }
    }

    /** Fails when, a few seconds after a test, more is held than before it. */
    static void assertNoLeak(Resources before) throws InterruptedException {
        Resources after = Resources.now();
        for (int i = 0; i < 100 && leaked(before, after); i++) {
            Thread.sleep(50);
            after = Resources.now();
        }
        final Resources last = after;
        assertTrue(last.fds() <= before.fds(), () -> "descriptors leaked: " + before.fds() + " before, " + last.fds()
                + " after: " + describeFds());
        assertTrue(last.threads().isEmpty() || before.threads().containsAll(last.threads()),
                () -> "threads leaked: " + last.threads());
        assertTrue(before.children().containsAll(last.children()), () -> "child processes left: " + last.children());
    }

    private static String describeFds() {
        StringBuilder out = new StringBuilder();
        for (String fd : new File("/proc/self/fd").list()) {
            try {
                out.append(fd).append("->").append(Files.readSymbolicLink(Path.of("/proc/self/fd", fd))).append(' ');
            } catch (IOException gone) {
                // closed meanwhile
            }
        }
        return out.toString();
    }

    private static boolean leaked(Resources before, Resources after) {
        return after.fds() > before.fds() || !before.threads().containsAll(after.threads())
                || !before.children().containsAll(after.children());
    }
}
