package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link ServerOptions#readSpin()}: a handler about to block in a read first looks for bytes on the spot.
 * What a user can see of it: the bytes are read all the same, a silent client costs no CPU once the spin
 * is over, and no handler spins while more requests are in flight than carriers. (What it is for, the
 * latency of a round trip on a lightly loaded server, is measured by the benchmark.)
 */
@ExtendWith(LeakCheck.class)
@Timeout(30)
class ReadSpinTest {

    static final byte[] LINE = "ping\n".getBytes(US_ASCII);

    @Test
    void aSpinOutsideZeroToOneSecondIsRefusedWithTheOptionsName() {
        var tooLong = assertThrows(IllegalArgumentException.class,
                () -> ServerOptions.defaults().readSpin(Duration.ofSeconds(2)));
        assertTrue(tooLong.getMessage().contains("readSpin"), tooLong.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ServerOptions.defaults().readSpin(Duration.ofNanos(-1)));
        assertEquals(Duration.ZERO, ServerOptions.defaults().readSpin(Duration.ZERO).readSpin());
        assertEquals(Duration.ofNanos(50_000), ServerOptions.defaults().readSpin());
    }

    @ParameterizedTest
    @ValueSource(strings = {"virtual", "platform"})
    void bytesThatComeAfterTheSpinAreStillRead(String threads) throws Exception {
        var concurrency = threads.equals("virtual") ? Concurrency.virtualThreads() : Concurrency.threads();
        AtomicReference<Thread> handler = new AtomicReference<>();
        try (var server = echo(ServerOptions.defaults().concurrency(concurrency).readSpin(Duration.ofMillis(20)), handler);
             Serving s = Serving.start(server);
             var client = connect(server)) {
            roundTrip(client);
            // the client stays silent until its handler has stopped spinning and blocks in the read itself
            Await.until("the handler to block in its read once its spin is over", () -> blockedInRead(handler.get()));
            roundTrip(client);
            roundTrip(client);
        }
    }

    @Test
    void aSilentClientCostsNoCpuOnceTheSpinIsOver() throws Exception {
        AtomicReference<Thread> handler = new AtomicReference<>();
        try (var server = echo(ServerOptions.defaults().readSpin(Duration.ofMillis(100)), handler);
             Serving s = Serving.start(server);
             var client = connect(server)) {
            roundTrip(client);
            // the client stays silent: its handler's virtual thread spins (runnable) for up to 100 ms, then parks
            Await.until("the handler to park once its spin is over", () -> handler.get().getState() == Thread.State.WAITING);
            long cpu = cpuMillisWhileSleeping(500);
            assertTrue(cpu < 200, "the server used " + cpu + " ms of CPU in 500 ms while its only client was silent");
            roundTrip(client);
        }
    }

    @Test
    void noHandlerSpinsWhileMoreRequestsAreInFlightThanCarriers() throws Exception {
        try (var server = echo(ServerOptions.defaults().readSpin(Duration.ofSeconds(1)));
             Serving s = Serving.start(server)) {
            List<Socket> clients = new ArrayList<>();
            try {
                // one client: its handler spins for up to a second after each round trip
                clients.add(connect(server));
                roundTrip(clients.get(0));
                long alone = cpuMillisWhileSleeping(300);
                assertTrue(alone > 50, "one silent client: the handler should spin, the server used " + alone + " ms");
                // one more client than carriers: every spin stops, the ones already going too
                while (clients.size() <= carriers()) {
                    clients.add(connect(server));
                    roundTrip(clients.getLast());
                }
                Thread.sleep(50); // the scenario: all the clients stay silent, so any spin still going sees the others
                long busy = cpuMillisWhileSleeping(500);
                assertTrue(busy < 200, clients.size() + " silent clients, " + carriers()
                        + " carriers: no handler should spin, the server used " + busy + " ms of CPU in 500 ms");
            } finally {
                for (Socket c : clients) {
                    c.close();
                }
            }
        }
    }

