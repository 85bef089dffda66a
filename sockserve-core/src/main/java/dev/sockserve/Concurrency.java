package dev.sockserve;

import java.util.List;
import java.util.OptionalInt;

/**
 * What {@link BaseServer#processRequest} does with a request: Python's mix-ins as values.
 *
 * <ul>
 * <li>{@link #synchronous()}: the serving thread runs the handler itself, one request at a time. The
 * default of the plain servers, as in Python.</li>
 * <li>{@link #threads()}: a new platform thread per request ({@code ThreadingMixIn}).</li>
 * <li>{@link #virtualThreads()}: a new virtual thread per request; the default of the {@code Threading*}
 * servers. Handlers stay plain blocking code.</li>
 * <li>{@link #processes(int)}: each request in a child JVM ({@code ForkingMixIn}), so a crash,
 * {@code System.exit} or memory exhaustion in a handler harms neither the server nor other clients.
 * The handler class needs a public no-argument constructor; see the {@code Forking*} servers.</li>
 * <li>{@link #limit(int)} on a threaded policy, or {@link #bounded(int)}: at most {@code n} requests in
 * flight. At the limit the server stops accepting until one finishes, so waiting clients sit in the
 * kernel's backlog rather than in a pile of threads.</li>
 * </ul>
 *
 * {@snippet :
 * var options = ServerOptions.defaults().concurrency(Concurrency.bounded(500));
 * }
 *
 * <p>Finished threads are never retained: the server keeps only the requests still in flight.
 */
public final class Concurrency {

    /**
     * How requests are run.
     * {@snippet :
     * boolean ownThreads = server.concurrency().mode() != Concurrency.Mode.SYNCHRONOUS;
     * }
     */
    public enum Mode {
        /** On the serving thread. */
        SYNCHRONOUS,
        /** On a new platform thread each. */
        PLATFORM_THREADS,
        /** On a new virtual thread each. */
        VIRTUAL_THREADS,
        /** In a child process each. */
        PROCESSES
    }

    /**
     * The child JVM's options unless {@link #childJvmOptions(String...)} says otherwise: quick to start,
     * small, and ended at once by an {@link OutOfMemoryError} rather than left limping.
     */
    public static final List<String> DEFAULT_CHILD_JVM_OPTIONS = List.of("-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC", "-Xss512k", "-XX:+ExitOnOutOfMemoryError", "-Xshare:auto");

    private static final Concurrency SYNCHRONOUS = new Concurrency(Mode.SYNCHRONOUS, 0, false, List.of());
    private static final Concurrency VIRTUAL = new Concurrency(Mode.VIRTUAL_THREADS, 0, true, List.of());

    private final Mode mode;
    private final int limit; // 0: none
    private final boolean daemonThreads;
    private final List<String> childJvmOptions;

    private Concurrency(Mode mode, int limit, boolean daemonThreads, List<String> childJvmOptions) {
        this.mode = mode;
        this.limit = limit;
        this.daemonThreads = daemonThreads;
        this.childJvmOptions = List.copyOf(childJvmOptions);
    }

    /** The serving thread handles each request before it accepts the next. */
    public static Concurrency synchronous() {
        return SYNCHRONOUS;
    }

    /**
     * A new platform thread per request, not daemon (Python's {@code daemon_threads = False}); see
     * {@link #daemonThreads(boolean)}.
     */
    public static Concurrency threads() {
        return new Concurrency(Mode.PLATFORM_THREADS, 0, false, List.of());
    }

    /** A new virtual thread per request. Virtual threads are always daemon threads. */
    public static Concurrency virtualThreads() {
        return VIRTUAL;
    }

    /** A virtual thread per request, at most {@code maxInFlight} at once: {@code virtualThreads().limit(n)}. */
    public static Concurrency bounded(int maxInFlight) {
        return VIRTUAL.limit(maxInFlight);
    }

