package dev.sockserve.cli;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.Await;
import dev.sockserve.HaProxy;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardSocketOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A rolling restart behind a real HAProxy: TCP mode, the PROXY protocol to the backends, health checks on
 * their --health port, retries. A client makes a short request every 30 ms through HAProxy while each
 * backend in turn gets SIGTERM, drains, exits 0 and is started again on the same ports. Not one request
 * may fail, and every answer (the program's $TCPREMOTEIP:$TCPREMOTEPORT) must be the client's own
 * socket address. One backend is a plain process, the other runs --workers 2.
 */
@ExtendWith(NoLeaks.class)
@Timeout(150)
class RollingRestartTest {

    static final java.util.regex.Pattern QUIET = java.util.regex.Pattern.compile("^sockserve: (status:|pid |ok |end )");
    static final long PERIOD_NANOS = TimeUnit.MILLISECONDS.toNanos(30);

    /**
     * A backend's ports, held for the whole test by bound, never listening SO_REUSEPORT sockets: nothing
     * else can take them, they receive nothing, and each start of the backend (which sets SO_REUSEPORT,
     * --reuse-port or --workers) binds them again.
     */
    static final class Backend implements AutoCloseable {
        final String name;
        final List<String> extra;
        final Socket portHolder = holder();
        final Socket healthHolder = holder();
        final AtomicLong answers = new AtomicLong();
        Process process;

        Backend(String name, List<String> extra) throws IOException {
            this.name = name;
            this.extra = extra;
        }

        static Socket holder() throws IOException {
            Socket s = new Socket();
            s.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            return s;
        }

        int port() {
            return portHolder.getLocalPort();
        }

        int health() {
            return healthHolder.getLocalPort();
        }

        void start(Path program) throws Exception {
            List<String> args = new ArrayList<>(List.of("exec", "-v", "--listen", "tcp://127.0.0.1:" + port(),
                    "--reuse-port", "--health", "tcp://127.0.0.1:" + health(), "--proxy-protocol",
                    "--trusted-proxies", "127.0.0.1", "--grace", "10s"));
            args.addAll(extra);
            args.addAll(List.of("--", program.toString()));
            ProcessBuilder builder = Harness.childJvm(args);
            builder.environment().put("BACKEND", name);
            process = builder.start();
            var err = new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8));
            CompletableFuture<Void> serving = new CompletableFuture<>();
            Thread.ofVirtual().start(() -> {
                try {
                    for (String line; (line = err.readLine()) != null;) {
                        if (!QUIET.matcher(line).find()) { // -v (for the "serving" line) logs every connection
                            System.err.println(name + ": " + line);
                        }
                        if (line.startsWith("sockserve: serving ")) {
                            serving.complete(null);
                        }
                    }
                } catch (IOException ended) {
                    // the process is gone
                }
                serving.completeExceptionally(new AssertionError(name + " ended without serving"));
            });
            serving.get(Await.DEADLINE.toSeconds() * 3, TimeUnit.SECONDS);
        }

        /** SIGTERM; the exit code once it has drained and ended. */
        int stop() throws Exception {
            process.destroy();
            assertTrue(process.waitFor(30, TimeUnit.SECONDS), name + " did not end within 30 s of SIGTERM");
            return process.exitValue();
        }

        @Override
        public void close() throws Exception {
            if (process != null) {
                process.destroyForcibly().waitFor();
            }
            portHolder.close();
            healthHolder.close();
        }
    }

    /** HAProxy on a port bound to 0 (handed over as descriptor 3), health-checking the backends' --health ports. */
    static Process haproxy(Path dir, List<Backend> backends, String sendProxy, int[] port) throws Exception {
        List<String> cfg = new ArrayList<>(List.of("global", "  log stderr local0 notice",
                "defaults", "  mode tcp", "  log global", "  timeout connect 500ms", "  timeout client 15s",
                // a check's answer may take a while on a loaded machine (the check interval, 100 ms, was its
                // timeout): a backend going away refuses the check's connection, which marks it down at once
                "  timeout check 2s",
                "  timeout server 15s", "  retries 5", "  option redispatch 1",
                "frontend front", "  bind fd@3", "  default_backend back",
                "backend back", "  balance roundrobin", "  option tcp-check", "  tcp-check expect string ok",
                "  default-server inter 100ms fall 1 rise 1 " + sendProxy));
        for (Backend b : backends) {
            cfg.add("  server " + b.name + " 127.0.0.1:" + b.port() + " check port " + b.health());
        }
        HaProxy h = HaProxy.start(dir.resolve("haproxy.cfg"), cfg);
        port[0] = h.port();
        return h.process();
    }

    /** One short request through HAProxy: null when the answer is the client's own address, else what went wrong. */
    static String request(int port, Map<String, Backend> byName) {
        try (Socket s = new Socket()) {
            s.setSoTimeout(15_000);
            s.connect(new InetSocketAddress("127.0.0.1", port), 15_000);
            String me = "127.0.0.1:" + s.getLocalPort();
            s.getOutputStream().write("hello\n".getBytes(US_ASCII));
            String answer = new BufferedReader(new InputStreamReader(s.getInputStream(), US_ASCII)).readLine();
            if (answer == null) {
                return "closed without an answer";
            }
            String[] words = answer.split(" ");
            Backend from = words.length == 2 ? byName.get(words[1]) : null;
            if (from == null || !words[0].equals(me)) {
                return "answer '" + answer + "' for client " + me;
            }
            from.answers.incrementAndGet();
            return null;
        } catch (IOException e) {
            return e.toString();
        }
    }

    /**
     * Connections straight to the backend (a PROXY header of their own, then the request): at -c 2 all but
     * two wait in its accept queue, where a plain close would reset them.
     */
    static List<Socket> queue(Backend b, int n) throws IOException {
        List<Socket> queued = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Socket s = new Socket();
            queued.add(s);
            s.setSoTimeout(15_000);
            s.connect(new InetSocketAddress("127.0.0.1", b.port()), 15_000);
            s.getOutputStream().write(("PROXY TCP4 127.0.0.1 127.0.0.1 " + s.getLocalPort() + " " + b.port()
                    + "\r\nhello\n").getBytes(US_ASCII));
        }
        return queued;
    }

    @ParameterizedTest
    @ValueSource(strings = {"send-proxy-v2", "send-proxy"})
    void everyBackendRestartedInTurnAndNoClientRequestFails(String sendProxy) throws Exception {
        Path dir = Harness.tempDir();
        Process haproxy = null;
        try (Backend plain = new Backend("plain", List.of("-c", "2"));
                Backend workers = new Backend("workers", List.of("--workers", "2"))) {
            Path program = dir.resolve("who.sh");
            Files.writeString(program, "#!/bin/sh\nread line\nsleep 0.05\necho \"$TCPREMOTEIP:$TCPREMOTEPORT $BACKEND\"\n");
            program.toFile().setExecutable(true);
            List<Backend> backends = List.of(plain, workers);
            Map<String, Backend> byName = Map.of(plain.name, plain, workers.name, workers);
            List<Thread> starting = new ArrayList<>();
            List<Throwable> startFailures = Collections.synchronizedList(new ArrayList<>());
            for (Backend b : backends) {
                starting.add(Thread.ofVirtual().start(() -> {
                    try {
                        b.start(program);
                    } catch (Throwable t) {
                        startFailures.add(t);
                    }
                }));
            }
            for (Thread t : starting) {
                t.join();
            }
            assertEquals(List.of(), startFailures);
            int[] port = {0};
            haproxy = haproxy(dir, backends, sendProxy, port);
            // HAProxy and its first checks: requests go through once both backends have answered
            Await.until("both backends answering through haproxy", () -> {
                request(port[0], byName);
                return plain.answers.get() > 0 && workers.answers.get() > 0;
            });

            List<Future<String>> results = Collections.synchronizedList(new ArrayList<>());
            Map<String, Integer> exits = new ConcurrentHashMap<>();
            try (ExecutorService each = Executors.newVirtualThreadPerTaskExecutor()) {
                var running = new java.util.concurrent.atomic.AtomicBoolean(true);
                Thread pacer = Thread.ofPlatform().name("client-loop").start(() -> {
                    long start = System.nanoTime();
                    for (long i = 0; running.get(); i++) {
                        LockSupport.parkNanos(start + i * PERIOD_NANOS - System.nanoTime()); // a steady rate
                        results.add(each.submit(() -> request(port[0], byName)));
                    }
                });
                try {
                    for (Backend b : backends) {
                        List<Socket> queued = b == plain ? queue(plain, 8) : List.of();
                        exits.put(b.name, b.stop());
                        for (Socket q : queued) {
                            try (q) {
                                String answer = new BufferedReader(new InputStreamReader(q.getInputStream(), US_ASCII)).readLine();
                                assertEquals("127.0.0.1:" + q.getLocalPort() + " plain", answer,
                                        "a client in the accept queue at SIGTERM is served, not reset");
                            }
                        }
                        b.start(program);
                        long before = b.answers.get();
                        Await.until(b.name + " answering again through haproxy", Await.DEADLINE.multipliedBy(2),
                                () -> b.answers.get() > before);
                    }
                } finally {
                    running.set(false);
                    pacer.join();
                }
            }
            List<String> failures = new ArrayList<>();
            for (Future<String> f : results) {
                String failure = f.get();
                if (failure != null) {
                    failures.add(failure);
                }
            }
            System.err.println("rolling restart behind haproxy " + sendProxy + ": " + results.size()
                    + " requests, " + failures.size() + " failed");
            assertEquals(Map.of("plain", 0, "workers", 0), exits, "each backend drained and exited 0 on SIGTERM");
            assertEquals(List.of(), failures, "of " + results.size() + " requests");
            assertTrue(results.size() > 50, "requests made during the restarts: " + results.size());
        } finally {
            if (haproxy != null) {
                haproxy.destroy();
                if (!haproxy.waitFor(10, TimeUnit.SECONDS)) {
                    haproxy.destroyForcibly().waitFor();
                }
            }
            Harness.deleteTree(dir);
        }
    }
}
