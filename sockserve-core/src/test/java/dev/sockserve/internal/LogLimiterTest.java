package dev.sockserve.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.List;
import java.util.ResourceBundle;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class LogLimiterTest {

    /** A logger that keeps its lines. */
    static final class Lines implements System.Logger {
        final List<String> lines = new CopyOnWriteArrayList<>();

        @Override
        public String getName() {
            return "test";
        }

        @Override
        public boolean isLoggable(Level level) {
            return true;
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String msg, Throwable thrown) {
            lines.add(level + " " + msg);
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String format, Object... params) {
            lines.add(level + " " + format);
        }
    }

    @Test
    void aFloodIsOneLineAnIntervalAndTheNextLineCountsWhatWasLeftOut() {
        var logger = new Lines();
        var limiter = new LogLimiter(logger, Duration.ofMillis(200));
        int[] built = {0};
        Supplier<String> message = () -> {
            built[0]++;
            return "oversize datagram";
        };
        for (int i = 0; i < 10_000; i++) {
            limiter.log(Level.WARNING, message);
        }
        assertEquals(List.of("WARNING oversize datagram"), logger.lines.subList(0, 1));
        long calls = 10_000;
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (logger.lines.size() < 2) { // the next line, once the interval has passed
            assertTrue(System.nanoTime() < deadline, "no second line");
            limiter.log(Level.WARNING, message);
            calls++;
        }
        assertEquals(2, logger.lines.size());
        assertEquals(2, built[0], "a message left out is never built");
        assertEquals("WARNING oversize datagram (" + (calls - 2)
                + " more like it not logged, at most one line per 200ms)", logger.lines.get(1));
        assertEquals(0, limiter.suppressed());
    }
}
