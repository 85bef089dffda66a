package dev.sockserve;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.lang.reflect.Method;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The one leak check of every module (the test kit's): fails a test that leaves behind an open descriptor,
 * a {@code sockserve-*} thread, platform or virtual, or a child process. Counts are taken before the test
 * and compared after it (and after its own {@code @AfterEach}), waiting a few seconds for what ends
 * asynchronously (a thread finishing, a child being reaped). The process-wide daemon threads (the I/O
 * watchdog, the step deadlines) are not leaks.
 *
 * <p>{@link Thread#getAllStackTraces()} does not list virtual threads, so the threads are counted from the
 * JDK's JSON thread dump ({@code HotSpotDiagnosticMXBean.dumpThreads}), which lists every virtual thread
 * as well; {@code LeakCheckTest} shows that a parked virtual request thread is caught.
 */
public class LeakCheck implements BeforeEachCallback, AfterEachCallback {

    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(LeakCheck.class);

    /** How long a test's leftovers may take to go away after it ended. */
    private static final Duration SETTLE = Duration.ofSeconds(5);

    /** Daemon threads made once per JVM on first use, not per server. */
    private static final Set<String> PROCESS_WIDE = Set.of("sockserve-io-watchdog", "sockserve-deadlines");

    private static final AtomicBoolean WARM = new AtomicBoolean();

    /** Descriptors, {@code sockserve-*} threads by name (how many of each), child processes. */
    public record Snapshot(int fds, Map<String, Integer> threads, List<Long> children) {
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        context.getStore(NS).put("before", take());
    }

    @Override
    public void afterEach(ExtensionContext context) throws InterruptedException {
        assertNoLeak(context.getStore(NS).get("before", Snapshot.class));
    }

    /** What the process holds now. The first call lets the JDK open what it keeps for good (see warmUp). */
    public static Snapshot take() {
        // not in a static initialiser: the warm-up's handler thread would wait for this class's initialisation
        if (WARM.compareAndSet(false, true)) {
            warmUp();
        }
        int fds;
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            fds = (int) s.count();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        Map<String, Integer> threads = new TreeMap<>();
        for (String name : ThreadDump.names()) {
            if (name.startsWith("sockserve-") && !PROCESS_WIDE.contains(name)) {
                threads.merge(name, 1, Integer::sum);
            }
        }
        List<Long> children = ProcessHandle.current().children().map(ProcessHandle::pid).toList();
        return new Snapshot(fds, threads, children);
    }

    /** What {@code after} holds beyond {@code before}, described; empty when nothing. */
    public static Optional<String> leaked(Snapshot before, Snapshot after) {
        List<String> found = new ArrayList<>();
        if (after.fds() > before.fds()) {
            found.add("descriptors " + before.fds() + " -> " + after.fds() + " (" + describeFds() + ")");
        }
        after.threads().forEach((name, count) -> {
            if (count > before.threads().getOrDefault(name, 0)) {
                found.add("thread " + name + " x" + count + " (before: x" + before.threads().getOrDefault(name, 0)
                        + ")");
            }
        });
        List<Long> newChildren = after.children().stream().filter(pid -> !before.children().contains(pid)).toList();
        if (!newChildren.isEmpty()) {
            found.add("child processes " + newChildren);
        }
        return found.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", found));
    }

    /** Fails when, a few seconds from now, more is held than in {@code before}. */
    public static void assertNoLeak(Snapshot before) throws InterruptedException {
        String[] last = {null};
        boolean clean = Await.holdsWithin(SETTLE, () -> {
            System.gc(); // lets the JDK release descriptors of channels a selector deregistered
            last[0] = leaked(before, take()).orElse(null);
            return last[0] == null;
        });
        if (!clean) {
            fail("leaked: " + last[0]);
        }
    }

    private static String describeFds() {
        StringBuilder out = new StringBuilder();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    out.append(fd.getFileName()).append("->").append(Files.readSymbolicLink(fd)).append(' ');
                } catch (IOException gone) {
                    // closed meanwhile
                }
            }
        } catch (IOException e) {
            return "unreadable: " + e;
        }
        return out.toString().strip();
    }

    /**
     * Lets the JDK open the descriptors and threads it keeps for the life of the process before the first
     * count, so they are not taken for a test's leak: the virtual-thread read and write pollers, the logging
     * set-up (a handler error is logged once), SecureRandom's /dev/random and /dev/urandom (temporary names).
     */
    private static void warmUp() {
        try {
            Files.delete(Files.createTempDirectory("sockserve-warm-up-"));
        } catch (IOException e) {
            throw new IllegalStateException("warm-up failed", e);
        }
        var server = new ThreadingTcpServer(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                StreamRequestHandler.of(h -> {
                    h.rfile().transferTo(h.wfile());
                    throw new IllegalStateException("warm-up: logging a handler error once");
                }));
        Thread loop = Thread.ofPlatform().start(server::serveForever);
        try (var c = SocketChannel.open(server.serverAddress())) {
            c.write(ByteBuffer.wrap(new byte[] {1}));
            c.shutdownOutput();
            c.read(ByteBuffer.allocate(4));
        } catch (IOException e) {
            throw new IllegalStateException("warm-up failed", e);
        } finally {
            server.shutdown();
            server.serverClose();
            try {
                loop.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        parkOnBothPollers();
    }

    /** A virtual thread parked in a write (the peer never reads) and one parked in a read (nothing comes). */
    @SuppressWarnings("try") // closed early on purpose, to end the parked threads
    private static void parkOnBothPollers() {
        try (var listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
                var client = SocketChannel.open(listener.getLocalAddress());
                var accepted = listener.accept()) {
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    ByteBuffer chunk = ByteBuffer.allocate(1 << 20);
                    while (true) { // until the socket buffers are full and the write parks
                        client.write(chunk.clear());
                    }
                } catch (IOException ignored) {
                    // closed below
                }
            });
            Thread reader = Thread.ofVirtual().start(() -> {
                try {
                    client.read(ByteBuffer.allocate(16));
                } catch (IOException ignored) {
                    // closed below
                }
            });
            Await.until("the warm-up threads to park on the pollers",
                    () -> writer.getState() == Thread.State.WAITING && reader.getState() == Thread.State.WAITING);
            client.close();
            accepted.close();
            writer.join();
            reader.join();
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException("warm-up failed", e);
        }
    }

    /**
     * The JDK's JSON thread dump, which lists virtual threads too. Reached by reflection: the core's
     * module reads only java.base, and its tests are patched into it.
     */
    static final class ThreadDump {
        private static final Pattern NAME = Pattern.compile("\"name\": \"((?:[^\"\\\\]|\\\\.)*)\"");
        private static final AtomicInteger DUMPS = new AtomicInteger();
        private static final Path DIR;
        private static final Object BEAN;
        private static final Method DUMP;
        private static final Object JSON;

        static {
            try {
                DIR = Files.createTempDirectory("sockserve-thread-dumps-");
                DIR.toFile().deleteOnExit();
                Class<?> type = Class.forName("com.sun.management.HotSpotDiagnosticMXBean");
                BEAN = Class.forName("java.lang.management.ManagementFactory")
                        .getMethod("getPlatformMXBean", Class.class).invoke(null, type);
                Class<?> format = Class.forName("com.sun.management.HotSpotDiagnosticMXBean$ThreadDumpFormat");
                DUMP = type.getMethod("dumpThreads", String.class, format);
                JSON = format.getField("JSON").get(null);
            } catch (IOException | ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        private ThreadDump() {
        }

        /** The names of every live thread, platform and virtual, one entry per thread. */
        static List<String> names() {
            Path file = DIR.resolve("dump-" + DUMPS.incrementAndGet() + ".json");
            try {
                DUMP.invoke(BEAN, file.toString(), JSON);
                String json = Files.readString(file);
                List<String> names = new ArrayList<>();
                Matcher m = NAME.matcher(json);
                while (m.find()) {
                    names.add(m.group(1).replace("\\/", "/").replace("\\\"", "\"").replace("\\\\", "\\"));
                }
                return names;
            } catch (IOException | ReflectiveOperationException e) {
                throw new IllegalStateException("thread dump failed", e);
            } finally {
                try {
                    Files.deleteIfExists(file);
                } catch (IOException ignored) {
                    // left in the temporary folder
                }
            }
        }
    }
}
