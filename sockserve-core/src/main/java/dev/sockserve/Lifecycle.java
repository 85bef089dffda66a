package dev.sockserve;

import dev.sockserve.internal.ServeLoop;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.time.Duration;

/**
 * A server's life: open, served by one loop at a time (its own, or a {@link ServerGroup}'s), then closed
 * once. Behind {@link BaseServer}'s {@code serveForever}, {@code handleRequest}, {@code shutdown} and
 * {@code serverClose}.
 */
final class Lifecycle<R> {

    private final BaseServer<R> server;
    private final RequestCycle<R> cycle;
    private ServeLoop ownLoop; // guarded by this
    private volatile ServeLoop activeLoop;
    private boolean closed; // guarded by this
    private final Object closeLock = new Object(); // held through a whole close, grace period included
    private CloseOutcome closeOutcome; // guarded by closeLock

    Lifecycle(BaseServer<R> server, RequestCycle<R> cycle) {
        this.server = server;
        this.cycle = cycle;
    }

    /** Runs the server's own loop until a stop ({@code pollInterval}) or for one request ({@code once}). */
    ServeLoop.Once serve(Duration pollInterval, boolean once, Duration timeout) {
        ServeLoop loop = ownLoop();
        servedBy(loop);
        try {
            if (once) {
                return loop.runOnce(timeout);
            }
            loop.run(pollInterval);
            return ServeLoop.Once.STOPPED;
        } finally {
            servedBy(null);
            if (isClosed()) {
                loop.close(); // closed under its own handler: the selector goes when the loop returns
            }
        }
    }

    void shutdown() {
        ServeLoop loop = activeLoop;
        if (loop == null) {
            synchronized (this) {
                loop = closed ? null : ownLoopLocked();
            }
        }
        if (loop != null) {
            loop.stopAndWait();
        }
    }

    private synchronized ServeLoop ownLoop() {
        if (closed) {
            throw new IllegalStateException("the server on " + server.where() + " is closed");
        }
        return ownLoopLocked();
    }

    private ServeLoop ownLoopLocked() {
        if (ownLoop == null) {
            ServeLoop loop = new ServeLoop();
            try {
                loop.register(endpoint());
            } catch (IOException e) {
                loop.close();
                throw new UncheckedIOException("cannot serve " + server.where() + ": " + e.getMessage(), e);
            }
            ownLoop = loop;
        }
        return ownLoop;
    }

    /** How a {@link ServeLoop} (this server's own, or a {@link ServerGroup}'s) sees the server. */
    ServeLoop.Endpoint endpoint() {
        return cycle.endpoint(() -> {
            ServeLoop loop = activeLoop;
            return loop != null && loop.stopRequested();
        });
    }

    void servedBy(ServeLoop loop) {
        if (loop != null && activeLoop != null && activeLoop != loop) {
            throw new IllegalStateException("the server on " + server.where() + " is already being served by another loop");
        }
        activeLoop = loop;
        cycle.onSlotFreed(loop == null ? () -> { } : loop::wakeup);
    }

    CloseOutcome close(ServerOptions options) {
        synchronized (closeLock) { // not this: isClosed() and shutdown() must answer during the grace period
            if (closeOutcome == null) {
                closeOutcome = closeOnce(options);
            }
            return closeOutcome;
        }
    }

    /**
     * Stops serving and closes the listening socket, so that new clients are refused from here on, while
     * the requests in flight carry on. Idempotent.
     */
    void stopAccepting() {
        ServeLoop own;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            own = ownLoop;
        }
        ServeLoop running = activeLoop;
        boolean onLoop = running != null && running.runsOn(Thread.currentThread());
        boolean loopBusy = running != null && (onLoop || running.busyServing());
        if (loopBusy) {
            running.requestStop(); // a synchronous handler runs on it: the loop ends when that handler returns
        } else if (running != null) {
            running.stopAndWait();
        }
        try {
            server.closeSocket();
        } catch (IOException e) {
            BaseServer.LOG.log(Level.WARNING, "closing " + server.where() + " failed: " + e.getMessage(), e);
        }
        // the JDK defers closing a channel still registered with a selector until that selector next
        // selects or closes; until then the kernel would go on completing connections nobody accepts
        if (own != null && !(onLoop && running == own)) {
            own.close();
        }
        if (running != null && running != own && !loopBusy) {
            running.releaseClosedChannels();
        }
    }

    private CloseOutcome closeOnce(ServerOptions options) {
        stopAccepting();
        ServeLoop running = activeLoop;
        if (running != null && running.runsOn(Thread.currentThread())) {
            return CloseOutcome.GRACEFUL; // a handler closing its own server: its request carries on
        }
        Dispatch<R> dispatch = cycle.dispatch();
        if (dispatch == null) {
            return CloseOutcome.GRACEFUL; // never bound
        }
        CloseOutcome outcome = dispatch.drain(cycle, options);
        dispatch.close();
        return outcome;
    }

    synchronized boolean isClosed() {
        return closed;
    }
}
