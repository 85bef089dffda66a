package dev.sockserve.internal;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * Logs one kind of message at most once per interval, so that a flood of the events it reports (oversize
 * datagrams, refused replies) cannot flood the log. The messages in between are counted, and the next
 * line logged says how many were left out. Thread-safe; the message is built only when it is logged.
 * {@snippet :
 * private final LogLimiter oversize = new LogLimiter(LOG, Duration.ofSeconds(1));
 * oversize.log(Level.WARNING, () -> "datagram from " + sender + " is too long");
 * }
 */
public final class LogLimiter {

    private final Logger logger;
    private final long intervalNanos;
    private final String intervalText;
    private final AtomicLong nextLine;
    private final AtomicLong suppressed = new AtomicLong();

    public LogLimiter(Logger logger, Duration interval) {
        this.logger = Objects.requireNonNull(logger, "logger");
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("interval must be positive, was " + interval);
        }
        this.intervalNanos = interval.toNanos();
        this.intervalText = interval.toMillis() % 1000 == 0 ? interval.toSeconds() + "s" : interval.toMillis() + "ms";
        this.nextLine = new AtomicLong(System.nanoTime());
    }

    /**
     * Logs {@code message} if no line was logged in the last interval; otherwise counts it.
     *
     * @return whether it was logged
     */
    public boolean log(Level level, Supplier<String> message) {
        return log(level, message, null);
    }

    /** As {@link #log(Level, Supplier)}, with the exception that caused it (may be null). */
    public boolean log(Level level, Supplier<String> message, Throwable thrown) {
        long now = System.nanoTime();
        long next = nextLine.get();
        if (now - next < 0 || !nextLine.compareAndSet(next, now + intervalNanos)) {
            suppressed.incrementAndGet();
            return false;
        }
        long left = suppressed.getAndSet(0);
        String line = left == 0 ? message.get()
                : message.get() + " (" + left + " more like it not logged, at most one line per " + intervalText + ")";
        if (thrown == null) {
            logger.log(level, line);
        } else {
            logger.log(level, line, thrown);
        }
        return true;
    }

    /**
     * Logs {@code message} with the count of messages left out since the last line, if any were: for
     * the end of a flood (a server closing), which no later line would report.
     */
    public void flush(Level level, Supplier<String> message) {
        long left = suppressed.getAndSet(0);
        if (left > 0) {
            logger.log(level, message.get() + " (" + left + " more like it not logged, at most one line per "
                    + intervalText + ")");
        }
    }

    /** Messages counted but not logged since the last line logged. */
    public long suppressed() {
        return suppressed.get();
    }
}
