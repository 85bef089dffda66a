package dev.sockserve.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Runs every scenario against every server, interleaved (for each round, for each scenario, each
 * server in turn, a fresh server process each time), and writes the results page.
 *
 * <pre>
 * java dev.sockserve.bench.Driver [--quick] [--rounds N] [--gen-threads N] [--pin] [--warmup MS] [--measure MS]
 *                                 [--scenarios a,b] [--servers x,y] [--out DIR]
 * </pre>
 *
 * No process outlives the run: every child is killed when its step ends, and a shutdown hook kills
 * whatever is left on an exception or Ctrl-C.
 */
public final class Driver {
    /** A scenario of the spec: what the generator runs, with how many connections, over which protocol. */
    record Scenario(String name, String generatorScenario, int connections, boolean udp) {}

    static final List<Scenario> SCENARIOS = List.of(
            new Scenario("pingpong-1", "pingpong", 1, false),
            new Scenario("pingpong-64", "pingpong", 64, false),
            new Scenario("pingpong-1000", "pingpong", 1000, false),
            new Scenario("pingpong-10000", "pingpong", 10_000, false),
            new Scenario("bulk", "bulk", 8, false),
            new Scenario("connect", "connect", 16, false),
            new Scenario("udp", "udp", 16, true),
            new Scenario("idle", "idle", 10_000, false));

    /** One step's outcome: the generator's figures, or an error. */
    record Row(int round, String scenario, String server, Map<String, String> figures, String error) {}

    static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    final String classpath = System.getProperty("java.class.path");
    final Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    final Path python = Path.of(System.getProperty("bench.python", "sockserve-bench/src/main/python/echo_server.py"));
    Path out = Path.of("results");
    int rounds = 3;
    int genThreads = 1;
    /**
     * Whether the generator gets the last CPU and the server the others (taskset), with --pin. Off by
     * default: on this shared 2-core VM another session's busy process on one CPU then starves
     * whichever of the two is pinned there (figures fell five- to tenfold), while unpinned the
     * scheduler moves us away from it. Pinning did not remove pingpong-1's jumps between ~18 and
     * ~60 us per round trip either.
     */
    boolean pin = false;
    long warmupMs = 1000, measureMs = 2500;
    List<Scenario> scenarios = SCENARIOS;
    List<String> servers = Peers.KINDS;

    public static void main(String[] args) throws Exception {
        var driver = new Driver();
        driver.parse(args);
        Runtime.getRuntime().addShutdownHook(new Thread(Driver::killAll, "bench-kill-children"));
        driver.run();
    }

