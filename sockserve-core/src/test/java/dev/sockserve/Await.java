package dev.sockserve;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * The one place the tests wait for a condition: it is looked at every few milliseconds until it holds, and
 * the wait fails after a deadline. Part of the test kit the command's tests reuse.
 */
public final class Await {

    /** Far longer than anything a test waits for takes, even on a loaded machine. */
    public static final Duration DEADLINE = Duration.ofSeconds(10);

    private static final long LOOK_EVERY_MILLIS = 5;

    private Await() {
    }

    /** Waits until {@code condition} holds; fails with {@code what} after {@link #DEADLINE}. */
    public static void until(String what, BooleanSupplier condition) throws InterruptedException {
        until(what, DEADLINE, condition);
    }

    /** Waits until {@code condition} holds; fails with {@code what} after {@code deadline}. */
    public static void until(String what, Duration deadline, BooleanSupplier condition) throws InterruptedException {
        if (!holdsWithin(deadline, condition)) {
            throw new AssertionError("timed out after " + deadline.toSeconds() + " s waiting for " + what);
        }
    }

    /** Whether {@code condition} came to hold within {@code deadline}. */
    public static boolean holdsWithin(Duration deadline, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + deadline.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - end > 0) {
                return false;
            }
            Thread.sleep(LOOK_EVERY_MILLIS);
        }
        return true;
    }
}
