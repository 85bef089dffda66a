package dev.sockserve.internal;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;

/**
 * The requests a server has accepted and not yet ended, and the optional bound on them.
 *
 * <p>A slot is taken before accepting (so at the limit the server stops accepting and the kernel
 * backlog holds the wait), turned into a tracked request once accepted, and given back when the
 * request ends. Finished requests are forgotten at once: nothing grows with the number served.
 */
public final class InFlight<R, C> {

    private final Map<R, C> active = new ConcurrentHashMap<>();
    private final Semaphore slots; // null: unbounded
    private volatile boolean starved;
    private volatile boolean closing;
    private volatile Runnable onSlotFreed = () -> { };

    public InFlight(int limit) {
        this.slots = limit > 0 ? new Semaphore(limit) : null;
    }

    /** Whether a slot is free now; when not, the next freed slot calls the {@link #onSlotFreed} action. */
    public boolean hasRoom() {
        if (slots == null || slots.availablePermits() > 0) {
            return true;
        }
        starved = true;
        // a slot freed between the check and the flag would not wake anyone: look again
        return slots.availablePermits() > 0;
    }

    /** Takes a slot before accepting; false at the limit. */
    public boolean admit() {
        return slots == null || slots.tryAcquire();
    }

    /** Gives back a slot taken by {@link #admit()} when nothing was accepted. */
    public void cancel() {
        free();
    }

    /** Tracks an accepted request with what travels with it. */
    public void started(R request, C context) {
        active.put(request, context);
    }

    /** What travels with a request in flight. */
    public Optional<C> context(R request) {
        return Optional.ofNullable(active.get(request));
    }

    /** Ends a request; true the first time only. */
    public boolean finished(R request) {
        if (active.remove(request) == null) {
            return false;
        }
        free();
        if (closing && active.isEmpty()) {
            synchronized (this) {
                notifyAll();
            }
        }
        return true;
    }

    private void free() {
        if (slots != null) {
            slots.release();
            if (starved) {
                starved = false;
                onSlotFreed.run();
            }
        }
    }

    public void onSlotFreed(Runnable action) {
        this.onSlotFreed = action;
    }

    public int size() {
        return active.size();
    }

    public List<C> snapshot() {
        return List.copyOf(active.values());
    }

    /** Waits until no request is in flight, at most {@code grace}; true if none is left. */
    public boolean awaitEmpty(Duration grace) throws InterruptedException {
        closing = true;
        long deadline = System.nanoTime() + grace.toNanos();
        synchronized (this) {
            while (!active.isEmpty()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                wait(Math.max(1, left / 1_000_000));
            }
        }
        return true;
    }
}
