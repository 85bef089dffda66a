package dev.sockserve.internal;

/**
 * A token bucket: {@code perSecond} tokens a second, at most {@code burst} saved up; it starts full.
 * Thread-safe. Used for the listener's accept rate and for the command's per-address rate.
 */
public final class TokenBucket {

    private final double perNano;
    private final double burst;
    private double tokens;
    private long last;

    public TokenBucket(double perSecond, int burst) {
        if (!(perSecond > 0) || Double.isInfinite(perSecond)) {
            throw new IllegalArgumentException("a rate must be more than 0 a second, was " + perSecond);
        }
        if (burst < 1) {
            throw new IllegalArgumentException("a burst must be at least 1, was " + burst);
        }
        this.perNano = perSecond / 1e9;
        this.burst = burst;
        this.tokens = burst;
        this.last = System.nanoTime();
    }

    private void refill(long now) {
        tokens = Math.min(burst, tokens + (now - last) * perNano);
        last = now;
    }

    /** Takes a token if one is there. */
    public synchronized boolean tryTake() {
        refill(System.nanoTime());
        if (tokens < 1) {
            return false;
        }
        tokens -= 1;
        return true;
    }

    /** Nanoseconds until a token is there; 0 when one is there now. Takes nothing. */
    public synchronized long nanosUntilToken() {
        refill(System.nanoTime());
        return tokens >= 1 ? 0 : Math.max(1, (long) Math.ceil((1 - tokens) / perNano));
    }

    /** Whether the bucket is full again: a caller that keeps many buckets may forget this one. */
    public synchronized boolean full() {
        refill(System.nanoTime());
        return tokens >= burst;
    }
}
