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
 */
public final class IoWatchdog {

    private static final long PERIOD_MILLIS = 200;
    private static final Set<Deadline> WATCHED = ConcurrentHashMap.newKeySet();
    private static volatile Thread thread;

    private IoWatchdog() {
    }

    /** The deadlines of one connection; 0 means not armed. */
    public static final class Deadline {
        private final Channel channel;
        volatile long readDeadline;
        volatile long writeDeadline;
        private volatile boolean fired;

        Deadline(Channel channel) {
            this.channel = channel;
        }

        public boolean fired() {
            return fired;
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

    public static Deadline watch(Channel channel) {
        Deadline d = new Deadline(channel);
        WATCHED.add(d);
        if (thread == null) {
            start();
        }
        return d;
    }

    public static void unwatch(Deadline deadline) {
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
                    d.check(now);
                }
            }
        });
    }
}
