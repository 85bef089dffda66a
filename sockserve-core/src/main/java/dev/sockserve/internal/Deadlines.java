package dev.sockserve.internal;

import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Runs an action at a deadline unless cancelled first: how a connection step that overran is closed.
 * One daemon thread for the whole JVM, made on first use (a server without steps never starts it).
 */
public final class Deadlines {

    private static final class Holder {
        static final ScheduledThreadPoolExecutor TIMER = make();

        private static ScheduledThreadPoolExecutor make() {
            var timer = new ScheduledThreadPoolExecutor(1, Thread.ofPlatform().name("sockserve-deadlines").daemon(true)
                    .factory());
            timer.setRemoveOnCancelPolicy(true); // a step that finished in time leaves nothing queued
            return timer;
        }
    }

    private Deadlines() {
    }

    /** Runs {@code action} after {@code delay}; cancel the returned future when the work finished first. */
    public static ScheduledFuture<?> after(Duration delay, Runnable action) {
        return Holder.TIMER.schedule(action, delay.toNanos(), TimeUnit.NANOSECONDS);
    }
}
