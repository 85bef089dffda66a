package dev.sockserve.bench.tls;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * The TLS scenarios against TLS echo servers, each its own process, interleaved round by round:
 * {@code tls-handshake} (new full TLS 1.3 handshakes per second, ECDSA P-256, 4 loops), {@code
 * tls-pingpong-64} (64 connections, 64 B round trips) and {@code tls-bulk} (8 connections, 64 KiB
 * writes echoed back). Servers: the shipped command ({@code sockserve echo --listen tls://}), {@code
 * sockserve forward} in front of the plain echo, Netty's SslHandler with the JDK provider and with
 * BoringSSL, and stunnel in front of the plain echo. The generator is Java (JSSE client sockets): its own
 * CPU per operation is reported, and where it ran above 0.8 of a core the row's throughput is the
 * generator's, so the server's CPU per operation judges it.
 *
 * <p>{@code TlsBench ROOT WORKDIR CLASSPATH [rounds] [seconds]}: ROOT is the repository (for ./sockserve).
 */
public final class TlsBench {

    static final List<String> SCENARIOS = List.of(System.getProperty("tls.scenarios", "tls-handshake,tls-pingpong-64,tls-bulk").split(","));
    static final List<String> SERVERS = List.of(System.getProperty("tls.servers", "sockserve,sockserve-forward,sockserve-boringssl,sockserve-forward-boringssl,netty-jdk,netty-boringssl,stunnel").split(","));

    /** The longest warm-up of one step; a step's warm-up ends sooner once its rate stops rising. */
    static final double MAX_WARMUP_SECONDS = Double.parseDouble(System.getProperty("tls.warmup", "20"));
    /**
     * The shortest warm-up of one step: 40 s for tls-handshake, none for the others, unless tls.minwarmup
     * says. Under handshake load the JVM servers' C2 still compiles JSSE after the flatness rule has ended the
     * warm-up (5 to 8 s): at 7 s the command and Netty-JDK spent 1.5 ms of CPU per handshake, at 40 s 0.65 to
     * 0.72 ms (RESULTS-TLS.md). Handshakes per second is a server's steady-state figure.
     */
    static double minWarmupSeconds(String scenario) {
        String given = System.getProperty("tls.minwarmup");
        return given != null ? Double.parseDouble(given) : scenario.equals("tls-handshake") ? 40 : 0;
    }

    record Row(String scenario, String server, double opsPerSecond, double serverCpuPerOp, double generatorCpuPerOp,
            double generatorCores, double warmupSeconds) {
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]);
        Path work = Path.of(args[1]);
        String classpath = args[2];
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        int seconds = args.length > 4 ? Integer.parseInt(args[4]) : 5;
        Path cert = work.resolve("cert.pem");
        Path key = work.resolve("key.pem");
        SSLContext client = clientContext(cert);
        Map<String, List<Row>> rows = new LinkedHashMap<>();
        // the generator's own warm-up: each scenario once, unmeasured, so the first server measured is not
        // the one that meets a cold generator
        for (String scenario : SCENARIOS) {
            try (Server s = Server.start(SERVERS.getFirst(), root, work, classpath, cert, key)) {
                if (s != null) {
                    Row row = run(scenario, SERVERS.getFirst(), s, client, 1);
                    System.out.printf(Locale.ROOT, "generator warm-up %-16s %.0f ops/s%n", scenario, row.opsPerSecond());
                }
            }
        }
        for (int round = 0; round < rounds; round++) {
            for (String scenario : SCENARIOS) {
                List<String> order = new ArrayList<>(SERVERS);
                if (round % 2 == 1) {
                    java.util.Collections.reverse(order); // neither server always goes first
                }
                for (String server : order) {
                    try (Server s = Server.start(server, root, work, classpath, cert, key)) {
                        if (s == null) {
                            continue;
                        }
                        Row row = run(scenario, server, s, client, seconds);
                        rows.computeIfAbsent(scenario + "/" + server, k -> new ArrayList<>()).add(row);
                        System.out.printf(Locale.ROOT, "round %d %-16s %-18s %12.0f ops/s  server %8.1f us/op  generator %6.1f us/op (%.2f cores)  warm-up %.0f s  load %s%n",
                                round + 1, scenario, server, row.opsPerSecond(), row.serverCpuPerOp() * 1e6,
                                row.generatorCpuPerOp() * 1e6, row.generatorCores(), row.warmupSeconds(), load());
                    }
                }
            }
        }
        Files.writeString(work.resolve("tls-results.md"), report(rows, rounds, seconds));
        System.out.println(Files.readString(work.resolve("tls-results.md")));
    }

    static String report(Map<String, List<Row>> rows, int rounds, int seconds) {
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "TLS scenarios, %d round(s) of %d s measured after each server's warm-up (until "
                + "its rate stops rising and its CPU per operation stops falling, from %.0f s (tls-handshake: %.0f s) to %.0f s), medians; ratios to netty-jdk in the same run "
                + "(throughput: higher is better; server CPU per operation: lower is better). * : the generator ran above "
                + "0.8 of a core, so throughput is the generator's and the CPU per operation judges the server.%n%n", rounds, seconds, minWarmupSeconds("tls-pingpong-64"),
                minWarmupSeconds("tls-handshake"), Math.max(minWarmupSeconds("tls-handshake"), MAX_WARMUP_SECONDS)));
        for (String scenario : SCENARIOS) {
            out.append("| ").append(scenario).append(" | ops/s | x netty-jdk | server CPU/op (us) | x netty-jdk | generator CPU/op (us) | warm-up (s) |\n");
            out.append("|---|---:|---:|---:|---:|---:|---:|\n");
            Row base = median(rows.get(scenario + "/netty-jdk"));
            for (String server : SERVERS) {
                Row r = median(rows.get(scenario + "/" + server));
                if (r == null) {
                    out.append("| ").append(server).append(" | unavailable | | | | | |\n");
                    continue;
                }
                out.append(String.format(Locale.ROOT, "| %s | %.0f%s | %s | %.1f | %s | %.1f | %.0f |%n", server, r.opsPerSecond(),
                        r.generatorCores() > 0.8 ? "*" : "", base == null ? "" : String.format(Locale.ROOT, "%.2f", r.opsPerSecond() / base.opsPerSecond()),
                        r.serverCpuPerOp() * 1e6, base == null ? "" : String.format(Locale.ROOT, "%.2f", r.serverCpuPerOp() / base.serverCpuPerOp()),
                        r.generatorCpuPerOp() * 1e6, r.warmupSeconds()));
            }
            out.append('\n');
        }
        return out.toString();
    }

    static Row median(List<Row> list) {
        if (list == null || list.isEmpty()) {
            return null;
        }
        List<Row> sorted = new ArrayList<>(list);
        sorted.sort(java.util.Comparator.comparingDouble(Row::opsPerSecond));
        Row mid = sorted.get(sorted.size() / 2);
        double cpu = list.stream().mapToDouble(Row::serverCpuPerOp).sorted().toArray()[list.size() / 2];
        return new Row(mid.scenario(), mid.server(), mid.opsPerSecond(), cpu, mid.generatorCpuPerOp(), mid.generatorCores(),
                mid.warmupSeconds());
    }

    static SSLContext clientContext(Path cert) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        try (InputStream in = Files.newInputStream(cert)) {
            store.setCertificateEntry("server", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance("PKIX");
        trust.init(store);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        return context;
    }

    /**
     * One scenario against one server: warm-up, then the measured window; CPU read from /proc before and after.
     * The warm-up lasts until the server is warm: two seconds in a row with neither a rate a tenth above the
     * best second so far nor a server CPU per operation a tenth below its best (a JVM's JIT takes seconds,
     * on a busy machine tens of seconds, to compile JSSE, and its compiler's CPU counts as the server's),
     * from {@link #minWarmupSeconds} to {@link #MAX_WARMUP_SECONDS}. The same rule for every server.
     */
    static Row run(String scenario, String name, Server server, SSLContext client, int seconds) throws Exception {
        var ops = new LongAdder();
        var stop = new AtomicBoolean();
        var warm = new AtomicBoolean();
        int loops = switch (scenario) {
            case "tls-handshake" -> 4;
            case "tls-pingpong-64" -> 64;
            default -> 8;
        };
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < loops; i++) {
            threads.add(Thread.ofPlatform().daemon(true).start(() -> {
                try {
                    switch (scenario) {
                        case "tls-handshake" -> handshakes(server.port(), client, stop, warm, ops);
                        case "tls-pingpong-64" -> pingpong(server.port(), client, stop, warm, ops, 64);
                        default -> pingpong(server.port(), client, stop, warm, ops, 64 * 1024);
                    }
                } catch (IOException e) {
                    if (!stop.get()) {
                        System.err.println(name + " " + scenario + ": " + e);
                    }
                }
            }));
        }
        long warmupStart = System.nanoTime();
        double best = 0;
        double bestCpu = Double.MAX_VALUE;
        int flat = 0; // seconds in a row with neither a new high rate nor a new low server CPU per operation
        double minimum = minWarmupSeconds(scenario);
        while ((flat < 2 || (System.nanoTime() - warmupStart) / 1e9 < minimum)
                && (System.nanoTime() - warmupStart) / 1e9 < Math.max(MAX_WARMUP_SECONDS, minimum)) {
            long before = ops.sum();
            double cpuBefore = server.cpuSeconds();
            TimeUnit.SECONDS.sleep(1);
            double rate = ops.sum() - before;
            double cpuPerOp = rate == 0 ? Double.MAX_VALUE : (server.cpuSeconds() - cpuBefore) / rate;
            boolean better = rate == 0 || rate > best * 1.1 || cpuPerOp < bestCpu * 0.9;
            best = Math.max(best, rate);
            bestCpu = Math.min(bestCpu, cpuPerOp);
            flat = better ? 0 : flat + 1;
        }
        double warmupSeconds = (System.nanoTime() - warmupStart) / 1e9;
        warm.set(true);
        ops.reset();
        double serverBefore = server.cpuSeconds();
        double generatorBefore = generatorCpuSeconds();
        long start = System.nanoTime();
        TimeUnit.SECONDS.sleep(seconds); // the measured window
        long count = ops.sum();
        double elapsed = (System.nanoTime() - start) / 1e9;
        double serverCpu = server.cpuSeconds() - serverBefore;
        double generatorCpu = generatorCpuSeconds() - generatorBefore;
        stop.set(true);
        for (Thread t : threads) {
            t.join(5000);
        }
        double perOp = count == 0 ? Double.NaN : 1.0 / count;
        return new Row(scenario, name, count / elapsed, serverCpu * perOp, generatorCpu * perOp, generatorCpu / elapsed,
                warmupSeconds);
    }

    static String load() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
        } catch (IOException e) {
            return "?";
        }
    }

    static double generatorCpuSeconds() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime() / 1e9;
    }

    static void handshakes(int port, SSLContext client, AtomicBoolean stop, AtomicBoolean warm, LongAdder ops) throws IOException {
        while (!stop.get()) {
            try (var socket = (SSLSocket) client.getSocketFactory().createSocket("127.0.0.1", port)) {
                socket.setEnabledProtocols(new String[] {"TLSv1.3"});
                socket.startHandshake();
                socket.getSession().invalidate(); // the next one is a full handshake, never a resumption
            }
            ops.increment();
        }
    }

    static void pingpong(int port, SSLContext client, AtomicBoolean stop, AtomicBoolean warm, LongAdder ops, int size)
            throws IOException {
        try (var socket = (SSLSocket) client.getSocketFactory().createSocket("127.0.0.1", port)) {
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(10_000);
            byte[] message = new byte[size];
            byte[] back = new byte[size];
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            while (!stop.get()) {
                out.write(message);
                out.flush();
                int got = 0;
                while (got < size) {
                    int n = in.read(back, got, size - got);
                    if (n < 0) {
                        throw new IOException("closed");
                    }
                    got += n;
                }
                ops.increment();
            }
        }
    }

    /** A server process (and the plain echo behind it, for forward and stunnel). */
    record Server(List<Process> processes, int port) implements AutoCloseable {

        static Server start(String kind, Path root, Path work, String classpath, Path cert, Path key) throws Exception {
            String sockserve = root.resolve("sockserve").toString();
            return switch (kind) {
                case "sockserve", "sockserve-boringssl" -> {
                    int port = freePort();
                    Process p = launch(List.of(sockserve, "echo", "--listen", "tls://127.0.0.1:" + port, "--tls-cert",
                            cert.toString(), "--tls-key", key.toString(), "--tls-engine", engine(kind)), work, kind);
                    yield new Server(List.of(p), awaitPort(port));
                }
                case "sockserve-forward", "sockserve-forward-boringssl", "stunnel" -> {
                    int plain = freePort();
                    Process echo = launch(List.of(sockserve, "echo", "--listen", "tcp://127.0.0.1:" + plain), work, "echo");
                    awaitPort(plain);
                    int port = freePort();
                    Process front;
                    if (kind.equals("stunnel")) {
                        Path conf = work.resolve("stunnel.conf");
                        // syslog = no: without a syslog daemon stunnel's log lines for each connection went to the
                        // console (a serial port here), which cost it 4 ms of CPU a connection and slowed the machine
                        Files.writeString(conf, String.join("\n", "foreground = yes", "syslog = no", "pid =", "[echo]",
                                "accept = 127.0.0.1:" + port, "connect = 127.0.0.1:" + plain, "cert = " + cert, "key = " + key,
                                "sslVersionMin = TLSv1.2", ""));
                        front = launch(List.of("stunnel4", conf.toString()), work, "stunnel");
                    } else {
                        front = launch(List.of(sockserve, "forward", "--listen", "tls://127.0.0.1:" + port, "--tls-cert",
                                cert.toString(), "--tls-key", key.toString(), "--to", "tcp://127.0.0.1:" + plain, "-c", "10000",
                                "--tls-engine", engine(kind)), work, kind);
                    }
                    yield new Server(List.of(front, echo), awaitPort(port));
                }
                default -> {
                    String provider = kind.equals("netty-jdk") ? "jdk" : "openssl";
                    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                            "-cp", classpath, TlsPeer.class.getName(), provider, "0", cert.toString(), key.toString())
                            .redirectError(work.resolve(kind + ".log").toFile()).start();
                    String line = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.US_ASCII)).readLine();
                    if (line == null || !line.startsWith("READY ")) {
                        System.out.println(kind + ": " + line);
                        p.destroyForcibly().waitFor();
                        yield null;
                    }
                    yield new Server(List.of(p), Integer.parseInt(line.substring(6).strip()));
                }
            };
        }

        /** The command's --tls-engine for a server kind: the ...-boringssl rows run Conscrypt's BoringSSL. */
        static String engine(String kind) {
            return kind.endsWith("-boringssl") ? "boringssl" : "jdk";
        }

        static Process launch(List<String> command, Path work, String log) throws IOException {
            return new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(work.resolve(log + ".log").toFile())).start();
        }

        /** Benchmarks pick a port and hand it over (tests bind 0); waits until something listens there. */
        static int freePort() throws IOException {
            try (ServerSocket s = new ServerSocket(0)) {
                return s.getLocalPort();
            }
        }

        static int awaitPort(int port) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline) {
                try (var s = new java.net.Socket()) {
                    s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                    return port;
                } catch (IOException notYet) {
                    TimeUnit.MILLISECONDS.sleep(50);
                }
            }
            throw new IOException("nothing listens on " + port);
        }

        /** User plus system CPU of the processes and all below them, from /proc (clock ticks of 1/100 s). */
        double cpuSeconds() throws IOException {
            double total = 0;
            for (Process p : processes) {
                total += tree(p.toHandle());
            }
            return total;
        }

        private static double tree(ProcessHandle h) throws IOException {
            double sum = 0;
            try {
                String stat = Files.readString(Path.of("/proc", Long.toString(h.pid()), "stat"));
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                sum = (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
            } catch (java.nio.file.NoSuchFileException gone) {
                return 0;
            }
            for (ProcessHandle child : h.children().toList()) {
                sum += tree(child);
            }
            return sum;
        }

        @Override
        public void close() throws Exception {
            for (Process p : processes) {
                p.descendants().forEach(ProcessHandle::destroy);
                p.destroy();
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    p.destroyForcibly().waitFor();
                }
            }
        }
    }
}
