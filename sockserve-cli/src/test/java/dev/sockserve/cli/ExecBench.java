package dev.sockserve.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A benchmark, not a test (no assertions, never run by surefire): the same program, {@code cat}, served
 * per connection by {@code tcpserver -R -H -l0}, {@code socat TCP-LISTEN:...,fork,reuseaddr EXEC:cat} and
 * {@code sockserve exec}, on loopback, in one run. Three figures each: new connections per second (16
 * loops of connect, one byte there and back, close), round trips per second on one connection (64 bytes),
 * and MB/s through cat on one connection (64 KiB writes from a direct buffer, read back concurrently).
 *
 * <p>Run it with {@code sockserve-cli/bench-exec}; arguments: seconds per figure (default 5), rounds
 * (default 3). The three servers run side by side; each round measures each of them in turn, in a rotated
 * order, and the median round is reported, since a shared machine's load changes from minute to minute.
 */
public final class ExecBench {

    private static final String LOOPBACK = "127.0.0.1";

    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 5;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        String java = ProcessHandle.current().info().command().orElse("java");
        String classPath = System.getProperty("java.class.path");
        List<String> names = List.of("tcpserver", "socat", "sockserve");
        Map<String, Integer> ports = new LinkedHashMap<>();
        List<Process> servers = new ArrayList<>();
        try {
            for (String name : names) {
                int port = freePort();
                List<String> command = switch (name) {
                    case "tcpserver" -> List.of("tcpserver", "-R", "-H", "-l0", "-c", "100", LOOPBACK,
                            String.valueOf(port), "cat");
                    case "socat" -> List.of("socat", "TCP-LISTEN:" + port + ",bind=" + LOOPBACK
                            + ",fork,reuseaddr,backlog=1024", "EXEC:cat");
                    default -> List.of(java, "--enable-native-access=ALL-UNNAMED", "--add-opens",
                            "java.base/sun.nio.ch=ALL-UNNAMED", "-cp", classPath, "dev.sockserve.cli.Sockserve", "exec",
                            "-c", "100", "--listen", "tcp://" + LOOPBACK + ":" + port, "--", "cat");
                };
                servers.add(new ProcessBuilder(command).redirectErrorStream(true)
                        .redirectOutput(Path.of(System.getProperty("java.io.tmpdir"), "exec-bench-" + name + ".log").toFile())
                        .start());
                awaitListening(port);
                warmUp(port);
                ports.put(name, port);
            }
            // the machine is shared: rounds interleave the servers, and the median of the rounds is reported
            Map<String, List<double[]>> results = new LinkedHashMap<>();
            for (int round = 0; round < rounds; round++) {
                for (int i = 0; i < names.size(); i++) {
                    String name = names.get((i + round) % names.size());
                    int port = ports.get(name);
                    double[] figures = {connectsPerSecond(port, seconds), roundTripsPerSecond(port, seconds),
                        megabytesPerSecond(port, seconds)};
                    results.computeIfAbsent(name, k -> new ArrayList<>()).add(figures);
                    System.out.printf(Locale.ROOT, "round %d %-10s %10s conn/s %10s round trips/s %8s MB/s%n", round + 1,
                            name, fmt(figures[0]), fmt(figures[1]), fmt(figures[2]));
                }
            }
            System.out.println();
            System.out.println("| server | new connections/s | round trips/s (1 connection, 64 B) | MB/s through cat (64 KiB) |");
            System.out.println("|---|---:|---:|---:|");
            for (String name : names) {
                StringBuilder row = new StringBuilder("| " + name + " |");
                for (int f = 0; f < 3; f++) {
                    final int figure = f;
                    double[] values = results.get(name).stream().mapToDouble(r -> r[figure]).sorted().toArray();
                    row.append(' ').append(fmt(values[values.length / 2]));
                    if (values.length > 1) {
                        row.append(" (").append(fmt(values[0])).append("–").append(fmt(values[values.length - 1])).append(')');
                    }
                    row.append(" |");
                }
                System.out.println(row);
            }
            System.out.println();
            System.out.println("median of " + rounds + " rounds (lowest–highest), " + seconds + " s per figure");
        } finally {
            for (Process server : servers) {
                server.destroy();
                server.waitFor();
            }
        }
    }

    private static String fmt(double value) {
        return String.format(Locale.ROOT, "%,.0f", value);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getByName(LOOPBACK))) {
            return s.getLocalPort();
        }
    }

    private static void awaitListening(int port) throws Exception {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(LOOPBACK, port), 1000);
                return;
            } catch (IOException notYet) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("no server on port " + port + " after 20 s");
                }
                Thread.sleep(50);
            }
        }
    }

    private static void warmUp(int port) throws Exception {
        connectsPerSecond(port, 1);
        roundTripsPerSecond(port, 1);
    }

    private static void oneByteThereAndBack(int port) throws IOException {
        try (Socket s = new Socket(LOOPBACK, port)) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write('x');
            if (s.getInputStream().read() != 'x') {
                throw new IOException("no echo");
            }
        }
    }

    private static double connectsPerSecond(int port, double seconds) throws Exception {
        AtomicLong done = new AtomicLong();
        long end = System.nanoTime() + (long) (seconds * 1e9);
        List<Thread> loops = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < 16; i++) {
            loops.add(Thread.ofPlatform().start(() -> {
                while (System.nanoTime() < end) {
                    try {
                        oneByteThereAndBack(port);
                        done.incrementAndGet();
                    } catch (IOException e) {
                        System.err.println("connect loop: " + e);
                    }
                }
            }));
        }
        for (Thread t : loops) {
            t.join();
        }
        return done.get() / ((System.nanoTime() - start) / 1e9);
    }

    private static double roundTripsPerSecond(int port, double seconds) throws IOException {
        try (Socket s = new Socket(LOOPBACK, port)) {
            s.setTcpNoDelay(true);
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            byte[] message = new byte[64];
            byte[] reply = new byte[64];
            long count = 0;
            long start = System.nanoTime();
            long end = start + (long) (seconds * 1e9);
            while (System.nanoTime() < end) {
                out.write(message);
                int got = 0;
                while (got < reply.length) {
                    int n = in.read(reply, got, reply.length - got);
                    if (n < 0) {
                        throw new IOException("closed early");
                    }
                    got += n;
                }
                count++;
            }
            return count / ((System.nanoTime() - start) / 1e9);
        }
    }

    /** One connection: a writer sends 64 KiB messages from a direct buffer, the reader counts what comes back. */
    private static double megabytesPerSecond(int port, double seconds) throws Exception {
        try (SocketChannel channel = SocketChannel.open(new InetSocketAddress(LOOPBACK, port))) {
            AtomicLong received = new AtomicLong();
            long start = System.nanoTime();
            long end = start + (long) (seconds * 1e9);
            Thread writer = Thread.ofPlatform().start(() -> {
                ByteBuffer message = ByteBuffer.allocateDirect(64 * 1024);
                try {
                    while (System.nanoTime() < end) {
                        message.clear();
                        while (message.hasRemaining()) {
                            channel.write(message);
                        }
                    }
                    channel.shutdownOutput();
                } catch (IOException e) {
                    System.err.println("bulk writer: " + e);
                }
            });
            ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
            for (int n; (n = channel.read(buffer.clear())) > 0; ) {
                received.addAndGet(n);
            }
            writer.join();
            return received.get() / 1e6 / ((System.nanoTime() - start) / 1e9);
        }
    }
}
