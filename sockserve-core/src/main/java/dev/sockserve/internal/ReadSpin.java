package dev.sockserve.internal;

import java.time.Duration;
import java.util.function.IntSupplier;

/**
 * How long a handler about to block in a read first looks for bytes without parking, and when it may.
 * Parking a thread and waking it when bytes arrive costs two hand-offs between threads per message (the
 * poller's and the carrier's); a client that answers within microseconds is cheaper to wait for on the
 * spot. It goes on only while the server has no more requests in flight than there are CPUs to run
 * them (virtual-thread carriers), so a spinning handler never keeps another request from a CPU; between
 * looks it yields, so even then a thread that is ready runs first. When the server is busier than that,
 * a virtual-thread handler yields once before every other read instead (see {@code ChannelStreams}).
 */
public final class ReadSpin {

    /** Never spins. */
    public static final ReadSpin NEVER = new ReadSpin(Duration.ZERO, () -> Integer.MAX_VALUE);

    private final long nanos;
    private final IntSupplier inFlight;
    private final int maxInFlight;

    public ReadSpin(Duration time, IntSupplier inFlight) {
        this.nanos = time.toNanos();
        this.inFlight = inFlight;
        this.maxInFlight = Carriers.count();
    }

    /** Whether a spin may go on now: not when more requests are in flight than carriers. */
    boolean allowed() {
        return nanos != 0 && inFlight.getAsInt() <= maxInFlight;
    }

    /** Whether the server is busier than its carriers: no spin, but a yield before every other read. */
    boolean busy() {
        return nanos != 0 && inFlight.getAsInt() > maxInFlight;
    }

    /** The deadline of a spin that starts now, or 0 when reads never spin; for a server found not {@link #busy()}. */
    long deadline() {
        return nanos == 0 ? 0 : System.nanoTime() + nanos;
    }
}
