package dev.sockserve.bench;

import org.HdrHistogram.Histogram;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The Java load generator, kept as a cross-check of the native one ({@code src/main/c/loadgen.c}, which
 * runs every scenario): its own JVM, non-blocking (one {@link Selector} per thread, one or two
 * threads), kept alive across the steps of a run so that its own code is warm before any server is
 * measured.
 *
 * <p>It reads one command per line on standard input and answers each with one line on standard
 * output: {@code RESULT key=value ...}, or {@code ERROR message}.
 *
 * <pre>
 * run SCENARIO PORT CONNECTIONS WARMUP_MS MEASURE_MS SERVER_PID
 *   SCENARIO: pingpong (64-byte messages), bulk (64 KiB messages), connect, udp, idle
 * </pre>
 *
 * Run on its own: {@code java dev.sockserve.bench.LoadGenerator [--threads N]}.
 */
public final class LoadGenerator {
    static final int SMALL = 64;
    static final int BULK = 64 * 1024;
    /** Connections opening at once while a scenario sets up: paces the opening to the server's accept rate. */
    static final int OPEN_WINDOW = 256;
    static final long MAX_LATENCY_NS = TimeUnit.SECONDS.toNanos(30);

    final int threads;
    final ByteBuffer smallMessage = message(SMALL);
    final ByteBuffer bulkMessage = message(BULK);

    LoadGenerator(int threads) {
        this.threads = threads;
    }

