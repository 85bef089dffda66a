package dev.sockserve.cli;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.Await;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** --workers, --health and the drain on SIGTERM, driven as a user would: the real command, real sockets. */
@ExtendWith(NoLeaks.class)
@Timeout(120)
class WorkersTest {

    /** The command as a child JVM (with -v), every line of its standard error kept. */
    record Child(Process process, List<String> log, int port, int health) implements AutoCloseable {
        static Child start(List<String> args) throws Exception {
            List<String> verbose = new ArrayList<>(args);
            verbose.add(1, "-v");
            Process process = Harness.childJvm(verbose).start();
            List<String> log = Collections.synchronizedList(new ArrayList<>());
            CompletableFuture<String> serving = new CompletableFuture<>();
            Thread.ofVirtual().start(() -> {
                try (var err = new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = err.readLine()) != null;) {
                        log.add(line);
                        if (line.startsWith("sockserve: serving ")) {
                            serving.complete(line);
                        }
                    }
                } catch (IOException ended) {
                    // gone
                }
                serving.completeExceptionally(new AssertionError("ended without serving: " + log));
            });
            String line = serving.get(60, TimeUnit.SECONDS);
            int health = log.stream().filter(l -> l.startsWith("sockserve: health checks on ")).findFirst()
                    .map(WorkersTest::lastPort).orElse(0);
            return new Child(process, log, lastPort(line), health);
        }

        void signal(String name) throws Exception {
            Harness.run(List.of("kill", "-" + name, String.valueOf(process.pid())), 10);
        }

        int exit() throws InterruptedException {
            assertTrue(process.waitFor(30, TimeUnit.SECONDS), "ended: " + log);
            return process.exitValue();
        }

        void awaitLine(String part) throws InterruptedException {
            Await.until("a log line with '" + part + "'", () -> log.stream().anyMatch(l -> l.contains(part)));
        }

        @Override
        public void close() throws Exception {
            process.destroyForcibly().waitFor();
        }
    }

    static int lastPort(String line) {
        return Integer.parseInt(line.substring(line.lastIndexOf(':') + 1).strip());
    }

    /** One request: the line the program answers. */
    static String ask(int port, String line) throws IOException {
        try (Socket s = new Socket()) {
            s.setSoTimeout(15_000);
            s.connect(new InetSocketAddress("127.0.0.1", port), 15_000);
            s.getOutputStream().write((line + "\n").getBytes(US_ASCII));
            return new BufferedReader(new InputStreamReader(s.getInputStream(), US_ASCII)).readLine();
        }
    }

    static boolean refused(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
            return false;
        } catch (ConnectException e) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static String health(int port) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            return new String(s.getInputStream().readAllBytes(), US_ASCII);
        }
    }

    static Path program(Path dir, String body) throws IOException {
        Path p = dir.resolve("program.sh");
        Files.writeString(p, "#!/bin/sh\n" + body + "\n");
        p.toFile().setExecutable(true);
        return p;
    }

    @Test
    void twoWorkersShareThePortADeadOneIsReplacedAndSigtermEndsBothWithExit0() throws Exception {
        Path dir = Harness.tempDir();
        try (Child c = Child.start(List.of("exec", "--listen", "tcp://127.0.0.1:0", "--workers", "2", "--health",
                "tcp://127.0.0.1:0", "--", program(dir, "read line\necho $PPID").toString()))) {
            assertEquals("ok\n", health(c.health()), "the supervisor answers health checks");
            Set<String> workers = new HashSet<>();
            for (int i = 0; i < 40 && workers.size() < 2; i++) {
                workers.add(ask(c.port(), "hi")); // the program's parent: the worker that accepted
            }
            assertEquals(2, workers.size(), "the kernel spread the clients over both workers: " + workers);
            c.signal("HUP");
            Await.until("SIGHUP passed on to both workers", () -> c.log().stream()
                    .filter(l -> l.contains("SIGHUP: there is no --rules file")).count() == 2);
            String victim = workers.iterator().next();
            Harness.run(List.of("kill", "-KILL", victim), 10);
            c.awaitLine("(pid " + victim + ") ended with exit code 137");
            c.awaitLine("starting it again");
            String other = workers.stream().filter(w -> !w.equals(victim)).findFirst().orElseThrow();
            Set<String> after = new HashSet<>();
            Await.until("a new worker serving beside " + other, () -> {
                try {
                    after.add(ask(c.port(), "hi"));
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
                return after.size() == 2 && !after.contains(victim);
            });
            c.signal("TERM");
            assertEquals(0, c.exit(), "every worker drained: " + c.log());
            assertTrue(refused(c.health()), "no health checks after the stop");
            for (String pid : after) {
                assertFalse(ProcessHandle.of(Long.parseLong(pid)).map(ProcessHandle::isAlive).orElse(false),
                        "worker " + pid + " ended with its supervisor");
            }
        } finally {
            Harness.deleteTree(dir);
        }
    }

    @Test
    void onSigtermHealthIsRefusedAtOnceRunningConnectionsFinishAndOneOverTheGraceIsCutAndLogged() throws Exception {
        Path dir = Harness.tempDir();
        try (Child c = Child.start(List.of("exec", "--listen", "tcp://127.0.0.1:0", "--health", "tcp://127.0.0.1:0",
                "--grace", "2s", "--", program(dir, "read line\necho \"got $line\"").toString()));
                Socket finishing = new Socket("127.0.0.1", c.port());
                Socket silent = new Socket("127.0.0.1", c.port())) {
            assertEquals("ok\n", health(c.health()));
            Await.until("both connections running", () -> c.log().stream().filter(l -> l.startsWith("sockserve: ok ")).count() == 2);
            c.signal("TERM");
            Await.until("health checks refused", () -> refused(c.health()));
            finishing.setSoTimeout(15_000);
            finishing.getOutputStream().write("late\n".getBytes(US_ASCII));
            assertEquals("got late", new BufferedReader(new InputStreamReader(finishing.getInputStream(), US_ASCII)).readLine(),
                    "a running connection finishes after SIGTERM");
            assertEquals(0, c.exit());
            assertEquals(1, c.log().stream().filter(l -> l.matches("sockserve: cut \\d+ grace on tcp://127\\.0\\.0\\.1:"
                    + c.port())).count(), "the connection over the grace period is cut and logged with the reason: " + c.log());
        } finally {
            Harness.deleteTree(dir);
        }
    }

    @Test
    void aWorkerCountBelowOneAndAHealthAddressThatIsNotTcpAreRefusedWithExit2() {
        Harness.Refusal none = Harness.refuse("echo", "--workers", "0");
        assertEquals(2, none.exitCode());
        assertTrue(none.message().contains("--workers must be at least 1, was 0"), none.message());
        Harness.Refusal udp = Harness.refuse("echo", "--health", "udp://127.0.0.1:0");
        assertEquals(2, udp.exitCode());
        assertTrue(udp.message().contains("--health takes tcp://HOST:PORT"), udp.message());
    }

    @Test
    void unixListenersAndUdpPortZeroAreRefusedWithWorkers() throws Exception {
        Path dir = Harness.tempDir();
        try {
            for (String listen : List.of("unix:" + dir.resolve("s.sock"), "udp://127.0.0.1:0")) {
                Process p = Harness.childJvm(List.of("echo", "--listen", listen, "--workers", "2"))
                        .redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(p.waitFor(30, TimeUnit.SECONDS));
                assertEquals(2, p.exitValue(), out);
                assertTrue(out.contains("--workers"), out);
            }
        } finally {
            Harness.deleteTree(dir);
        }
    }
}
