package dev.sockserve.internal;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntSupplier;

/**
 * What a handler does just before a read that may block, so that it costs less than parking and does
 * not keep other requests from a CPU ({@code ServerOptions.readSpin}; measurements and the designs tried
 * are in {@code sockserve-bench/RESULTS.md}, designs 13, 18 and 19):
 * <ul>
 * <li>while the server has no more requests in flight than virtual-thread carriers, it looks for
 *     waiting bytes for up to the spin time, yielding between looks: a client that answers within
 *     microseconds is read without parking and waking the thread;</li>
 * <li>busier than that, a virtual-thread handler does not spin but yields before every other read, so
 *     the other requests run first and its client's next message has usually come when it reads;</li>
 * <li>and a handler whose reads keep finding bytes waiting (a client that streams without pause, which
 *     would never park, and the JDK never preempts a virtual thread) steps back behind the threads
 *     woken from outside its carrier, the JDK's pollers among them.</li>
 * </ul>
 * One instance per server; each connection's streams keep their own counters ({@link Reader}).
 */
public final class ReadPacing {

    /** Every this many busy reads one looks whether bytes wait: one {@code FIONREAD} per 15 reads is cheap, and an odd count falls on reads after a yield and right after a reply alike. */
    private static final int LOOK_EVERY = 15;
    /** Looks in a row that found bytes waiting before the handler steps back: 4 (about 60 reads) tell a stream without pause from a client whose next message is only sometimes there. */
    private static final int LOOKS_BEFORE_STEPPING_BACK = 4;
    /** Busy reads of a connection that never yield: its first read usually finds its message, and the first time the thread leaves its carrier (a park, at the second) sizes its stack copy, which a yield would size too small. */
    private static final int READS_BEFORE_YIELDING = 2;
    /** The park that steps back: the shortest there is; the JDK's timer thread wakes it, from outside the carrier, so it queues behind the pollers. */
    private static final long STEP_BACK_NANOS = 1;

    private final long spinNanos;
    private final IntSupplier inFlight;
    private final int carriers;

    /**
     * @param spin how long a handler looks for bytes before parking; zero: it parks at once and never yields
     * @param inFlight the server's requests in flight
     */
    public ReadPacing(Duration spin, IntSupplier inFlight) {
        this.spinNanos = spin.toNanos();
        this.inFlight = inFlight;
        this.carriers = Carriers.count();
    }

    /**
     * One connection's reads, paced: its streams extend this, so that the counters live in the object
     * every read touches anyway rather than in one more per connection.
     */
    abstract static class Reader {
        private final ReadPacing pacing;
        private int busyReads; // reads made while the server was busier than its carriers
        private int looksFindingBytes; // looks in a row (one every LOOK_EVERY busy reads) that found bytes waiting

        Reader(ReadPacing pacing) {
            this.pacing = pacing;
        }

        /** How many bytes the kernel holds for the connection, without reading them. */
        abstract int waiting() throws IOException;

        /** Called before every read that may block; returns when the read should be made. */
        final void beforeRead() {
            ReadPacing p = pacing;
            if (p.spinNanos == 0) {
                return;
            }
            if (p.inFlight.getAsInt() > p.carriers) { // one look at the requests in flight: this is on every read's path
                busy();
            } else {
                spin(p);
            }
        }

        private void busy() {
            if (!Thread.currentThread().isVirtual()) {
                return; // a platform thread is preempted by the OS, and its yield gives way to no request
            }
            int n = busyReads = busyReads == Integer.MAX_VALUE ? READS_BEFORE_YIELDING + 1 : busyReads + 1;
            if (n % LOOK_EVERY == 0) {
                looksFindingBytes = hasBytes() ? looksFindingBytes + 1 : 0;
                if (looksFindingBytes >= LOOKS_BEFORE_STEPPING_BACK) {
                    looksFindingBytes = 0;
                    LockSupport.parkNanos(STEP_BACK_NANOS);
                    return;
                }
            }
            if (n > READS_BEFORE_YIELDING && (n & 1) == 1) {
                Thread.yield();
            }
        }

        private void spin(ReadPacing p) {
            long end = System.nanoTime() + p.spinNanos;
            try {
                while (waiting() == 0 && System.nanoTime() - end < 0 && p.inFlight.getAsInt() <= p.carriers) {
                    Thread.yield();
                }
            } catch (IOException e) {
                // closed or broken: the read that follows reports it
            }
        }

        private boolean hasBytes() {
            try {
                return waiting() > 0;
            } catch (IOException e) {
                return false; // closed or broken: the read that follows reports it
            }
        }
    }
}