    public static void main(String[] args) throws Exception {
        int threads = 1;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--threads")) threads = Integer.parseInt(args[++i]);
        }
        var generator = new LoadGenerator(threads);
        var in = new BufferedReader(new InputStreamReader(System.in));
        System.out.println("READY generator threads=" + threads);
        for (String line; (line = in.readLine()) != null; ) {
            String[] w = line.trim().split("\\s+");
            if (w.length == 0 || w[0].isEmpty()) continue;
            if (w[0].equals("quit")) break;
            try {
                if (!w[0].equals("run") || w.length != 7) throw new IllegalArgumentException("bad command: " + line);
                var spec = new Spec(w[1], new InetSocketAddress(Peers.LOOPBACK, Integer.parseInt(w[2])),
                        Integer.parseInt(w[3]), Long.parseLong(w[4]), Long.parseLong(w[5]), Long.parseLong(w[6]));
                Map<String, Object> result = generator.run(spec);
                var sb = new StringBuilder("RESULT");
                result.forEach((k, v) -> sb.append(' ').append(k).append('=').append(v));
                System.out.println(sb);
            } catch (Exception e) {
                System.out.println("ERROR " + e.toString().replace('\n', ' '));
            }
            System.out.flush();
        }
    }

    record Spec(String scenario, InetSocketAddress address, int connections, long warmupMs, long measureMs, long serverPid) {}

    Map<String, Object> run(Spec spec) throws Exception {
        return switch (spec.scenario) {
            case "pingpong" -> streams(spec, smallMessage);
            case "bulk" -> streams(spec, bulkMessage);
            case "connect" -> timed(spec, List.of(), Kind.CONNECT);
            case "udp" -> timed(spec, List.of(), Kind.UDP);
            case "idle" -> idle(spec);
            default -> throw new IllegalArgumentException("unknown scenario: " + spec.scenario);
        };
    }

    static ByteBuffer message(int size) {
        ByteBuffer b = ByteBuffer.allocateDirect(size);
        for (int i = 0; i < size; i++) b.put((byte) ('a' + i % 26));
        return b.flip().asReadOnlyBuffer();
    }

    // ---- scenarios ----

    Map<String, Object> streams(Spec spec, ByteBuffer message) throws Exception {
        long started = System.nanoTime();
        List<SocketChannel> open = openConnections(spec.address, spec.connections);
        double openSeconds = (System.nanoTime() - started) / 1e9;
        try {
            Map<String, Object> result = timed(spec, open, message == bulkMessage ? Kind.BULK : Kind.PINGPONG);
            result.put("open_s", fmt(openSeconds));
            return result;
        } finally {
            closeAll(open);
        }
    }

    /**
     * Idle connections: the server's resident memory and thread count before and after 10,000
     * connections that each made one round trip and then stay quiet.
     */
    Map<String, Object> idle(Spec spec) throws Exception {
        closeAll(openConnections(spec.address, 200)); // the server's accept path runs once before the baseline
        Thread.sleep(Math.min(500, spec.warmupMs)); // shorter pauses in --quick runs
        long rssBefore = procStatus(spec.serverPid, "VmRSS");
        long threadsBefore = procStatus(spec.serverPid, "Threads");
        long started = System.nanoTime();
        List<SocketChannel> open = openConnections(spec.address, spec.connections);
        try {
            double openSeconds = (System.nanoTime() - started) / 1e9;
            Thread.sleep(Math.min(1000, spec.measureMs)); // let the server settle: threads parked, buffers returned
            long rssAfter = procStatus(spec.serverPid, "VmRSS");
            long threadsAfter = procStatus(spec.serverPid, "Threads");
            var r = new LinkedHashMap<String, Object>();
            r.put("connections", open.size());
            r.put("kib_per_conn", fmt((rssAfter - rssBefore) / (double) open.size()));
            r.put("rss_before_kib", rssBefore);
            r.put("rss_after_kib", rssAfter);
            r.put("threads_before", threadsBefore);
            r.put("threads_after", threadsAfter);
            r.put("open_s", fmt(openSeconds));
            return r;
        } finally {
            closeAll(open);
        }
    }

    /** A number from /proc/PID/status (kB for the memory lines). */
    static long procStatus(long pid, String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith(field + ":")) return Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]);
        }
        throw new IOException("no " + field + " in /proc/" + pid + "/status");
    }

    /** User plus system CPU time of a process, in seconds, from /proc/PID/stat (clock ticks of 1/100 s). */
    static double procCpuSeconds(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // utime, stime (fields 14, 15)
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
    }

    static double ownCpuSeconds() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime() / 1e9;
    }

    static void closeAll(List<SocketChannel> channels) {
        for (SocketChannel c : channels) {
            try {
                c.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    // ---- opening many connections: connect and one round trip each, OPEN_WINDOW at a time ----

    List<SocketChannel> openConnections(InetSocketAddress address, int count) throws IOException {
        ByteBuffer probe = smallMessage;
        var open = new ArrayList<SocketChannel>(count);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        try (Selector selector = Selector.open()) {
            int started = 0, inFlight = 0;
            while (open.size() < count) {
                while (inFlight < OPEN_WINDOW && started < count) {
                    var c = new Conn(SocketChannel.open(), probe);
                    c.channel.configureBlocking(false);
                    c.channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                    if (c.channel.connect(address)) c.startRoundTrip(selector); else c.channel.register(selector, SelectionKey.OP_CONNECT, c);
                    started++;
                    inFlight++;
                }
                if (System.nanoTime() > deadline) throw new IOException("opened only " + open.size() + " of " + count + " connections in 30 s");
                selector.select(100);
                for (SelectionKey key : selector.selectedKeys()) {
                    Conn c = (Conn) key.attachment();
                    if (key.isConnectable()) {
                        c.channel.finishConnect();
                        c.startRoundTrip(selector);
                    } else if (c.onReady(key)) {
                        key.cancel();
                        open.add(c.channel);
                        inFlight--;
                    }
                }
                selector.selectedKeys().clear();
            }
            selector.selectNow(); // flush the cancelled keys before the channels go to other selectors
        } catch (IOException | RuntimeException e) {
            closeAll(open);
            throw e;
        }
        return open;
    }

    // ---- the timed part: warm-up, then measure, on THREADS selector threads ----

    enum Kind { PINGPONG, BULK, CONNECT, UDP }

    /** What each thread counted in the measuring window. */
    static final class Tally {
        final Histogram latency = new Histogram(MAX_LATENCY_NS, 3);
        long roundTrips, bytes, errors, stalled;
    }

    Map<String, Object> timed(Spec spec, List<SocketChannel> open, Kind kind) throws Exception {
        long start = System.nanoTime();
        long measureFrom = start + TimeUnit.MILLISECONDS.toNanos(spec.warmupMs);
        long measureTo = measureFrom + TimeUnit.MILLISECONDS.toNanos(spec.measureMs);
        var tallies = new ArrayList<Tally>();
        var workers = new ArrayList<Thread>();
        var failures = new ArrayList<Throwable>();
        int loops = kind == Kind.CONNECT || kind == Kind.UDP ? spec.connections : open.size();
        for (int t = 0; t < threads; t++) {
            var tally = new Tally();
            tallies.add(tally);
            List<SocketChannel> mine = new ArrayList<>();
            for (int i = t; i < open.size(); i += threads) mine.add(open.get(i));
            int myLoops = loops / threads + (t < loops % threads ? 1 : 0);
            Runnable body = () -> {
                try (Selector selector = Selector.open()) {
                    new Loop(selector, tally, measureFrom, measureTo, spec.address, kind).run(mine, myLoops);
                } catch (Throwable e) {
                    synchronized (failures) { failures.add(e); }
                }
            };
            workers.add(Thread.ofPlatform().name("generator-" + t).start(body));
        }
        // CPU of both processes over the measuring window only.
        sleepUntil(measureFrom);
        double serverCpu0 = procCpuSeconds(spec.serverPid), ownCpu0 = ownCpuSeconds();
        sleepUntil(measureTo);
        double serverCpu1 = procCpuSeconds(spec.serverPid), ownCpu1 = ownCpuSeconds();
        for (Thread w : workers) w.join();
        if (!failures.isEmpty()) {
            var e = new IOException("generator thread failed: " + failures.getFirst(), failures.getFirst());
            throw e;
        }
        var all = new Histogram(MAX_LATENCY_NS, 3);
        long roundTrips = 0, bytes = 0, errors = 0, stalled = 0;
        for (Tally t : tallies) {
            all.add(t.latency);
            roundTrips += t.roundTrips;
            bytes += t.bytes;
            errors += t.errors;
            stalled += t.stalled;
        }
        double seconds = (measureTo - measureFrom) / 1e9;
        var r = new LinkedHashMap<String, Object>();
        r.put("ops_per_s", fmt(roundTrips / seconds));
        r.put("mb_per_s", fmt(bytes / seconds / 1e6));
        boolean none = all.getTotalCount() == 0; // nothing came back in the window: no latency to tell
        r.put("p50_us", fmt(none ? Double.NaN : all.getValueAtPercentile(50) / 1e3));
        r.put("p99_us", fmt(none ? Double.NaN : all.getValueAtPercentile(99) / 1e3));
        r.put("p999_us", fmt(none ? Double.NaN : all.getValueAtPercentile(99.9) / 1e3));
        r.put("errors", errors);
        r.put("stalled", stalled);
        r.put("server_cpu", fmt((serverCpu1 - serverCpu0) / seconds));
        r.put("gen_cpu", fmt((ownCpu1 - ownCpu0) / seconds));
        r.put("server_us_per_op", fmt(roundTrips == 0 ? -1 : (serverCpu1 - serverCpu0) / roundTrips * 1e6));
        r.put("gen_us_per_op", fmt(roundTrips == 0 ? -1 : (ownCpu1 - ownCpu0) / roundTrips * 1e6));
        r.put("gen_threads", threads);
        r.put("generator", "java");
        return r;
    }

    static void sleepUntil(long nanoTime) throws InterruptedException {
        long left;
        while ((left = nanoTime - System.nanoTime()) > 0) TimeUnit.NANOSECONDS.sleep(left);
    }

    static String fmt(double v) {
        return String.format(java.util.Locale.ROOT, "%.3f", v);
    }

    /** One selector thread's share of a scenario. */
    final class Loop {
        final Selector selector;
        final Tally tally;
        final long measureFrom, measureTo;
        final InetSocketAddress address;
        final Kind kind;

        Loop(Selector selector, Tally tally, long measureFrom, long measureTo, InetSocketAddress address, Kind kind) {
            this.selector = selector;
            this.tally = tally;
            this.measureFrom = measureFrom;
            this.measureTo = measureTo;
            this.address = address;
            this.kind = kind;
        }

        void completed(long sentAt, long now, int bytes) {
            if (now >= measureFrom && now < measureTo) {
                tally.roundTrips++;
                tally.bytes += bytes;
                tally.latency.recordValue(Math.min(now - sentAt, MAX_LATENCY_NS));
            }
        }

        void run(List<SocketChannel> streams, int loops) throws IOException {
            var udp = new ArrayList<Datagram>();
            var conns = new ArrayList<Conn>();
            switch (kind) {
                case PINGPONG, BULK -> {
                    ByteBuffer message = kind == Kind.BULK ? bulkMessage : smallMessage;
                    for (SocketChannel c : streams) {
                        var conn = new Conn(c, message);
                        conns.add(conn);
                        conn.startRoundTrip(selector);
                    }
                }
                case CONNECT -> { for (int i = 0; i < loops; i++) connectOnce(); }
                case UDP -> { for (int i = 0; i < loops; i++) udp.add(new Datagram(selector, address)); }
            }
            long now;
            long nextResendCheck = System.nanoTime();
            while ((now = System.nanoTime()) < measureTo) {
                selector.select(10);
                for (SelectionKey key : selector.selectedKeys()) {
                    try {
                        if (key.attachment() instanceof Conn c) {
                            if (key.isConnectable()) {
                                c.channel.finishConnect();
                                c.startRoundTrip(selector);
                            } else if (c.onReady(key)) {
                                long done = System.nanoTime();
                                if (done >= measureFrom && done < measureTo) c.completed++;
                                completed(c.sentAt, done, c.message.capacity());
                                if (kind == Kind.CONNECT) {
                                    c.channel.close();
                                    connectOnce();
                                } else {
                                    c.startRoundTrip(selector);
                                }
                            }
                        } else if (key.attachment() instanceof Datagram d && d.receive()) {
                            completed(d.sentAt, System.nanoTime(), SMALL);
                            d.send();
                        }
                    } catch (IOException e) {
                        if (System.nanoTime() >= measureFrom) tally.errors++;
                        key.cancel();
                        key.channel().close();
                        if (kind == Kind.CONNECT) connectOnce();
                    }
                }
                selector.selectedKeys().clear();
                // A lost datagram would stop its socket: resend after 200 ms, and count it.
                if (kind == Kind.UDP && now > nextResendCheck) {
                    nextResendCheck = now + TimeUnit.MILLISECONDS.toNanos(50);
                    for (Datagram d : udp) {
                        if (d.channel.isOpen() && now - d.sentAt > TimeUnit.MILLISECONDS.toNanos(200)) {
                            if (now >= measureFrom) tally.errors++;
                            d.send();
                        }
                    }
                }
            }
            if (!conns.isEmpty()) stalls(conns);
            for (SelectionKey key : selector.keys()) {
                if (kind == Kind.CONNECT || kind == Kind.UDP) key.channel().close();
                else key.cancel(); // the stream connections are closed by their opener
            }
        }

        /**
         * Connections the server left waiting. A round trip that never completes would be missing from the
         * latency histogram, so a server that served half its connections and starved the others would look
         * fast: every connection with no round trip completed in the window counts as stalled, and a request
         * outstanding since before the window enters the histogram with its age so far (a lower bound). A
         * fair server never has one: its slowest round trip is far shorter than the window.
         */
        void stalls(List<Conn> conns) {
            for (Conn c : conns) {
                if (c.completed == 0) tally.stalled++;
                if (c.sentAt < measureFrom) tally.latency.recordValue(Math.min(measureTo - c.sentAt, MAX_LATENCY_NS));
            }
            int[] counts = conns.stream().mapToInt(c -> c.completed).sorted().toArray();
            System.err.printf("fairness: %d connections, %d stalled; round trips per connection in the window:"
                            + " min %d, p10 %d, median %d, p90 %d, max %d%n", counts.length, tally.stalled, counts[0],
                    counts[counts.length / 10], counts[counts.length / 2], counts[counts.length * 9 / 10], counts[counts.length - 1]);
        }

        void connectOnce() throws IOException {
            var c = new Conn(SocketChannel.open(), smallMessage);
            c.channel.configureBlocking(false);
            c.channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            c.sentAt = System.nanoTime(); // the connect round trip is timed from the connect
            if (c.channel.connect(address)) c.startRoundTrip(selector, c.sentAt);
            else c.channel.register(selector, SelectionKey.OP_CONNECT, c);
        }
    }

    /**
     * One TCP connection doing round trips: write the message, read the same number of bytes back.
     * It reads while still writing, so a large message cannot deadlock against a full socket buffer.
     */
    static final class Conn {
        final SocketChannel channel;
        final ByteBuffer message;
        final ByteBuffer out;
        final ByteBuffer in;
        long sentAt;
        int completed; // round trips completed in the measuring window

        Conn(SocketChannel channel, ByteBuffer message) {
            this.channel = channel;
            this.message = message;
            this.out = message.duplicate();
            this.in = ByteBuffer.allocateDirect(message.capacity());
        }

        void startRoundTrip(Selector selector) throws IOException {
            startRoundTrip(selector, System.nanoTime());
        }

        void startRoundTrip(Selector selector, long sentAt) throws IOException {
            this.sentAt = sentAt;
            out.clear();
            in.clear();
            channel.write(out);
            int ops = SelectionKey.OP_READ | (out.hasRemaining() ? SelectionKey.OP_WRITE : 0);
            SelectionKey key = channel.keyFor(selector);
            if (key == null) channel.register(selector, ops, this);
            else if (key.interestOps() != ops) key.interestOps(ops);
        }

        /** Reacts to readiness; true when the echo of the whole message has arrived. */
        boolean onReady(SelectionKey key) throws IOException {
            if (key.isWritable()) {
                channel.write(out);
                if (!out.hasRemaining()) key.interestOps(SelectionKey.OP_READ);
            }
            if (key.isReadable()) {
                int n = channel.read(in);
                if (n < 0) throw new ClosedChannelException();
            }
            return !in.hasRemaining() && !out.hasRemaining();
        }
    }

    /** One connected UDP socket ping-ponging a 64-byte datagram. */
    final class Datagram {
        final DatagramChannel channel;
        final ByteBuffer out = smallMessage.duplicate();
        final ByteBuffer in = ByteBuffer.allocateDirect(2048);
        long sentAt;

        Datagram(Selector selector, InetSocketAddress address) throws IOException {
            channel = DatagramChannel.open();
            channel.configureBlocking(false);
            channel.connect(address);
            channel.register(selector, SelectionKey.OP_READ, this);
            send();
        }

        void send() throws IOException {
            out.clear();
            sentAt = System.nanoTime();
            channel.write(out);
        }

        boolean receive() throws IOException {
            in.clear();
            return channel.read(in) == SMALL;
        }
    }
}
