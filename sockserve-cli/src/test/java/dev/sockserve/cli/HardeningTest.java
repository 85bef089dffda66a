package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.Await;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** What a hostile client or a failed start-up once did to the command's log and files. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@ExtendWith(NoLeaks.class)
class HardeningTest {

    private Path dir;

    @BeforeEach
    void makeDir() throws Exception {
        dir = Harness.tempDir();
    }

    @AfterEach
    void deleteDir() throws Exception {
        Harness.deleteTree(dir);
    }

    @Test
    void aUnixClientsPathWithANewlineCannotForgeALogLine() throws Exception {
        Path socket = dir.resolve("echo.sock");
        String clientPath = dir.resolve("c\nsockserve: deny 1 forged").toString();
        try (Harness.InProcess server = Harness.start("echo", "--listen", "unix:" + socket, "-v")) {
            String reply = Harness.run(List.of("python3", "-c", """
                    import socket, sys
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.bind(sys.argv[2])
                    s.connect(sys.argv[1])
                    s.sendall(b'x')
                    s.shutdown(socket.SHUT_WR)
                    sys.stdout.write(s.recv(1).decode())
                    """, socket.toString(), clientPath), 20);
            assertEquals("x", reply);
            Await.until("the connection's log line", () -> server.log.toString(StandardCharsets.UTF_8).contains("forged"));
            List<String> lines = server.log.toString(StandardCharsets.UTF_8).lines().toList();
            assertTrue(lines.stream().anyMatch(l -> l.contains("c\\nsockserve: deny 1 forged")), lines.toString());
            assertFalse(lines.stream().anyMatch(l -> l.startsWith("sockserve: deny")), lines.toString());
        }
    }

    @Test
    void sighupWithoutARulesFileSaysSoAndServesOn() throws Exception {
        try (Harness.InProcess server = Harness.start("echo", "--listen", "tcp://127.0.0.1:0")) {
            server.serving.reload();
            assertEquals("sockserve: warning: SIGHUP: there is no --rules file and no TLS file to read again",
                    server.log.toString(StandardCharsets.UTF_8).strip());
            String address = server.address(0);
            assertEquals("x", new String(Harness.python("tcp", Harness.targetOf(address), new byte[] {'x'}, "shut", -1),
                    StandardCharsets.US_ASCII));
        }
    }

    @Test
    void aStartUpThatFailsOnItsSecondListenerRemovesTheFirstsSocketFile() throws Exception {
        Path socket = dir.resolve("first.sock");
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            Harness.Refusal refusal = Harness.refuse("echo", "--listen", "unix:" + socket, "--listen",
                    "tcp://127.0.0.1:" + taken.getLocalPort());
            assertEquals(1, refusal.exitCode(), refusal.message());
            assertTrue(refusal.message().contains("Address already in use"), refusal.message());
        }
        assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS), "the first listener's socket file was left");
    }

    @Test
    void withJsonLogsEveryLineTheCommandWritesIsOneJsonObject() throws Exception {
        Path log = dir.resolve("log");
        Process server = Harness.childJvm(List.of("echo", "--listen", "udp://127.0.0.1:0", "--log-format", "json", "-v",
                "--max-packet-size", "16")).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            String port = awaitLine(server, log, "\"event\":\"info\",\"message\":\"serving udp://")
                    .replaceAll(".*udp://127\\.0\\.0\\.1:(\\d+).*", "$1");
            byte[] datagram = "a datagram longer than 16 bytes".getBytes(StandardCharsets.US_ASCII);
            assertEquals(16, Harness.python("udp", "127.0.0.1:" + port, datagram, "", 5000).length);
            // the core's warning, through System.Logger, in the command's words
            String warning = awaitLine(server, log, "is longer");
            assertTrue(warning.contains("\"event\":\"warning\"") && warning.contains("--max-packet-size 16"), warning);
            Harness.run(List.of("sh", "-c", "kill -TERM " + server.pid()), 10);
            assertTrue(server.waitFor(20, TimeUnit.SECONDS));
            assertEquals(0, server.exitValue());
        } finally {
            server.destroyForcibly();
            server.waitFor();
        }
        String check = Harness.run(List.of("python3", "-c", """
                import json, sys
                lines = open(sys.argv[1], encoding='utf-8').read().splitlines()
                for line in lines:
                    assert isinstance(json.loads(line), dict), line
                print(len(lines))
                """, log.toString()), 20);
        assertTrue(Integer.parseInt(check.strip()) >= 4, check + Files.readString(log));
    }

    private static String awaitLine(Process server, Path log, String text) throws Exception {
        Await.holdsWithin(Duration.ofSeconds(30), () -> lineWith(log, text) != null || !server.isAlive());
        String line = lineWith(log, text);
        if (line == null) {
            throw new AssertionError((server.isAlive() ? "no line with " + text + ": " : "the command ended: ")
                    + Files.readString(log));
        }
        return line;
    }

    private static String lineWith(Path log, String text) {
        try {
            return Files.readAllLines(log).stream().filter(l -> l.contains(text)).findFirst().orElse(null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
