package dev.sockserve.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
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
 * java dev.sockserve.bench.Driver [--quick] [--rounds N] [--pin] [--warmup MS] [--measure MS]
 *                                 [--scenarios a,b] [--servers x,y] [--out DIR]
 * </pre>
 *
 * The load generator is the native one ({@code loadgen}, C with epoll) in every scenario but the
 * cross-check, which runs pingpong-64 with the Java one ({@link LoadGenerator}). Every server listens on
 * a port the driver chose and is ready once it has answered the driver's first echo (the start-up
 * time). No process outlives the run: every child is killed when its step ends, and a shutdown hook
 * kills whatever is left on an exception or Ctrl-C.
 */
public final class Driver {
    /** Which servers a scenario runs: the echo servers, or the exec servers (a program per connection). */
    enum Group { ECHO, EXEC }

    /**
     * A scenario: what the generator runs ("startup": the driver alone), with how many connections, over
     * which protocol, against which servers, with which generator ("c" or "java").
     */
    record Scenario(String name, String generatorScenario, int connections, boolean udp, Group group, String generator) {
        Scenario(String name, String generatorScenario, int connections, boolean udp) {
            this(name, generatorScenario, connections, udp, Group.ECHO, "c");
        }

        boolean startup() {
            return generatorScenario.equals("startup");
        }

        boolean idle() {
            return generatorScenario.equals("idle");
        }
    }

    /** As many idle connections as one process may open: its descriptor limit, less what a server needs besides. */
    static final int IDLE_MAX = idleMax();

    static final List<Scenario> SCENARIOS = List.of(
            new Scenario("pingpong-1", "pingpong", 1, false),
            new Scenario("pingpong-64", "pingpong", 64, false),
            new Scenario("pingpong-1000", "pingpong", 1000, false),
            new Scenario("pingpong-10000", "pingpong", 10_000, false),
            new Scenario("bulk", "bulk", 8, false),
            new Scenario("paced", "paced", 1000, false),
            new Scenario("connect", "connect", 16, false),
            new Scenario("udp", "udp", 16, true),
            new Scenario("idle", "idle", 10_000, false),
            new Scenario("idle-max", "idle", IDLE_MAX, false),
            new Scenario("startup", "startup", 0, false),
            new Scenario("pingpong-64-java", "pingpong", 64, false, Group.ECHO, "java"),
            new Scenario("exec-connect", "connect", 16, false, Group.EXEC, "c"),
            new Scenario("exec-pingpong", "pingpong", 16, false, Group.EXEC, "c"),
            new Scenario("exec-bulk", "bulk", 8, false, Group.EXEC, "c"),
            new Scenario("exec-startup", "startup", 0, false, Group.EXEC, "c"));

    /** The echo servers: the JVM peers of {@link Peers}, and those started here (see {@link #serverCommand}). */
    static final List<String> ECHO_KINDS;
    /** The exec servers: a program (cat) per connection. */
    static final List<String> EXEC_KINDS = List.of("tcpserver", "sockserve-exec");
    static final List<String> ALL_KINDS;
    static {
        var kinds = new ArrayList<>(List.of("netty-epoll", "netty-iouring", "c-epoll", "sockserve", "sockserve-recorded"));
        Peers.KINDS.stream().filter(k -> !kinds.contains(k)).forEach(kinds::add);
        kinds.add("python");
        ECHO_KINDS = List.copyOf(kinds);
        kinds.addAll(EXEC_KINDS);
        ALL_KINDS = List.copyOf(kinds);
    }
    /** Servers that run in the udp scenario only (sockserve's synchronous library policy). */
    static final List<String> UDP_ONLY_KINDS = List.of("sockserve-lib-sync");
    /** A full run's servers: the bar, the newest Linux I/O, the physical limit, the product, its library, exec and its reference. */
    static final List<String> DEFAULT_SERVERS = List.of("netty-epoll", "netty-iouring", "c-epoll", "sockserve", "sockserve-lib",
            "tcpserver", "sockserve-exec");

    /** One step's outcome: the figures, or an error. */
    record Row(int round, String scenario, String server, Map<String, String> figures, String error) {}

