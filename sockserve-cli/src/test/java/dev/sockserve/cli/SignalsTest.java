package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.Await;
import dev.sockserve.LeakCheck;
import java.io.IOException;
import java.net.ConnectException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * SIGTERM and SIGINT on the real command (a child JVM started as the launcher starts it), with a
 * connection held open across the signal.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
@ExtendWith(LeakCheck.class)
class SignalsTest {

    private Process server;

    @AfterEach
    void endServer() throws Exception {
        if (server != null && server.isAlive()) {
            server.destroyForcibly();
            server.waitFor();
        }
    }

    /** exec cat on a port of the kernel's choosing, with {@code options}; returns the port. */
    private int start(String... options) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("exec", "--listen", "tcp://127.0.0.1:0"));
        args.addAll(List.of(options));
        args.addAll(List.of("--", "cat"));
        return startLogged(args.toArray(String[]::new));
    }

    private static String roundTrip(Socket socket, String message) throws IOException {
        socket.getOutputStream().write(message.getBytes(StandardCharsets.US_ASCII));
        byte[] reply = socket.getInputStream().readNBytes(message.length());
        return new String(reply, StandardCharsets.US_ASCII);
    }

    private void signal(String name) throws Exception {
        // the shell's own kill: no procps needed on a fresh machine
        Harness.run(List.of("sh", "-c", "kill -" + name + " " + server.pid()), 10);
    }

    /** The server's children: the one {@code cat} of the held connection, once the probes' have ended. */
    private List<ProcessHandle> children() throws InterruptedException {
        Await.until("only the held connection's child left", () -> server.toHandle().children().count() == 1);
        return server.toHandle().children().toList();
    }

    @SuppressWarnings("try") // a probe only connects
    private static boolean refused(int port) {
        try (Socket probe = new Socket("127.0.0.1", port)) {
            return false;
        } catch (ConnectException refused) {
            return true;
        } catch (IOException other) {
            throw new java.io.UncheckedIOException(other);
        }
    }

    @Test
    void sigtermLetsTheRunningConnectionFinishThenExits0() throws Exception {
        int port = start("--grace", "30s");
        try (Socket client = new Socket("127.0.0.1", port)) {
            client.setSoTimeout(10_000);
            assertEquals("before", roundTrip(client, "before"));
            signal("TERM");
            Await.until("the listener to refuse after the signal", () -> refused(port));
            assertEquals("after the signal", roundTrip(client, "after the signal"));
            assertTrue(server.isAlive());
        }
        assertTrue(server.waitFor(10, TimeUnit.SECONDS), "did not exit after its last connection ended");
        assertEquals(0, server.exitValue());
    }

    @Test
    void afterTheGracePeriodTheRestIsEndedAndTheExitIs0() throws Exception {
        int port = start("--grace", "1s");
        try (Socket client = new Socket("127.0.0.1", port)) {
            client.setSoTimeout(20_000);
            assertEquals("x", roundTrip(client, "x"));
            List<ProcessHandle> cats = children();
            assertEquals(1, cats.size());
            signal("TERM");
            assertEquals(-1, client.getInputStream().read(), "the connection should end after the grace period");
            assertTrue(server.waitFor(15, TimeUnit.SECONDS));
            assertEquals(0, server.exitValue());
            assertFalse(cats.get(0).isAlive(), "the child outlived the server");
        }
    }

    @Test
    void sigintStopsAcceptingAndASecondSignalEndsAtOnce() throws Exception {
        int port = start("--grace", "60s");
        try (Socket client = new Socket("127.0.0.1", port)) {
            client.setSoTimeout(20_000);
            assertEquals("x", roundTrip(client, "x"));
            List<ProcessHandle> cats = children();
            signal("INT");
            Await.until("the listener to refuse after the signal", () -> refused(port));
            signal("TERM");
            assertTrue(server.waitFor(10, TimeUnit.SECONDS), "a second signal should end the server at once");
            assertEquals(-1, client.getInputStream().read());
            ProcessHandle cat = cats.get(0);
            cat.onExit().completeOnTimeout(cat, 5, TimeUnit.SECONDS).join();
            assertFalse(cat.isAlive(), "the child outlived the server");
        }
    }

    // ---- the command with its log in a file: SIGHUP, the second signal, socket files ----

    private Path dir;
    private Path logFile;

    @AfterEach
    void deleteDir() throws Exception {
        if (dir != null) {
            Harness.deleteTree(dir);
        }
    }

    /** Starts the command with -v, its log in a file; returns its first listener's port. */
    private int startLogged(String... args) throws Exception {
        if (dir == null) {
            dir = Harness.tempDir();
        }
        logFile = dir.resolve("log");
        List<String> all = new java.util.ArrayList<>(List.of(args));
        all.add(1, "-v"); // after the service: before a program's --
        server = Harness.childJvm(all).redirectErrorStream(true).redirectOutput(logFile.toFile()).start();
        String serving = awaitLog("sockserve: serving ");
        java.util.regex.Matcher port = java.util.regex.Pattern.compile("tcp://127\\.0\\.0\\.1:(\\d+)").matcher(serving);
        assertTrue(port.find(), serving);
        return Integer.parseInt(port.group(1));
    }

    /** The first log line containing {@code text}, waited for with a deadline. */
    private String awaitLog(String text) throws Exception {
        Await.holdsWithin(Duration.ofSeconds(30), () -> lineWith(text) != null || !server.isAlive());
        String line = lineWith(text);
        if (line == null) {
            throw new AssertionError((server.isAlive() ? "no log line with '" + text + "': " : "the command ended: ")
                    + readLog());
        }
        return line;
    }

    private String lineWith(String text) {
        return readLog().lines().filter(l -> l.contains(text)).findFirst().orElse(null);
    }

    private String readLog() {
        try {
            return Files.readString(logFile);
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static boolean served(int port) throws IOException {
        try (Socket client = new Socket("127.0.0.1", port)) {
            client.setSoTimeout(10_000);
            client.getOutputStream().write('x');
            return client.getInputStream().read() == 'x'; // a denied client is closed unanswered
        }
    }

    @Test
    void sighupReadsTheRulesAgainAndKeepsThemWhenTheNewFileIsBad() throws Exception {
        dir = Harness.tempDir();
        Path rules = dir.resolve("rules");
        Files.writeString(rules, "127.0.0.1:allow\n:deny\n");
        int port = startLogged("echo", "--listen", "tcp://127.0.0.1:0", "--rules", rules.toString());
        assertTrue(served(port));
        Files.writeString(rules, "127.0.0.1:deny\n");
        signal("HUP");
        awaitLog("SIGHUP: read the rules in " + rules + " again");
        assertFalse(served(port), "denied by the new rules");
        Files.writeString(rules, "# allow all?\n..:allow\n");
        signal("HUP");
        String kept = awaitLog("SIGHUP: kept the rules as they were");
        assertTrue(kept.contains(rules + " line 2"), kept);
        assertFalse(served(port), "the old rules still hold");
        assertTrue(server.isAlive());
        signal("TERM");
        assertTrue(server.waitFor(20, TimeUnit.SECONDS));
        assertEquals(0, server.exitValue());
    }

    @Test
    void aSecondSignalEndsAtOnceRemovesTheSocketFileAndExits143() throws Exception {
        dir = Harness.tempDir();
        Path socket = dir.resolve("echo.sock");
        int port = startLogged("echo", "--listen", "tcp://127.0.0.1:0", "--listen", "unix:" + socket, "--grace", "60s");
        assertTrue(Files.exists(socket));
        try (Socket client = new Socket("127.0.0.1", port)) {
            client.setSoTimeout(20_000);
            assertEquals("x", roundTrip(client, "x"));
            signal("TERM");
            awaitLog("no new connections");
            signal("TERM");
            assertTrue(server.waitFor(10, TimeUnit.SECONDS), "a second signal should end the command at once");
            assertEquals(128 + 15, server.exitValue());
            assertFalse(Files.exists(socket, java.nio.file.LinkOption.NOFOLLOW_LINKS), "the socket file was left");
        }
    }

    @Test
    void sigtermRemovesTheSocketFile() throws Exception {
        dir = Harness.tempDir();
        Path socket = dir.resolve("echo.sock");
        startLogged("echo", "--listen", "tcp://127.0.0.1:0", "--listen", "unix:" + socket);
        assertTrue(Files.exists(socket));
        signal("TERM");
        assertTrue(server.waitFor(20, TimeUnit.SECONDS));
        assertEquals(0, server.exitValue());
        assertFalse(Files.exists(socket, java.nio.file.LinkOption.NOFOLLOW_LINKS), "the socket file was left");
    }
}
