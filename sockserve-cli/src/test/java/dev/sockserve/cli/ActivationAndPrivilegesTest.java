package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sockserve.Await;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * systemd socket activation through the real systemd-socket-activate (TCP, UDP, Unix, fd:NAME, exec's
 * environment), and --user/--group as root: every thread of the process, and exec's program.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@ExtendWith(NoLeaks.class)
class ActivationAndPrivilegesTest {

    /** A running command and what it said it serves. */
    record Started(Process process, CompletableFuture<List<String>> said, StringBuffer err) implements AutoCloseable {
        List<String> serving() {
            return awaitServing();
        }

        List<String> awaitServing() {
            try {
                return said.get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                process.destroyForcibly();
                throw new AssertionError("did not serve: " + err, e);
            }
        }

        @Override
        public void close() throws Exception {
            process.destroy(); // SIGTERM: a clean stop
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
            }
            assertEquals(0, process.exitValue(), () -> "not a clean stop: " + err);
        }
    }

    /** The command as a child JVM, behind {@code prefix} (systemd-socket-activate ...), with -v. */
    static Started start(List<String> prefix, List<String> args) throws Exception {
        Started s = launch(prefix, args);
        s.awaitServing();
        return s;
    }

    /**
     * Starts {@code prefix} and the command and returns at once: systemd-socket-activate starts the command
     * only when the first client comes, as systemd does.
     */
    static Started launch(List<String> prefix, List<String> args) throws Exception {
        List<String> verbose = new ArrayList<>(args);
        verbose.add(1, "-v");
        ProcessBuilder jvm = Harness.childJvm(verbose);
        List<String> command = new ArrayList<>(prefix);
        command.addAll(jvm.command());
        Process process = new ProcessBuilder(command).start();
        StringBuffer err = new StringBuffer();
        CompletableFuture<List<String>> serving = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try (var in = new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null;) {
                    err.append(line).append('\n');
                    if (line.startsWith("sockserve: serving ")) {
                        serving.complete(List.of(line.substring("sockserve: serving ".length()).split(", ")));
                    }
                }
            } catch (IOException ended) {
                // gone
            }
            serving.completeExceptionally(new AssertionError("ended without serving: " + err));
        });
        return new Started(process, serving, err);
    }

    private static int freeUdpPort() throws IOException {
        try (var s = new java.net.DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static String echo(String bound, String text) throws Exception {
        byte[] reply = Harness.python(Harness.kindOf(bound), Harness.targetOf(bound),
                text.getBytes(StandardCharsets.UTF_8), "shut", bound.startsWith("udp") || bound.startsWith("unix-dgram")
                        ? 20_000 : -1);
        return reply == null ? null : new String(reply, StandardCharsets.UTF_8);
    }

    @Test
    void tcpUdpAndUnixSocketsFromSystemdAreServedAndNothingElseIsBound() throws Exception {
        Path dir = Harness.tempDir();
        Path socket = dir.resolve("echo.sock");
        // systemd-socket-activate takes no port 0: ports free a moment ago (racy, as systemd's own units are not)
        String tcpAddress = "tcp://127.0.0.1:" + Harness.freePort();
        try (Started tcp = launch(List.of("systemd-socket-activate", "-l", Harness.targetOf(tcpAddress), "--fdname=echo"),
                List.of("echo"))) {
            assertEquals("over tcp", echo(tcpAddress, "over tcp")); // the first client starts the command
            assertEquals(List.of(tcpAddress), tcp.serving()); // and nothing else: not echo's default 127.0.0.1:7007
        }
        String udpAddress = "udp://127.0.0.1:" + freeUdpPort();
        try (Started udp = launch(List.of("systemd-socket-activate", "--datagram", "-l", Harness.targetOf(udpAddress)),
                List.of("echo"))) {
            assertEquals("over udp", echo(udpAddress, "over udp"), udp.err()::toString);
            assertEquals(List.of(udpAddress), udp.serving());
        }
        try (Started unix = launch(List.of("systemd-socket-activate", "-l", socket.toString()), List.of("echo"))) {
            assertEquals("over unix", echo("unix:" + socket, "over unix"));
            assertEquals(List.of("unix:" + socket), unix.serving());
        }
        assertTrue(Files.exists(socket), "the socket file belongs to systemd, and stays");
        Harness.deleteTree(dir);
    }

    private static long openDescriptors(Process process) throws IOException {
        try (var fds = Files.list(Path.of("/proc/" + process.pid() + "/fd"))) {
            return fds.count();
        }
    }

    @Test
    void unixDatagramSocketsFromSystemdAreServedForServicesAndExecAndTheirFileStays() throws Exception {
        Path dir = Harness.tempDir();
        Path socket = dir.resolve("echo.dgram");
        String address = "unix-dgram:" + socket;
        List<String> activate = List.of("systemd-socket-activate", "--datagram", "-l", socket.toString(), "--fdname=dgram");
        try (Started echo = launch(activate, List.of("echo", "--listen", "fd:dgram"))) {
            assertEquals("first", echo(address, "first"), echo.err()::toString); // the first datagram starts it
            assertEquals(List.of(address), echo.serving());
            long descriptors = openDescriptors(echo.process());
            for (int i = 0; i < 20; i++) {
                assertEquals("again " + i, echo(address, "again " + i));
            }
            assertEquals(descriptors, openDescriptors(echo.process()), "a descriptor leaked per datagram");
        }
        assertTrue(Files.exists(socket), "the socket file belongs to systemd, and stays");
        Files.delete(socket); // systemd-socket-activate binds it again below
        try (Started exec = launch(activate, List.of("exec", "--", "/bin/sh", "-c", "cat; printf \" $PROTO\""))) {
            assertEquals("program UNIX", echo(address, "program"), exec.err()::toString);
            assertEquals(List.of(address), exec.serving());
        }
        assertTrue(Files.exists(socket), "the socket file belongs to systemd, and stays");
        Harness.deleteTree(dir);
    }

    @Test
    void fdNamePicksOneSocketAndExecProgramsDoNotSeeTheVariables() throws Exception {
        // systemd-socket-activate takes no port 0: ports free a moment ago (racy, as in the test above)
        String second = "tcp://127.0.0.1:" + Harness.freePort();
        try (Started exec = launch(List.of("systemd-socket-activate", "-l", "127.0.0.1:" + Harness.freePort(), "-l",
                Harness.targetOf(second), "--fdname=first:second"),
                List.of("exec", "--listen", "fd:second", "--", "/bin/sh", "-c", "env"))) {
            String env = echo(second, "");
            assertEquals(List.of(second), exec.serving());
            assertTrue(env.contains("TCPREMOTEIP=127.0.0.1"), env);
            assertFalse(env.contains("LISTEN_"), env);
        }
    }

    @Test
    void inetdWaitServesTheListeningSocketOnDescriptor0() throws Exception {
        String script = """
                import socket, subprocess, sys
                l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(8)
                port = l.getsockname()[1]
                p = subprocess.Popen(sys.argv[1:], stdin=l.fileno(), stderr=subprocess.DEVNULL)
                l.close()
                c = socket.create_connection(('127.0.0.1', port), timeout=30)
                c.sendall(b'inetd'); c.shutdown(socket.SHUT_WR)
                got = c.recv(100)
                p.terminate()
                sys.stdout.write(got.decode() + ' ' + str(p.wait(timeout=30)))
                """;
        List<String> command = new ArrayList<>(List.of("python3", "-c", script));
        command.addAll(Harness.childJvm(List.of("echo", "--inetd")).command());
        assertEquals("inetd 0", Harness.run(command, 60).strip());
    }

    @Test
    void inetdWaitServesDatagramSocketsOnDescriptor0UdpAndUnix() throws Exception {
        Path dir = Harness.tempDir();
        String script = """
                import os, socket, subprocess, sys
                kind, where = sys.argv[1], sys.argv[2]
                if kind == 'udp':
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))
                    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                else:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(os.path.join(where, 'server'))
                    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); c.bind(os.path.join(where, 'client'))
                p = subprocess.Popen(sys.argv[3:], stdin=s.fileno(), stderr=subprocess.DEVNULL)
                target = s.getsockname()
                s.close()
                c.settimeout(30)
                c.sendto(b'inetd ' + kind.encode(), target)
                try:
                    got = c.recv(100)
                finally:
                    p.terminate()
                sys.stdout.write(got.decode() + ' ' + str(p.wait(timeout=30)))
                """;
        for (String kind : List.of("udp", "unix")) {
            List<String> command = new ArrayList<>(List.of("python3", "-c", script, kind, dir.toString()));
            command.addAll(Harness.childJvm(List.of("echo", "--inetd")).command());
            assertEquals("inetd " + kind + " 0", Harness.run(command, 60).strip());
        }
        assertTrue(Files.exists(dir.resolve("server")), "the socket file is inetd's, and stays");
        Harness.deleteTree(dir);
    }

    /** inetd 'nowait': python3 accepts and starts the command with the connection as descriptors 0 and 1. */
    private static final String INETD_NOWAIT = """
            import socket, subprocess, sys
            l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)
            c = socket.create_connection(l.getsockname(), timeout=30)
            a, _ = l.accept()
            p = subprocess.Popen(sys.argv[1:], stdin=a.fileno(), stdout=a.fileno(), stderr=subprocess.DEVNULL)
            a.close(); l.close()
            c.sendall(b'hello'); c.shutdown(socket.SHUT_WR)
            got = b''
            while True:
                chunk = c.recv(100)
                if not chunk: break
                got += chunk
            sys.stdout.write(got.decode() + ' ' + str(p.wait(timeout=30)))
            """;

    @Test
    void inetdNowaitServesOneConnectionThenExitsWithTheProgramsStatus() throws Exception {
        List<String> exec = new ArrayList<>(List.of("python3", "-c", INETD_NOWAIT));
        exec.addAll(Harness.childJvm(List.of("exec", "--inetd", "--", "/bin/sh", "-c",
                "cat; printf \" $PROTO $TCPREMOTEIP\"; exit 3")).command());
        assertEquals("hello TCP 127.0.0.1 3", Harness.run(exec, 60).strip());
        List<String> echo = new ArrayList<>(List.of("python3", "-c", INETD_NOWAIT));
        echo.addAll(Harness.childJvm(List.of("echo", "--inetd")).command());
        assertEquals("hello 0", Harness.run(echo, 60).strip());
    }

    @Test
    void inetdNowaitEndsWhatTheProgramLeftRunningWhenItExits() throws Exception {
        Path pidFile = Files.createTempFile("sockserve-leftover", ".pid");
        try {
            List<String> exec = new ArrayList<>(List.of("python3", "-c", INETD_NOWAIT));
            exec.addAll(Harness.childJvm(List.of("exec", "--inetd", "--", "/bin/sh", "-c",
                    "sleep 300 </dev/null >/dev/null 2>&1 & echo $! > " + pidFile + "; cat")).command());
            assertEquals("hello 0", Harness.run(exec, 60).strip());
            long pid = Long.parseLong(Files.readString(pidFile).strip());
            boolean gone = Await.holdsWithin(Await.DEADLINE, () -> ProcessHandle.of(pid).map(p -> {
                try {
                    String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
                    return stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
                } catch (IOException ended) {
                    return true;
                }
            }).orElse(true));
            if (!gone) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            assertTrue(gone, "the program's background process " + pid + " outlived the command");
        } finally {
            Files.deleteIfExists(pidFile);
        }
    }

    @Test
    void variablesForAnotherProcessAreIgnored() {
        Map<String, String> env = Map.of("LISTEN_PID", "1", "LISTEN_FDS", "1", "LISTEN_FDNAMES", "x");
        assertEquals(List.of(), SocketActivation.load(env, ProcessHandle.current().pid()));
        assertEquals(Map.of("PATH", "/bin"), SocketActivation.withoutVariables(Map.of("PATH", "/bin", "LISTEN_PID", "1",
                "LISTEN_FDS", "1", "LISTEN_FDNAMES", "x")));
    }

    /** A port below 1024 free a moment ago: only root could bind it, which is the point. */
    private static int lowPort() throws IOException {
        for (int port = 1000; port > 600; port--) {
            try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
                return port;
            } catch (IOException taken) {
                // next
            }
        }
        throw new IOException("no free port below 1024");
    }

    private static List<String> idsOfEveryThread(long pid) throws IOException {
        List<String> ids = new ArrayList<>();
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : tasks.toList()) {
                try {
                    for (String line : Files.readAllLines(task.resolve("status"))) {
                        if (line.startsWith("Uid:") || line.startsWith("Gid:") || line.startsWith("Groups:")) {
                            ids.add(task.getFileName() + " " + line.replaceAll("\\s+", " ").strip());
                        }
                    }
                } catch (IOException threadEnded) {
                    // a thread that ended meanwhile
                }
            }
        }
        return ids;
    }

    @Test
    void asRootEveryThreadBecomesNobodyAfterBindingAPortBelow1024() throws Exception {
        assumeTrue(Harness.run(List.of("id", "-u"), 10).strip().equals("0"), "needs root (CI runs the tests as root)");
        String uid = Harness.run(List.of("id", "-u", "nobody"), 10).strip();
        String gid = Harness.run(List.of("id", "-g", "nobody"), 10).strip();
        int port = lowPort();
        try (Started echo = start(List.of(), List.of("echo", "--listen", "tcp://127.0.0.1:" + port, "--user", "nobody"))) {
            assertEquals("low", echo(echo.serving().get(0), "low"));
            List<String> ids = idsOfEveryThread(echo.process().pid());
            assertTrue(ids.size() > 10, ids.toString());
            for (String line : ids) {
                String fields = line.substring(line.indexOf(' ') + 1);
                if (fields.startsWith("Uid:")) {
                    assertEquals("Uid: " + uid + " " + uid + " " + uid + " " + uid, fields, ids.toString());
                } else if (fields.startsWith("Gid:")) {
                    assertEquals("Gid: " + gid + " " + gid + " " + gid + " " + gid, fields, ids.toString());
                } else {
                    assertEquals("Groups:", fields, ids.toString()); // no supplementary group left
                }
            }
        }
        try (Started exec = start(List.of(), List.of("exec", "--listen", "tcp://127.0.0.1:0", "--user", "nobody",
                "--", "/usr/bin/id", "-u"))) {
            assertEquals(uid, echo(exec.serving().get(0), "").strip());
        }
    }

    @Test
    void anUnknownUserIsExit2BeforeAnythingIsBound() throws Exception {
        Process p = Harness.childJvm(List.of("echo", "--listen", "tcp://127.0.0.1:0", "--user", "no-such-user-here"))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(2, p.exitValue(), out);
        assertTrue(out.contains("no such user"), out);
        Await.until("gone", () -> !p.isAlive());
    }
}
