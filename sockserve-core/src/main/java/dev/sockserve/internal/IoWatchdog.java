package dev.sockserve.internal;

import java.io.IOException;
import java.nio.channels.Channel;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Closes a connection whose read or write has been blocked past its deadline. Java socket channels
 * have no timeouts of their own (and writes have none at all), so one daemon thread,
 * {@code sockserve-io-watchdog}, checks the armed deadlines about five times a second. A blocked call
 * then fails, and {@link Deadline#fired()} tells the stream to report a timeout rather than a close.
 *
 * <p>Only connections with a deadline armed lately are in the watched set: arming adds the connection
 * when it is not there, and a sweep takes out one that has had nothing armed for {@link #KEEP_NANOS}. An
 * idle connection, parked in a read without a timeout, costs the set nothing once it has sat that long,
 * and a busy one (a write deadline armed for every write) stays in rather than leaving and coming back
 * between its messages.
 */
public final class IoWatchdog {

    private static final long PERIOD_MILLIS = 200;
    /** How long a connection stays watched after its last deadline was armed: two sweeps. */
    static final long KEEP_NANOS = 2 * PERIOD_MILLIS * 1_000_000;
    private static final Set<Deadline> WATCHED = ConcurrentHashMap.newKeySet();
    private static volatile Thread thread;

    private IoWatchdog() {
    }

    /** The deadlines of one connection; 0 means not armed. */
    public static final class Deadline {
        private final Channel channel;
        private volatile long readDeadline;
        private volatile long writeDeadline;
        private long lastArmed; // read by the sweep only to decide when to let go; a stale value only delays that
        private volatile boolean watched;
        private volatile boolean fired;

        Deadline(Channel channel) {
            this.channel = channel;
        }

        public boolean fired() {
            return fired;
        }

        void armRead(long nanos) {
            long now = System.nanoTime();
            readDeadline = now + nanos;
            lastArmed = now;
            watch();
        }

        void armWrite(long nanos) {
            long now = System.nanoTime();
            writeDeadline = now + nanos;
            lastArmed = now;
            watch();
        }

        void disarmRead() {
            readDeadline = 0;
        }

        void disarmWrite() {
            writeDeadline = 0;
        }

        private boolean armed() {
            return readDeadline != 0 || writeDeadline != 0;
        }

        // The deadline is written before `watched` is read here, and `watched` is cleared before the deadlines
        // are read again in sweep(): one of the two sides always sees the other, so an armed deadline is
        // never left out of the set.
        private void watch() {
            if (!watched) {
                watched = true;
                WATCHED.add(this);
                if (thread == null) {
                    start();
                }
            }
        }

        private void sweep(long now) {
            if (now - lastArmed < KEEP_NANOS) {
                return;
            }
            watched = false;
            WATCHED.remove(this);
            if (armed()) {
                watched = true;
                WATCHED.add(this);
            }
        }

        void check(long now) {
            long r = readDeadline;
            long w = writeDeadline;
            if ((r != 0 && now - r >= 0) || (w != 0 && now - w >= 0)) {
                fired = true;
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // the blocked call fails either way
                }
            }
        }
    }

    /** The deadlines of a connection, watched from when one is first armed. */
    public static Deadline of(Channel channel) {
        return new Deadline(channel);
    }

    /** Stops watching, for good: the connection is done. */
    public static void unwatch(Deadline deadline) {
        deadline.disarmRead();
        deadline.disarmWrite();
        WATCHED.remove(deadline);
    }

    private static synchronized void start() {
        if (thread != null) {
            return;
        }
        thread = Thread.ofPlatform().name("sockserve-io-watchdog").daemon(true).start(() -> {
            while (true) {
                try {
                    Thread.sleep(PERIOD_MILLIS);
                } catch (InterruptedException e) {
                    return;
                }
                long now = System.nanoTime();
                for (Deadline d : WATCHED) {
                    if (d.armed()) {
                        d.check(now);
                    } else {
                        d.sweep(now);
                    }
                }
            }
        });
    }
}