    static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    final String classpath = System.getProperty("java.class.path");
    final Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    final Path python = Path.of(System.getProperty("bench.python", "sockserve-bench/src/main/python/echo_server.py"));
    final Path nativeDir = Path.of(System.getProperty("bench.native", "sockserve-bench/target/native"));
    final Path launcher = Path.of(System.getProperty("bench.launcher", "sockserve")).toAbsolutePath();
    Path out = Path.of("results");
    int rounds = 2;
    /**
     * Whether the generator gets the last CPU and the server the others (taskset), with --pin. Off by
     * default: on this shared 2-core VM another session's busy process on one CPU then starves
     * whichever of the two is pinned there (figures fell five- to tenfold), while unpinned the
     * scheduler moves us away from it.
     */
    boolean pin = false;
    long warmupMs = 1000, measureMs = 2500;
    List<Scenario> scenarios = SCENARIOS;
    List<String> servers = DEFAULT_SERVERS;

    public static void main(String[] args) throws Exception {
        var driver = new Driver();
        driver.parse(args);
        Runtime.getRuntime().addShutdownHook(new Thread(Driver::killAll, "bench-kill-children"));
        driver.run();
    }

    static int idleMax() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    long soft = Long.parseLong(line.substring(26).trim().split("\\s+")[0]);
                    return (int) Math.max(1000, Math.min(100_000, (soft - 500) / 500 * 500));
                }
            }
        } catch (IOException | RuntimeException e) {
            // the spec's count, below
        }
        return 10_000;
    }

    void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> { rounds = 1; warmupMs = 200; measureMs = 500; }
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
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
                    if (!ALL_KINDS.containsAll(servers)) {
                        throw new IllegalArgumentException("servers are " + ALL_KINDS + " (" + UDP_ONLY_KINDS + " in udp only)");
                    }
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + "; options: --quick --rounds N --pin --warmup MS --measure MS --scenarios a,b --servers x,y --out DIR");
            }
        }
    }

    void run() throws Exception {
        Files.createDirectories(out.resolve("logs"));
        Instant started = Instant.now();
        String loadBefore = loadAverage();
        int steps = rounds * scenarios.stream().mapToInt(s -> serversOf(s).size()).sum(), step = 0;
        System.out.printf("bench: %d rounds x %d scenarios x up to %d servers = %d steps; warm-up %d ms, measure %d ms; %s%n",
                rounds, scenarios.size(), servers.size(), steps, warmupMs, measureMs,
                pin ? "generator on CPU " + cpus(true).get(2) + ", server on CPU " + cpus(false).get(2) : "not pinned");
        var rows = new ArrayList<Row>();
        var generators = new LinkedHashMap<String, Generator>();
        try {
            for (int round = 1; round <= rounds; round++) {
                for (Scenario scenario : scenarios) {
                    // Each round starts with a different server, so none is always first after a pause.
                    List<String> these = serversOf(scenario);
                    for (int k = 0; k < these.size(); k++) {
                        String server = these.get((k + round - 1) % these.size());
                        step++;
                        long stepStarted = System.nanoTime();
                        Generator generator = null;
                        if (!scenario.startup()) {
                            generator = generators.get(scenario.generator);
                            if (generator == null || !generator.alive()) {
                                if (generator != null) generator.close();
                                generator = new Generator(scenario.generator);
                                generators.put(scenario.generator, generator);
                            }
                        }
                        Row row = step(generator, round, scenario, server);
                        rows.add(row);
                        System.out.printf("[%3d/%d %s] round %d %-16s %-14s %s (step %.1f s)%n", step, steps,
                                clock(Duration.between(started, Instant.now())), round, scenario.name, server, Report.describe(row),
                                (System.nanoTime() - stepStarted) / 1e9);
                    }
                }
            }
        } finally {
            generators.values().forEach(Generator::close);
        }
        var report = new Report(rows, scenarios, servers, pin, warmupMs, measureMs, Duration.between(started, Instant.now()),
                "load average " + loadBefore + " at the start, " + loadAverage() + " at the end");
        report.write(out);
        System.out.println("bench: wrote " + out.resolve("results.md") + ", results.csv and charts in "
                + clock(Duration.between(started, Instant.now())));
    }

    List<String> serversOf(Scenario scenario) {
        return servers.stream().filter(k -> runs(k, scenario)).toList();
    }

    static boolean runs(String server, Scenario scenario) {
        if (scenario.group == Group.EXEC) return EXEC_KINDS.contains(server);
        if (EXEC_KINDS.contains(server)) return false;
        return scenario.udp || !UDP_ONLY_KINDS.contains(server);
    }

    /** The machine's 1, 5 and 15 minute load averages: how busy the other sessions kept it. */
    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return f[0] + " / " + f[1] + " / " + f[2];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    static String clock(Duration d) {
        return String.format("%d:%02d", d.toMinutes(), d.toSecondsPart());
    }

    Row step(Generator generator, int round, Scenario scenario, String server) {
        Process process = null;
        Path log = out.resolve("logs").resolve(server + "-" + scenario.name + "-r" + round + ".log");
        try {
            int port = freePort(scenario.udp);
            long started = System.nanoTime();
            process = start(new ProcessBuilder(serverCommand(server, scenario.udp, port)).redirectErrorStream(true)
                    .redirectOutput(log.toFile()));
            long firstEcho = awaitFirstEcho(process, server, port, scenario.udp, log) - started;
            if (server.equals("sockserve-recorded")) {
                record(process, log);
            }
            var figures = new LinkedHashMap<String, String>();
            if (scenario.startup()) {
                Thread.sleep(1000); // idle: what it holds once its start-up work is over
                figures.put("first_echo_ms", String.format(Locale.ROOT, "%.1f", firstEcho / 1e6));
                figures.put("rss_kib", Long.toString(treeStatus(process, "VmRSS")));
                figures.put("rss_anon_kib", Long.toString(treeStatus(process, "RssAnon"))); // without the mapped files (libjvm, CDS/AOT)
                figures.put("threads", Long.toString(treeStatus(process, "Threads")));
            } else {
                String command = String.join(" ", "run", scenario.generatorScenario, Integer.toString(port),
                        Integer.toString(scenario.connections), Long.toString(warmupMs), Long.toString(measureMs),
                        Long.toString(process.pid()));
                // Opening takes at most 30 s (the generator's own limit): past that something is stuck.
                String answer = generator.ask(command, Duration.ofMillis(warmupMs + measureMs).plusSeconds(45));
                if (!answer.startsWith("RESULT")) return new Row(round, scenario.name, server, Map.of(), answer);
                for (String kv : answer.substring("RESULT".length()).trim().split(" ")) {
                    int eq = kv.indexOf('=');
                    figures.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
            }
            if (!process.isAlive()) return new Row(round, scenario.name, server, Map.of(), "server died, see " + log);
            return new Row(round, scenario.name, server, figures, null);
        } catch (Exception e) {
            return new Row(round, scenario.name, server, Map.of(), e.getMessage() == null ? e.toString() : e.getMessage());
        } finally {
            if (process != null) kill(process);
        }
    }

    /**
     * How each server is started. The shipped command runs through its launcher exactly as a user starts
     * it, with its defaults; of the JVM peers only the library rows get sockserve's recommended settings.
     */
    List<String> serverCommand(String server, boolean udp, int port) {
        String protocol = udp ? "udp" : "tcp";
        List<String> command = new ArrayList<>(cpus(false));
        switch (server) {
            case "python" -> command.addAll(List.of("python3", "-u", python.toString(), protocol, Integer.toString(port)));
            case "c-epoll" -> command.addAll(List.of(nativeDir.resolve("echo").toString(), protocol, Integer.toString(port)));
            case "sockserve" -> {
                command.addAll(List.of(launcher.toString(), "echo", "--listen", protocol + "://127.0.0.1:" + port));
                String extra = System.getenv("BENCH_SOCKSERVE_ARGS"); // the command's flags, for trying other settings
                if (extra != null && !extra.isBlank()) command.addAll(List.of(extra.trim().split("\\s+")));
            }
            // the same command watched (issue 14): --metrics serving, and a recording (see record)
            case "sockserve-recorded" -> command.addAll(List.of(launcher.toString(), "echo", "--listen",
                    protocol + "://127.0.0.1:" + port, "--metrics", "tcp://127.0.0.1:0"));
            case "sockserve-exec" -> command.addAll(List.of(launcher.toString(), "exec", "--listen", "tcp://127.0.0.1:" + port, "--", "cat"));
            // -H -R -l 0: no DNS or ident look-ups (sockserve exec makes none)
            case "tcpserver" -> command.addAll(List.of("tcpserver", "-q", "-H", "-R", "-l", "0", "127.0.0.1", Integer.toString(port), "cat"));
            default -> {
                command.add(java.toString());
                if (server.startsWith("sockserve-lib")) {
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
                        "--enable-native-access=ALL-UNNAMED",          // epoll's and io_uring's JNI libraries, sockserve's FFM bindings
                        "--sun-misc-unsafe-memory-access=allow",       // Netty's fast paths, as on the JDKs it targets
                        "-cp", classpath, Peers.class.getName(), server, protocol, Integer.toString(port)));
            }
        }
        return command;
    }

    /**
     * sockserve-recorded's Flight Recorder recording, started as an operator starts one on a running server
     * ({@code jcmd PID JFR.start}; one started with the JVM would cost the command its ahead-of-time cache, which
     * the JVM refuses once JFR adds its module), with the JDK's default settings, which enable the core's events;
     * BENCH_JFR_SETTINGS names others (sockserve-bench/src/main/jfr/sockserve-only.jfc: the core's events alone).
     * Its files go to the run's logs.
     */
    void record(Process process, Path log) throws IOException, InterruptedException {
        Path repository = out.resolve("logs").resolve("jfr-" + process.pid()).toAbsolutePath();
        Files.createDirectories(repository);
        String settings = System.getenv().getOrDefault("BENCH_JFR_SETTINGS", "default");
        for (String action : List.of("JFR.configure repositorypath=" + repository, "JFR.start settings=" + settings)) {
            List<String> command = new ArrayList<>(List.of(java.resolveSibling("jcmd").toString(), Long.toString(process.pid())));
            command.addAll(List.of(action.split(" ")));
            Process jcmd = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
            if (!jcmd.waitFor(60, TimeUnit.SECONDS) || jcmd.exitValue() != 0) {
                jcmd.destroyForcibly();
                throw new IOException("jcmd " + action + " failed, see " + log);
            }
        }
    }

    static int freePort(boolean udp) throws IOException {
        if (udp) {
            try (var s = new java.net.DatagramSocket(0, Peers.LOOPBACK)) {
                return s.getLocalPort();
            }
        }
        try (var s = new java.net.ServerSocket(0, 1, Peers.LOOPBACK)) {
            return s.getLocalPort();
        }
    }

    /**
     * Waits until the server answers one echo (a byte over a fresh connection, or a datagram), at most
     * 30 s; returns System.nanoTime() at the answer. A server that exited fails the step, with its
     * "UNAVAILABLE ..." line when it wrote one (the io_uring peer where the kernel refuses io_uring).
     */
    static long awaitFirstEcho(Process process, String server, int port, boolean udp, Path log) throws Exception {
        var address = new InetSocketAddress(Peers.LOOPBACK, port);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        byte[] reply = new byte[1];
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                process.waitFor();
                String why = Files.readAllLines(log).stream().filter(l -> l.startsWith("UNAVAILABLE")).findFirst()
                        .orElse(server + " exited with " + process.exitValue() + " before answering, see " + log);
                throw new IOException(why);
            }
            try {
                if (udp) {
                    try (var s = new java.net.DatagramSocket()) {
                        s.setSoTimeout(20);
                        s.connect(address);
                        s.send(new java.net.DatagramPacket(new byte[] {'?'}, 1));
                        s.receive(new java.net.DatagramPacket(reply, 1));
                        return System.nanoTime();
                    }
                }
                try (var s = new java.net.Socket()) {
                    s.connect(address, 1000);
                    s.setSoTimeout(5000);
                    s.setTcpNoDelay(true);
                    s.getOutputStream().write('?');
                    if (s.getInputStream().read(reply) == 1) return System.nanoTime();
                }
            } catch (IOException notYet) {
                Thread.sleep(1);
            }
        }
        throw new IOException(server + " gave no echo in 30 s, see " + log);
    }

    /** A /proc/PID/status number (kB for memory) summed over the process and every process below it. */
    static long treeStatus(Process process, String field) throws IOException {
        long total = LoadGenerator.procStatus(process.pid(), field);
        for (ProcessHandle p : process.descendants().toList()) {
            try {
                total += LoadGenerator.procStatus(p.pid(), field);
            } catch (IOException ended) {
                // gone meanwhile
            }
        }
        return total;
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

    /** A load generator process ("c": the native one, "java": {@link LoadGenerator}), asked one command at a time. */
    final class Generator implements AutoCloseable {
        final Process process;
        final PrintWriter commands;
        final BlockingQueue<String> answers = new LinkedBlockingQueue<>();
        boolean stale;

        Generator(String kind) throws IOException, InterruptedException {
            var command = new ArrayList<>(cpus(true));
            if (kind.equals("c")) command.add(nativeDir.resolve("loadgen").toString());
            else command.addAll(List.of(java.toString(), "-cp", classpath, LoadGenerator.class.getName(), "--threads", "1"));
            process = start(new ProcessBuilder(command).redirectError(out.resolve("logs").resolve("generator-" + kind + ".log").toFile()));
            commands = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
            Thread.ofVirtual().start(() -> {
                try (var r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) answers.add(line);
                } catch (IOException ignored) {
                    // killed
                }
            });
            String hello = answers.poll(30, TimeUnit.SECONDS);
            if (hello == null || !hello.startsWith("READY")) throw new IOException("load generator " + kind + " did not start: " + hello);
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
