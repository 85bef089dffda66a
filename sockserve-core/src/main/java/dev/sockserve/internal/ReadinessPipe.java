package dev.sockserve.internal;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.channels.SelectableChannel;
import java.time.Duration;
import java.util.concurrent.locks.Lock;

/**
 * Makes a native descriptor that the JDK cannot select on (the Unix datagram socket) selectable: a
 * JDK {@link Pipe} whose source is readable while a datagram waits. A platform daemon thread polls the
 * descriptor and a stop pipe; when the descriptor turns readable it writes one byte to the pipe and
 * waits for the owner's next receive ({@link #received()}) before polling again, since poll(2) is
 * level-triggered and would otherwise write a byte per loop until the datagram is read.
 *
 * <p>The owner calls {@link #consume()} before each receive and {@link #received()} after it; to close,
 * {@link #stop()}, then whatever wakes its own pollers, {@link #join()}, and {@link #close()} once the
 * descriptor is released. The watcher polls only while holding {@code fdLock}, so the owner can close
 * the descriptor under the matching write lock without a poll ever seeing a reused number.
 */
final class ReadinessPipe {

    /** How long close waits for the watcher to leave poll(2); it is woken at once, so this is a safety net. */
    private static final Duration JOIN_LIMIT = Duration.ofSeconds(2);
    /** A failed poll for want of kernel memory is retried after this pause, as a passing state. */
    private static final long ENOMEM_PAUSE_MILLIS = 10;

    private final int fd;
    private final Lock fdLock;
    private final String name;
    private final Pipe pipe;
    private final int stopRead;
    private final int stopWrite;
    private final Thread watcher;
    private final Object armLock = new Object();
    private boolean armed; // guarded by armLock: the owner received since the last byte
    private volatile boolean stopping;

    /** Starts the watcher, {@code sockserve-unix-dgram-<name>-poll}, on {@code fd}. */
    ReadinessPipe(int fd, Lock fdLock, String name) throws IOException {
        this.fd = fd;
        this.fdLock = fdLock;
        this.name = name;
        int[] stop = Posix.pipe(Posix.O_NONBLOCK | Posix.O_CLOEXEC);
        Pipe p = null;
        try {
            p = Pipe.open();
            p.source().configureBlocking(false);
            // one byte per receive can never fill it, but a full pipe must not stall the watcher
            p.sink().configureBlocking(false);
        } catch (IOException | RuntimeException e) {
            Posix.close(stop[0]);
            Posix.close(stop[1]);
            if (p != null) {
                closeQuietly(p);
            }
            throw e;
        }
        this.pipe = p;
        this.stopRead = stop[0];
        this.stopWrite = stop[1];
        this.watcher = Thread.ofPlatform().daemon().name("sockserve-unix-dgram-" + name + "-poll").start(this::watch);
    }

    /** The selectable side: readable while a datagram waits. Keep it non-blocking. */
    SelectableChannel source() {
        return pipe.source();
    }

    /** Before a receive: takes the bytes that announced datagrams, which the receive is about to read. */
    void consume() {
        ByteBuffer sink = ByteBuffer.allocate(16);
        try {
            while (pipe.source().read(sink.clear()) > 0) {
                // a byte per signal: keep reading until the pipe is empty
            }
        } catch (IOException e) {
            // the owner closed the readiness channel itself; there is nothing left to take
        }
    }

    /** After a receive: the watcher may poll again. */
    void received() {
        synchronized (armLock) {
            armed = true;
            armLock.notifyAll();
        }
    }

    /** Tells the watcher to end (through the stop pipe, or out of its wait for a receive). */
    void stop() {
        stopping = true;
        Posix.signal(stopWrite, 1);
        synchronized (armLock) {
            armLock.notifyAll();
        }
    }

    /** Waits for the watcher to end (at most {@link #JOIN_LIMIT}). */
    void join() {
        boolean interrupted = false;
        long deadline = System.nanoTime() + JOIN_LIMIT.toNanos();
        while (watcher.isAlive()) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                break;
            }
            try {
                watcher.join(Duration.ofNanos(left));
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Releases the pipes; call under the write lock of {@code fdLock}, after {@link #stop()}. */
    void close() {
        Posix.close(stopRead);
        Posix.close(stopWrite);
        closeQuietly(pipe);
    }

    private void watch() {
        ByteBuffer one = ByteBuffer.allocate(1);
        try (Arena arena = Arena.ofConfined()) {
            Posix.PollSet fds = new Posix.PollSet(arena, 2);
            fds.set(0, fd);
            fds.set(1, stopRead);
            while (true) {
                int n;
                fdLock.lock();
                try {
                    if (stopping) {
                        return;
                    }
                    n = fds.poll(-1);
                } finally {
                    fdLock.unlock();
                }
                if (n == -Posix.EINTR) {
                    continue;
                }
                if (n == -Posix.ENOMEM) {
                    Thread.sleep(ENOMEM_PAUSE_MILLIS);
                    continue;
                }
                if (n < 0) {
                    System.getLogger(ReadinessPipe.class.getName()).log(System.Logger.Level.ERROR,
                            Posix.failure("poll unix-dgram:" + name, -n).getMessage() + "; readiness watcher stopped");
                    return;
                }
                if (fds.ready(1) || stopping) {
                    return;
                }
                if (!fds.ready(0)) {
                    continue;
                }
                synchronized (armLock) {
                    armed = false; // a receive from before this byte must not count as its answer
                }
                pipe.sink().write(one.clear());
                synchronized (armLock) {
                    while (!armed && !stopping) {
                        armLock.wait();
                    }
                }
            }
        } catch (IOException | InterruptedException e) {
            // the sink closes only when the socket does; either way the watcher's work is over
        }
    }

    private static void closeQuietly(Pipe p) {
        try {
            p.sink().close();
        } catch (IOException ignored) {
            // closing a pipe end only fails on an already broken descriptor
        }
        try {
            p.source().close();
        } catch (IOException ignored) {
            // as above
        }
    }
}