    void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> { rounds = 1; warmupMs = 300; measureMs = 700; }
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--gen-threads" -> genThreads = Integer.parseInt(args[++i]);
                case "--pin" -> {
                    if (Runtime.getRuntime().availableProcessors() < 2 || !Files.isExecutable(Path.of("/usr/bin/taskset"))) {
                        throw new IllegalArgumentException("--pin needs 2 CPUs and /usr/bin/taskset");
                    }
                    pin = true;
                }
                case "--warmup" -> warmupMs = Long.parseLong(args[++i]);
                case "--measure" -> measureMs = Long.parseLong(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--scenarios" -> {
                    List<String> names = Arrays.asList(args[++i].split(","));
                    scenarios = SCENARIOS.stream().filter(s -> names.contains(s.name)).toList();
                    if (scenarios.size() != names.size()) throw new IllegalArgumentException("scenarios are " + SCENARIOS.stream().map(Scenario::name).toList());
                }
                case "--servers" -> {
                    servers = Arrays.asList(args[++i].split(","));
                    if (!Peers.KINDS.containsAll(servers)) {
                        throw new IllegalArgumentException("servers are " + Peers.KINDS + " (" + Peers.UDP_ONLY_KINDS + " in udp only)");
                    }
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + "; options: --quick --rounds N --gen-threads N --pin --warmup MS --measure MS --scenarios a,b --servers x,y --out DIR");
            }
        }
    }

    void run() throws Exception {
        Files.createDirectories(out.resolve("logs"));
        Instant started = Instant.now();
        int steps = rounds * scenarios.stream().mapToInt(s -> serversOf(s).size()).sum(), step = 0;
        System.out.printf("bench: %d rounds x %d scenarios x up to %d servers = %d steps; warm-up %d ms, measure %d ms; generator threads %d; %s%n",
                rounds, scenarios.size(), servers.size(), steps, warmupMs, measureMs, genThreads,
                pin ? "generator on CPU " + cpus(true).get(2) + ", server on CPU " + cpus(false).get(2) : "not pinned");
        var rows = new ArrayList<Row>();
        Generator generator = new Generator();
        try {
            for (int round = 1; round <= rounds; round++) {
                for (Scenario scenario : scenarios) {
                    // Each round starts with a different server, so none is always first after a pause.
                    List<String> these = serversOf(scenario);
                    for (int k = 0; k < these.size(); k++) {
                        String server = these.get((k + round - 1) % these.size());
                        step++;
                        long stepStarted = System.nanoTime();
                        Row row = step(generator, round, scenario, server);
                        rows.add(row);
                        System.out.printf("[%3d/%d %s] round %d %-15s %-19s %s (step %.1f s)%n", step, steps,
                                clock(Duration.between(started, Instant.now())), round, scenario.name, server, Report.describe(row),
                                (System.nanoTime() - stepStarted) / 1e9);
                        if (!generator.alive()) {
                            generator.close();
                            generator = new Generator();
                        }
                    }
                }
            }
        } finally {
            generator.close();
        }
        var report = new Report(rows, scenarios, servers, genThreads, pin, warmupMs, measureMs, Duration.between(started, Instant.now()));
        report.write(out);
        System.out.println("bench: wrote " + out.resolve("results.md") + ", results.csv and charts in "
                + clock(Duration.between(started, Instant.now())));
    }

    List<String> serversOf(Scenario scenario) {
        return servers.stream().filter(k -> Peers.runs(k, scenario.udp)).toList();
    }

    static String clock(Duration d) {
        return String.format("%d:%02d", d.toMinutes(), d.toSecondsPart());
    }

    Row step(Generator generator, int round, Scenario scenario, String server) {
        Process process = null;
        Path log = out.resolve("logs").resolve(server + "-" + scenario.name + "-r" + round + ".log");
        try {
            process = startServer(server, scenario.udp, log);
            int port = awaitReady(process, server, log);
            String command = String.join(" ", "run", scenario.generatorScenario, Integer.toString(port),
                    Integer.toString(scenario.connections), Long.toString(warmupMs), Long.toString(measureMs),
                    Long.toString(process.pid()));
            // Opening takes at most 30 s (the generator's own limit): past that something is stuck.
            String answer = generator.ask(command, Duration.ofMillis(warmupMs + measureMs).plusSeconds(45));
            if (answer.startsWith("RESULT")) {
                var figures = new LinkedHashMap<String, String>();
                for (String kv : answer.substring("RESULT".length()).trim().split(" ")) {
                    int eq = kv.indexOf('=');
                    figures.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
                if (!process.isAlive()) return new Row(round, scenario.name, server, Map.of(), "server died, see " + log);
                return new Row(round, scenario.name, server, figures, null);
            }
            return new Row(round, scenario.name, server, Map.of(), answer);
        } catch (Exception e) {
            return new Row(round, scenario.name, server, Map.of(), e.toString());
        } finally {
            if (process != null) kill(process);
        }
    }

    Process startServer(String server, boolean udp, Path log) throws IOException {
        List<String> command = new ArrayList<>();
        if (server.equals("python")) {
            command.addAll(cpus(false));
            command.addAll(List.of("python3", "-u", python.toString()));
        } else {
            command.addAll(cpus(false));
            command.add(java.toString());
            if (server.startsWith("sockserve-")) {
                // sockserve's recommended JVM settings (README, "Running sockserve fast"): one virtual-thread
                // carrier fewer than the cores, and no more read pollers than carriers (with more, one carrier
                // starved half the connections); BENCH_SOCKSERVE_JAVA_OPTS adds to them, for trying others
                int carriers = Math.max(1, Runtime.getRuntime().availableProcessors() - 1);
                command.add("-Djdk.virtualThreadScheduler.parallelism=" + carriers);
                command.add("-Djdk.readPollers=" + Integer.highestOneBit(carriers));
                String extra = System.getenv("BENCH_SOCKSERVE_JAVA_OPTS");
                if (extra != null && !extra.isBlank()) command.addAll(List.of(extra.trim().split("\\s+")));
            }
            command.addAll(List.of(
                    "--enable-native-access=ALL-UNNAMED",          // epoll's JNI library, sockserve's FFM bindings
                    "--sun-misc-unsafe-memory-access=allow",       // Netty's fast paths, as on the JDKs it targets
                    "-cp", classpath, Peers.class.getName(), server));
        }
        command.add(udp ? "udp" : "tcp");
        command.add("0");
        return start(new ProcessBuilder(command).redirectError(log.toFile()));
    }

    /** The taskset prefix: the last CPU for the generator, the others for the server (taskset execs, so the pid is the server's). */
    List<String> cpus(boolean generator) {
        if (!pin) return List.of();
        int last = Runtime.getRuntime().availableProcessors() - 1;
        return List.of("taskset", "-c", generator ? Integer.toString(last) : last == 1 ? "0" : "0-" + (last - 1));
    }

    static Process start(ProcessBuilder builder) throws IOException {
        Process p = builder.start();
        LIVE.add(p);
        return p;
    }

    /** Waits for "READY port" on the server's standard output, then drains the rest. */
    static int awaitReady(Process process, String server, Path log) throws Exception {
        var lines = new LinkedBlockingQueue<String>();
        Thread.ofVirtual().start(() -> {
            try (var r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) lines.add(line);
            } catch (IOException ignored) {
                // the process was killed
            }
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            String line = lines.poll(100, TimeUnit.MILLISECONDS);
            if (line != null && line.startsWith("READY ")) return Integer.parseInt(line.substring(6).trim());
            if (line == null && !process.isAlive()) throw new IOException(server + " exited with " + process.exitValue() + " before READY, see " + log);
        }
        throw new IOException(server + " not READY in 30 s, see " + log);
    }

    static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
            p.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LIVE.remove(p);
    }

    static void killAll() {
        for (Process p : LIVE) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }

    /** The load generator process, asked one command at a time. */
    final class Generator implements AutoCloseable {
        final Process process;
        final PrintWriter commands;
        final BlockingQueue<String> answers = new LinkedBlockingQueue<>();

        Generator() throws IOException, InterruptedException {
            var command = new ArrayList<>(cpus(true));
            command.addAll(List.of(java.toString(), "-cp", classpath, LoadGenerator.class.getName(), "--threads", Integer.toString(genThreads)));
            process = start(new ProcessBuilder(command).redirectError(out.resolve("logs").resolve("generator.log").toFile()));
            commands = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
            Thread.ofVirtual().start(() -> {
                try (var r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) answers.add(line);
                } catch (IOException ignored) {
                    // killed
                }
            });
            String hello = answers.poll(30, TimeUnit.SECONDS);
            if (hello == null || !hello.startsWith("READY")) throw new IOException("load generator did not start: " + hello);
        }

        String ask(String command, Duration timeout) throws Exception {
            answers.clear();
            commands.println(command);
            String answer = answers.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (answer == null) {
                // Stuck (or starved: 10,000 Python threads can take every CPU). The step's server is
                // killed first, then this generator is replaced before the next step.
                stale = true;
                throw new IOException("load generator gave no answer in " + timeout.toSeconds() + " s");
            }
            return answer;
        }

        boolean stale;

        boolean alive() {
            return process.isAlive() && !stale;
        }

        @Override public void close() {
            commands.println("quit");
            try {
                process.waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            kill(process);
        }
    }
}
