package dev.sockserve.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Waits for any of its servers' sockets to become ready and lets that server take one request: the
 * {@code select()} loop behind {@code serveForever}, {@code handleRequest} and {@code ServerGroup}.
 *
 * <p>{@link #requestStop()} wakes it at once through {@link Selector#wakeup()}, from any thread; a stop
 * requested while the loop is not running applies to its next run, which then returns at once, and
 * every run clears the request when it ends, so no stale flag is left behind.
 */
public final class ServeLoop implements AutoCloseable {

    /** One server, as the loop sees it. */
    public interface Endpoint {
        /** The non-blocking channel whose readiness means a request may be waiting. */
        SelectableChannel readiness();

        /** {@link SelectionKey#OP_ACCEPT} or {@link SelectionKey#OP_READ}. */
        int readyOps();

        /** Nanoseconds for which the endpoint must not take requests (0: it may now). */
        long pausedForNanos();

        /** Whether a slot is free for one more request; when not, the endpoint wakes the loop later. */
        boolean hasRoom();

        /**
         * Takes the waiting requests without blocking (only one when {@code once}); an {@link Error} from a
         * handler passes through.
         */
        void serveReady(boolean once);

        void serviceActions();
    }

    /** How {@link #runOnce} ended. */
    public enum Once { SERVED, TIMED_OUT, STOPPED }

    private final Selector selector;
    private final List<SelectionKey> keys = new ArrayList<>();
    private volatile boolean stopRequested;
    private volatile boolean serving; // the runner is inside an endpoint's serveReady (maybe a handler)
    private Thread runner; // guarded by this

    public ServeLoop() {
        try {
            selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a selector: " + e.getMessage(), e);
        }
    }

    public synchronized void register(Endpoint endpoint) throws IOException {
        SelectableChannel channel = endpoint.readiness();
        channel.configureBlocking(false);
        keys.add(channel.register(selector, endpoint.readyOps(), endpoint));
    }

    /** Serves until {@link #requestStop()}; runs {@code serviceActions} at least every {@code pollInterval}. */
    public void run(Duration pollInterval) {
        enter();
        try {
            while (!stopRequested) {
                turn(pollInterval.toNanos(), false);
            }
        } finally {
            leave();
        }
    }

    /** Waits at most {@code timeout} (null: for ever) for one request and serves it. */
    public Once runOnce(Duration timeout) {
        enter();
        try {
            long deadline = timeout == null ? Long.MAX_VALUE : System.nanoTime() + timeout.toNanos();
            while (!stopRequested) {
                long left = timeout == null ? Long.MAX_VALUE : deadline - System.nanoTime();
                if (left <= 0) {
                    return Once.TIMED_OUT;
                }
                if (turn(left, true)) {
                    return Once.SERVED;
                }
            }
            return Once.STOPPED;
        } finally {
            leave();
        }
    }

    /**
     * A drain's middle step: serves what is queued until no endpoint has anything left, or until
     * {@code atMost} passed. An endpoint at its limit is waited for (a freed slot wakes the loop); the
     * queues count as empty once a short wait brings nothing, so a handshake completing meanwhile is taken.
     */
    public void serveQueued(Duration atMost) {
        long settle = Duration.ofMillis(20).toNanos();
        long deadline = System.nanoTime() + atMost.toNanos();
        enter();
        stopRequested = false; // the drain is the stop that was asked for
        try {
            while (!stopRequested) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return;
                }
                boolean waiting = false; // an endpoint that cannot take its queue yet (at its limit, or paused)
                for (SelectionKey key : keys) {
                    Endpoint endpoint = (Endpoint) key.attachment();
                    waiting |= key.isValid() && (endpoint.pausedForNanos() > 0 || !endpoint.hasRoom());
                }
                if (!turn(Math.min(left, waiting ? BLOCKED_WAIT : settle), false) && !waiting) {
                    return;
                }
            }
        } finally {
            leave();
        }
    }

    private static final long BLOCKED_WAIT = Duration.ofMillis(100).toNanos();

    private boolean turn(long waitNanos, boolean once) {
        if (!selector.isOpen()) {
            stopRequested = true; // closed under a handler by serverClose(): nothing more to serve
            return false;
        }
        for (SelectionKey key : keys) {
            Endpoint endpoint = (Endpoint) key.attachment();
            long paused = endpoint.pausedForNanos();
            boolean open = paused == 0 && endpoint.hasRoom();
            if (paused > 0) {
                waitNanos = Math.min(waitNanos, paused);
            }
            int ops = open ? endpoint.readyOps() : 0;
            if (key.isValid() && key.interestOps() != ops) {
                key.interestOps(ops);
            }
        }
        int ready;
        try {
            long millis = Math.max(1, Math.min(waitNanos / 1_000_000, Integer.MAX_VALUE));
            ready = waitNanos == Long.MAX_VALUE ? selector.select() : selector.select(millis);
        } catch (ClosedSelectorException e) {
            stopRequested = true;
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException("select failed: " + e.getMessage(), e);
        }
        boolean served = false;
        if (ready > 0) {
            Iterator<SelectionKey> it = selector.selectedKeys().iterator();
            while (it.hasNext()) {
                SelectionKey key = it.next();
                it.remove();
                if (!stopRequested && key.isValid()) {
                    serving = true;
                    try {
                        ((Endpoint) key.attachment()).serveReady(once);
                    } finally {
                        serving = false;
                    }
                    served = true;
                }
            }
        }
        if (!once) {
            for (SelectionKey key : keys) {
                ((Endpoint) key.attachment()).serviceActions();
            }
        }
        return served;
    }

    private synchronized void enter() {
        if (runner != null) {
            throw new IllegalStateException("already serving on thread " + runner.getName());
        }
        runner = Thread.currentThread();
    }

    private synchronized void leave() {
        stopRequested = false;
        runner = null;
        notifyAll();
    }

    /** Makes the running (or next) run return at once. Never blocks. */
    public void requestStop() {
        stopRequested = true;
        try {
            selector.wakeup();
        } catch (ClosedSelectorException ignored) {
            // closed: nothing is running
        }
    }

    /**
     * Requests a stop and waits until the running loop has returned; returns at once when no loop runs
     * or when called from the loop's own thread (a handler on the serving thread), which would deadlock.
     */
    public void stopAndWait() {
        requestStop();
        synchronized (this) {
            boolean interrupted = false;
            while (runner != null && runner != Thread.currentThread()) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Whether the loop's thread is busy serving a request itself (a synchronous handler) rather than
     * waiting; then {@link #stopAndWait()} would wait for that handler.
     */
    public boolean busyServing() {
        return serving;
    }

    /** Whether {@code thread} is the one running this loop. */
    public synchronized boolean runsOn(Thread thread) {
        return runner == thread;
    }

    public boolean stopRequested() {
        return stopRequested;
    }

    public synchronized boolean isRunning() {
        return runner != null;
    }

    /** Lets the JDK finish closing the channels of cancelled keys (call while the loop does not run). */
    public void releaseClosedChannels() {
        try {
            selector.selectNow();
        } catch (IOException | ClosedSelectorException e) {
            // closed already: nothing is held
        }
    }

    public void wakeup() {
        selector.wakeup();
    }

    @Override
    public void close() {
        try {
            selector.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close the selector: " + e.getMessage(), e);
        }
    }
}
