package dev.sockserve;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test that leaves behind an open descriptor, a sockserve platform thread or a child process.
 * Counts are taken before the test and compared after it, waiting up to five seconds for things that end
 * asynchronously (a thread finishing, a child being reaped). The process-wide daemon threads (the I/O
 * watchdog, the step deadlines) are not leaks.
 */
public final class LeakCheck implements BeforeEachCallback, AfterEachCallback {

    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(LeakCheck.class);

    private static final java.util.concurrent.atomic.AtomicBoolean WARM = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Lets the JDK open the descriptors it keeps for the life of the process (the virtual-thread pollers,
     * the logging set-up) before the first count, so they are not taken for a test's leak.
     */
    private static void warmUp() {
        var server = new ThreadingTcpServer(new java.net.InetSocketAddress("127.0.0.1", 0),
                StreamRequestHandler.of(h -> {
                    h.rfile().transferTo(h.wfile());
                    throw new IllegalStateException("warm-up: logging a handler error once");
                }));
        Thread loop = Thread.ofPlatform().start(server::serveForever);
        try (var c = java.nio.channels.SocketChannel.open(server.serverAddress())) {
            c.write(java.nio.ByteBuffer.wrap(new byte[] {1}));
            c.shutdownOutput();
            c.read(java.nio.ByteBuffer.allocate(4));
            Thread.ofVirtual().start(() -> {
                try (var v = java.nio.channels.SocketChannel.open(server.serverAddress())) {
                    v.shutdownOutput();
                    v.read(java.nio.ByteBuffer.allocate(4));
                } catch (IOException ignored) {
                    // only the JDK's own set-up matters here
                }
            }).join();
        } catch (IOException | InterruptedException e) {
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
    }

    /** Daemon threads made once per JVM on first use, not per server. */
    private static final Set<String> PROCESS_WIDE = Set.of("sockserve-io-watchdog", "sockserve-deadlines");

    record Snapshot(int fds, Set<String> threads, List<Long> children) {
    }

    static Snapshot take() {
        int fds;
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            fds = (int) s.count();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        Set<String> threads = Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
                .map(Thread::getName)
                .filter(n -> n.startsWith("sockserve-") && !PROCESS_WIDE.contains(n))
                .collect(Collectors.toSet());
        List<Long> children = ProcessHandle.current().children().map(ProcessHandle::pid).toList();
        return new Snapshot(fds, threads, children);
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        // not in a static initialiser: the handler thread would wait for this class's initialisation
        if (WARM.compareAndSet(false, true)) {
            warmUp();
        }
        context.getStore(NS).put("before", take());
    }

    @Override
    public void afterEach(ExtensionContext context) throws InterruptedException {
        Snapshot before = context.getStore(NS).get("before", Snapshot.class);
        long deadline = System.nanoTime() + 5_000_000_000L;
        Snapshot after;
        while (true) {
            System.gc(); // lets the JDK release descriptors of channels a selector deregistered
            after = take();
            boolean clean = after.fds() <= before.fds() && before.threads().containsAll(after.threads())
                    && before.children().containsAll(after.children());
            if (clean) {
                return;
            }
            if (System.nanoTime() > deadline) {
                break;
            }
            Thread.sleep(50);
        }
        fail("leaked: descriptors " + before.fds() + " -> " + after.fds() + ", threads " + before.threads() + " -> "
                + after.threads() + ", children " + before.children() + " -> " + after.children());
    }
}
