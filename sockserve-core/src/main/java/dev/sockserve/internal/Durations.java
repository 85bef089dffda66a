package dev.sockserve.internal;

import java.time.Duration;

/** Durations as people write them in a command line or a log: {@code 3s}, {@code 250ms}, {@code 1m30s}. */
public final class Durations {

    private Durations() {
    }

    public static String format(Duration d) {
        if (d.isZero()) {
            return "0s";
        }
        long nanos = d.toNanosPart();
        long seconds = d.getSeconds();
        if (seconds == 0 || nanos != 0) {
            if (nanos % 1_000_000 == 0 && seconds < 10) {
                return (seconds * 1000 + nanos / 1_000_000) + "ms";
            }
            if (seconds == 0) {
                return nanos % 1000 == 0 ? nanos / 1000 + "us" : nanos + "ns";
            }
            return String.format(java.util.Locale.ROOT, "%.3fs", seconds + nanos / 1e9);
        }
        StringBuilder out = new StringBuilder();
        if (seconds >= 3600) {
            out.append(seconds / 3600).append('h');
            seconds %= 3600;
        }
        if (seconds >= 60) {
            out.append(seconds / 60).append('m');
            seconds %= 60;
        }
        if (seconds > 0) {
            out.append(seconds).append('s');
        }
        return out.toString();
    }
}