    @Test
    void clientsThatOutnumberTheCarriersAreAllAnsweredInOrder() throws Exception {
        // busier than the carriers: handlers yield before every other read instead of spinning
        int count = 4 * carriers() + 8;
        try (var server = echo(ServerOptions.defaults());
             Serving s = Serving.start(server);
             var clients = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            List<java.util.concurrent.Future<?>> done = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                int id = i;
                done.add(clients.submit(() -> {
                    try (var client = connect(server)) {
                        var in = client.getInputStream();
                        var out = client.getOutputStream();
                        for (int n = 0; n < 300; n++) {
                            byte[] message = ("client " + id + " message " + n + "\n").getBytes(US_ASCII);
                            out.write(message);
                            if (id % 2 == 0) {
                                out.write(message); // every other client sends two before reading
                            }
                            assertArrayEquals(message, in.readNBytes(message.length), "client " + id + " message " + n);
                            if (id % 2 == 0) {
                                assertArrayEquals(message, in.readNBytes(message.length), "client " + id + " message " + n);
                            }
                        }
                    }
                    return null;
                }));
            }
            for (var d : done) {
                d.get(20, java.util.concurrent.TimeUnit.SECONDS);
            }
        }
    }

    static ThreadingTcpServer echo(ServerOptions options) throws IOException {
        return echo(options, new AtomicReference<>());
    }

    /**
     * Whether {@code t} waits in a socket read, its spin over: a virtual thread parks (WAITING); a platform
     * thread, which stays RUNNABLE in the system call, is in the JDK's native read with no spin frame left.
     */
    static boolean blockedInRead(Thread t) {
        if (t.isVirtual()) {
            return t.getState() == Thread.State.WAITING;
        }
        StackTraceElement[] stack = t.getStackTrace();
        return stack.length > 0 && stack[0].isNativeMethod()
                && java.util.Arrays.stream(stack).noneMatch(f -> f.getClassName().startsWith(
                        dev.sockserve.internal.ReadPacing.class.getName()))
                && java.util.Arrays.stream(stack).anyMatch(f -> f.getClassName().startsWith("sun.nio.ch.")
                        && f.getMethodName().equals("read"));
    }

    /** An echo server that tells {@code handler} the thread of the request it runs. */
    static ThreadingTcpServer echo(ServerOptions options, AtomicReference<Thread> handler) throws IOException {
        return new ThreadingTcpServer(new InetSocketAddress("127.0.0.1", 0), StreamRequestHandler.of(h -> {
            handler.set(Thread.currentThread());
            h.rfile().transferTo(h.wfile());
        }), options);
    }

    static Socket connect(BaseServer<?> server) throws IOException {
        var socket = new Socket();
        socket.connect(server.serverAddress(), 5000);
        socket.setSoTimeout(10_000);
        return socket;
    }

    static void roundTrip(Socket client) throws IOException {
        client.getOutputStream().write(LINE);
        InputStream in = client.getInputStream();
        byte[] got = in.readNBytes(LINE.length);
        assertEquals("ping\n", new String(got, US_ASCII));
    }

    /** The virtual-thread carriers, as the JDK counts them. */
    static int carriers() {
        String value = System.getProperty("jdk.virtualThreadScheduler.parallelism");
        return value != null ? Integer.parseInt(value) : Runtime.getRuntime().availableProcessors();
    }

    /** The CPU this whole JVM used (every thread, user and system) while the calling thread slept. */
    static long cpuMillisWhileSleeping(long millis) throws Exception {
        long before = processCpuMillis();
        Thread.sleep(millis); // the measuring window, not a wait for an event
        return processCpuMillis() - before;
    }

    static long processCpuMillis() throws IOException {
        String stat = Files.readString(Path.of("/proc/self/stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        long ticks = Long.parseLong(fields[11]) + Long.parseLong(fields[12]); // utime, stime: fields 14 and 15
        return ticks * 10; // USER_HZ is 100 on Linux
    }
}