    /**
     * Each request in a new child JVM, at most {@code maxChildren} at once (at the limit the server stops
     * accepting): the policy of the {@code Forking*} servers, which take the handler's class so that each
     * child makes its own handler and the server never makes one. A stream connection is handed to the
     * child as its standard input, so the handler works on the client's socket itself
     * ({@link System#inheritedChannel()}); a datagram is its standard input and what the handler sends
     * back is the reply, cut to {@link ServerOptions#maxPacketSize()} (and logged) when longer. Children are
     * reaped as they end, only the server's own, and {@link BaseServer#serverClose()} waits for them as
     * {@link ServerOptions#blockOnClose()} says, then ends the rest (and whatever they started: each child
     * leads a process group of its own).
     *
     * <p>As in Python's {@code ForkingMixIn}, an exception from the handler goes to {@code handleError}
     * run in the child, and the child's exit status tells the parent how the request went: 0 handled,
     * 1 the handler threw an exception, 2 it threw an {@link Error}, 4 the request could not be started in
     * the child (3 is the JVM's own exit on {@link OutOfMemoryError}); the server logs any status but 0 and 1
     * as a warning, a signal as {@code signal N}. Handing over a socket needs the JDK's internal descriptor: run the
     * server with {@code --add-opens java.base/sun.nio.ch=dev.sockserve} (or {@code =ALL-UNNAMED} on the
     * class path).
     *
     * {@snippet :
     * var server = new ForkingTcpServer(address, MyHandler.class,
     *         ServerOptions.defaults().concurrency(Concurrency.processes(8).childJvmOptions("-Xmx64m")));
     * }
     */
    public static Concurrency processes(int maxChildren) {
        if (maxChildren < 1) {
            throw new IllegalArgumentException("maxChildren must be at least 1, was " + maxChildren);
        }
        return new Concurrency(Mode.PROCESSES, maxChildren, false, DEFAULT_CHILD_JVM_OPTIONS);
    }

    /** For {@link #processes(int)}: the options of each child JVM (replacing the defaults). */
    public Concurrency childJvmOptions(String... options) {
        if (mode != Mode.PROCESSES) {
            throw new IllegalArgumentException("childJvmOptions applies to processes() only, not " + this);
        }
        return new Concurrency(mode, limit, daemonThreads, List.of(options));
    }

    public List<String> childJvmOptions() {
        return childJvmOptions;
    }

    /**
     * The same policy with at most {@code maxInFlight} requests in flight; at the limit the server stops
     * accepting until one finishes.
     *
     * @throws IllegalArgumentException if {@code maxInFlight < 1}, or on {@link #synchronous()}, which
     *     already runs one at a time
     */
    public Concurrency limit(int maxInFlight) {
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("a concurrency limit must be at least 1, was " + maxInFlight);
        }
        if (mode == Mode.SYNCHRONOUS) {
            throw new IllegalArgumentException("synchronous() already handles one request at a time");
        }
        return new Concurrency(mode, maxInFlight, daemonThreads, childJvmOptions);
    }

    /**
     * For {@link #threads()}: whether request threads are daemon threads, so they do not keep the JVM
     * alive (Python's {@code daemon_threads}). Default {@code false}.
     */
    public Concurrency daemonThreads(boolean value) {
        if (mode != Mode.PLATFORM_THREADS) {
            throw new IllegalArgumentException("daemonThreads applies to threads() only, not " + this);
        }
        return new Concurrency(mode, limit, value, childJvmOptions);
    }

    public Mode mode() {
        return mode;
    }

    /** The most requests in flight at once, if limited. */
    public OptionalInt maxInFlight() {
        return limit == 0 ? OptionalInt.empty() : OptionalInt.of(limit);
    }

    public boolean daemonThreads() {
        return daemonThreads;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Concurrency c && c.mode == mode && c.limit == limit && c.daemonThreads == daemonThreads
                && c.childJvmOptions.equals(childJvmOptions);
    }

    @Override
    public int hashCode() {
        return mode.hashCode() * 31 + limit * 2 + (daemonThreads ? 1 : 0);
    }

    @Override
    public String toString() {
        String name = switch (mode) {
            case SYNCHRONOUS -> "synchronous()";
            case PLATFORM_THREADS -> "threads()" + (daemonThreads ? ".daemonThreads(true)" : "");
            case VIRTUAL_THREADS -> "virtualThreads()";
            case PROCESSES -> "processes(" + limit + ")";
        };
        return limit == 0 || mode == Mode.PROCESSES ? name : name + ".limit(" + limit + ")";
    }
}
