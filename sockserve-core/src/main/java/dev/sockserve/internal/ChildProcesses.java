package dev.sockserve.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The one place that runs a program per request, for {@code sockserve exec} and the
 * {@code processes()} policy alike. It starts the program with {@code posix_spawn} ({@link Posix#spawn}),
 * in a process group of its own, watches and reaps it ({@link ChildReaper}) and reports its raw wait
 * status, as tcpserver logs it ({@link #describe} says it in words).
 *
 * <ul>
 * <li>A connection is handed over itself: the accepted socket is the program's descriptor 0 (and 1), so
 * no byte passes through the server.</li>
 * <li>A datagram is the program's standard input, through a pipe, and its standard output is the reply:
 * at most {@code maxReply} bytes, an oversize reply is cut to that (and reported as cut). The run may be
 * bounded in time: when the time is up, the program's process group is killed and its output is not a
 * reply. When the program ends, what it left running in its group is killed too, so a datagram's run
 * never outlives it.</li>
 * </ul>
 */
public final class ChildProcesses implements AutoCloseable {

    /** A program to run: a path (searched once by the caller), its argv and its {@code NAME=value} environment. */
    public record Program(String executable, List<String> argv, List<String> environment) {
        public Program {
            argv = List.copyOf(argv);
            environment = List.copyOf(environment);
        }
    }

    /**
     * How one datagram's run went: the child's pid, its raw wait status, its reply (cut to the maximum),
     * whether the program wrote more than that, and whether it ran out of time (then the reply is empty).
     */
    public record DatagramRun(int pid, int waitStatus, byte[] reply, boolean cut, boolean timedOut) {
    }

    private final String name;
    private final ChildReaper reaper;
    private ScheduledThreadPoolExecutor timer; // guarded by this; made for the first timed datagram run

    /**
     * Starts the reaper, {@code sockserve-<name>-reaper}; fails with the reason where child processes
     * cannot be started (another platform, native access denied, a C library too old).
     */
    public ChildProcesses(String name) throws IOException {
        requireSupported();
        this.name = name;
        this.reaper = new ChildReaper(name);
    }

    /**
     * Fails with the reason where child processes cannot be started here: an
     * {@link UnsupportedOperationException} (another platform, a C library too old), an
     * {@link IllegalCallerException} (native access denied), or an {@link IllegalStateException} naming the
     * flag that lets a descriptor be handed over.
     */
    public static void requireSupported() {
        Posix.requireFunctions("a child process per request", "pidfd_open", "posix_spawn_file_actions_addclosefrom_np");
        SocketFd.check();
    }

    /**
     * Starts {@code program} with {@code connection} as its standard input, and as its standard output
     * when {@code asOutput} (else its output goes to this process's standard error, never to its standard
     * output, which may be a protocol stream). The connection is made blocking first, as after accept(2).
     */
    public ChildReaper.Child startWithConnection(SocketChannel connection, boolean asOutput, Program program)
            throws IOException {
        SocketFd.check();
        int fd = SocketFd.of(connection);
        Posix.makeBlocking(fd);
        return reaper.start(() -> Posix.spawn(program.executable(), program.argv(), program.environment(), fd,
                asOutput ? fd : 2), false);
    }

    /**
     * Runs {@code program} for one datagram on the calling thread (a virtual thread is fine: the pipes are
     * the JDK's). {@code started} is told of the child as soon as it runs, so that a caller can end it.
     *
     * @param timeout how long the run may take, or empty for no bound
     */
    public DatagramRun runDatagram(Program program, byte[] datagram, int maxReply, Optional<Duration> timeout,
            Consumer<ChildReaper.Child> started) throws IOException, InterruptedException {
        SocketFd.check();
        Pipe input = Pipe.open();
        Pipe output;
        try {
            output = Pipe.open();
        } catch (IOException | RuntimeException e) {
            closeQuietly(input.source(), input.sink());
            throw e;
        }
        ChildReaper.Child child;
        try {
            int in = SocketFd.of(input.source());
            int out = SocketFd.of(output.sink());
            Posix.makeBlocking(in);
            Posix.makeBlocking(out);
            child = reaper.start(() -> Posix.spawn(program.executable(), program.argv(), program.environment(), in, out),
                    true);
        } catch (IOException | RuntimeException e) {
            closeQuietly(input.source(), input.sink(), output.source(), output.sink());
            throw e;
        } finally {
            closeQuietly(input.source(), output.sink()); // the child's ends: it has its own copies now
        }
        AtomicInteger state = new AtomicInteger(RUNNING);
        ScheduledFuture<?> deadline = timeout.map(t -> timer().schedule(() -> {
            if (state.compareAndSet(RUNNING, TIMED_OUT)) {
                child.signal(Posix.SIGKILL);
                closeQuietly(input.sink(), output.source()); // also ends reads held open by an escaped process
            }
        }, t.toNanos(), TimeUnit.NANOSECONDS)).orElse(null);
        try {
            started.accept(child);
            try (var sink = input.sink()) {
                ByteBuffer data = ByteBuffer.wrap(datagram);
                while (data.hasRemaining()) {
                    sink.write(data);
                }
            } catch (IOException programDidNotRead) {
                // a program may answer without reading its input; its exit status tells the rest
            }
            ByteBuffer reply = ByteBuffer.allocate(maxReply + 1);
            try (var source = output.source()) {
                while (reply.hasRemaining() && source.read(reply) >= 0) {
                    // to end of file, or one byte past the maximum
                }
            } catch (IOException cutOffByTheDeadline) {
                // the deadline closed the pipe: the run timed out
            }
            int status = awaitExit(child);
            boolean timedOut = !state.compareAndSet(RUNNING, DONE);
            boolean cut = reply.position() > maxReply;
            byte[] bytes = timedOut ? new byte[0] : Arrays.copyOf(reply.array(), Math.min(reply.position(), maxReply));
            return new DatagramRun(child.pid(), status, bytes, cut && !timedOut, timedOut);
        } finally {
            if (deadline != null) {
                deadline.cancel(false);
            }
            closeQuietly(input.sink(), output.source());
        }
    }

    private static final int RUNNING = 0;
    private static final int DONE = 1;
    private static final int TIMED_OUT = 2;

    private static int awaitExit(ChildReaper.Child child) throws InterruptedException {
        try {
            return child.exit().get();
        } catch (ExecutionException e) {
            throw new IllegalStateException("child " + child.pid() + ": " + e.getCause(), e.getCause());
        }
    }

    private synchronized ScheduledThreadPoolExecutor timer() {
        if (timer == null) {
            timer = new ScheduledThreadPoolExecutor(1, r -> Thread.ofPlatform().daemon()
                    .name("sockserve-" + name + "-deadlines").unstarted(r));
            timer.setRemoveOnCancelPolicy(true); // a run that ends in time leaves nothing queued
        }
        return timer;
    }

    private static void closeQuietly(java.nio.channels.Channel... channels) {
        for (var c : channels) {
            try {
                c.close();
            } catch (IOException ignored) {
                // a pipe end fails to close only when already broken
            }
        }
    }

    /** Children running. */
    public int running() {
        return reaper.running();
    }

    /**
     * Adopts what the programs leave behind: processes they started and left running when they ended are
     * re-parented to this process, reaped when they end, and ended with the children by {@link #endAll},
     * {@link #killAll} and {@link #close}, so nothing this process started outlives it. For a process that
     * starts no children by other means ({@link ProcessBuilder}): their exit status would be reaped here.
     */
    public void adoptOrphans() throws IOException {
        reaper.adoptOrphans();
    }

    /** Asks every child still running to stop (SIGTERM to its group), waits up to {@code grace}, then kills. */
    public void endAll(Duration grace) {
        reaper.endAll(grace);
    }

    /** Kills every child and its group at once (a second signal). */
    public void killAll() {
        reaper.killAll();
    }

    /** Ends the children still running (SIGTERM, then SIGKILL), and the reaper. */
    @Override
    public void close() {
        reaper.close();
        synchronized (this) {
            if (timer != null) {
                timer.shutdownNow();
            }
        }
    }

    /** A raw wait status in words, for people: {@code exit 3}, {@code signal 9}. */
    public static String describe(int waitStatus) {
        int signal = waitStatus & 0x7f;
        if (signal == 0) {
            return "exit " + ((waitStatus >> 8) & 0xff);
        }
        return "signal " + signal + ((waitStatus & 0x80) != 0 ? " (core dumped)" : "");
    }
}
