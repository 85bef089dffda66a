package dev.sockserve.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.net.URISyntaxException;
import java.nio.channels.Pipe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import java.time.ZoneId;
import java.util.TimeZone;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * Makes, when a server starts, the parts of the JDK that a server needs and that the JDK makes lazily,
 * opening descriptors or files to do so, once per JVM: the I/O pollers that park virtual threads until
 * their sockets are ready, what logging reads (its configuration, the time-zone data a log line's
 * date needs), and the core's own classes when they come from a directory. Made lazily, they are made when a burst of connections may have taken every descriptor,
 * and each fails for good: every later read on a virtual thread, or every log line, throws while the
 * process stays up. Made here, such a failure is a server that does not start.
 */
public final class JdkWarmUp {

    /** How long the pollers' start may take at most: it is a few thread starts and system calls. */
    private static final long POLLER_START_MILLIS = 10_000;

    private static final Object LOCK = new Object();
    private static boolean done; // guarded by LOCK

    private JdkWarmUp() {
    }

    /** Makes them, the first time only. */
    public static void run() throws IOException {
        synchronized (LOCK) {
            if (done) {
                return;
            }
            startPollers();
            loadOwnClasses();
            System.getLogger("dev.sockserve").isLoggable(System.Logger.Level.ERROR); // reads logging's configuration
            TimeZone.getDefault(); // and the time-zone files a log line's date needs
            ZoneId.systemDefault().getRules();
            done = true;
        }
    }

    /**
     * Loads every class of the core now when they come from a directory (in a build or an IDE): each
     * class loaded later would open its file, and one first needed with no descriptor left (the accept
     * that failed with EMFILE) would fail to load for good. Classes in a jar load from the jar, which
     * stays open.
     */
    private static void loadOwnClasses() throws IOException {
        CodeSource source = JdkWarmUp.class.getProtectionDomain().getCodeSource();
        Path root;
        try {
            root = source == null ? null : Path.of(source.getLocation().toURI());
        } catch (URISyntaxException | RuntimeException notAFile) {
            return;
        }
        if (root == null || !Files.isDirectory(root.resolve("dev/sockserve"))) {
            return;
        }
        ClassLoader loader = JdkWarmUp.class.getClassLoader();
        try (Stream<Path> files = Files.walk(root.resolve("dev/sockserve"))) {
            for (Path file : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".class"))::iterator) {
                String path = root.relativize(file).toString();
                if (path.startsWith("dev/sockserve/internal/Events$")) {
                    continue; // a Flight Recorder event class starts much of JFR when loaded: Events.on() loads them
                }
                try {
                    Class.forName(path.substring(0, path.length() - ".class".length()).replace('/', '.'), false, loader);
                } catch (ClassNotFoundException | LinkageError skipped) {
                    // not loadable here (the command's classes, in another loader): left to load when needed
                }
            }
        }
    }

    /** A virtual thread blocks in a read on a pipe until a byte comes: the JDK starts its pollers for that read. */
    private static void startPollers() throws IOException {
        Pipe pipe = Pipe.open();
        try (Pipe.SourceChannel source = pipe.source(); Pipe.SinkChannel sink = pipe.sink()) {
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread reader = Thread.ofVirtual().name("sockserve-poller-start").start(() -> {
                try {
                    source.read(ByteBuffer.allocate(1));
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            // the byte must come after the read blocked: a read that finds it waiting never polls
            long deadline = System.nanoTime() + POLLER_START_MILLIS * 1_000_000;
            while (reader.isAlive() && reader.getState() != Thread.State.WAITING && System.nanoTime() - deadline < 0) {
                Thread.yield();
            }
            sink.write(ByteBuffer.wrap(new byte[1]));
            reader.join(POLLER_START_MILLIS);
            Throwable t = failure.get();
            if (t != null || reader.isAlive()) {
                Throwable cause = t instanceof ExceptionInInitializerError e && e.getCause() != null ? e.getCause() : t;
                throw new IOException("cannot start the JDK's I/O pollers: " + (cause == null ? "no answer" : cause), cause);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while starting the JDK's I/O pollers", e);
        }
    }
}
