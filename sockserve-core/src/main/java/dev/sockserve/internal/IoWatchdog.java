package dev.sockserve.internal;

import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.channels.Channel;
import java.nio.channels.NetworkChannel;
import java.util.Arrays;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Closes a connection whose read or write has been blocked past its deadline: Java socket channels have
 * no timeouts of their own (and writes have none at all). One daemon thread, {@code sockserve-io-watchdog},
 * sleeps until the earliest deadline in a queue ordered by deadline (as Okio's {@code AsyncTimeout}), and
 * without a time limit while the queue is empty. A blocked call then fails, and {@link Deadline#fired()}
 * tells the stream to report a timeout rather than a close. A write cut by its deadline is closed with a
 * reset (no lingering), so the kernel drops the bytes the peer never took instead of holding them.
 *
 * <p>Arming a deadline is on every read and write's path, so it only writes the deadline while the
 * connection is queued at or before it: a deadline is re-armed later each time, and the watchdog,
 * finding a connection whose deadline moved on, queues it again at its new deadline (and forgets one
 * with nothing armed). A connection is taken out of the queue at once only when it closes.
 */
final class IoWatchdog {

    private static final ReentrantLock LOCK = new ReentrantLock();
    private static final Condition CHANGED = LOCK.newCondition(); // a new earliest deadline, or the first one
    private static final Queue QUEUE = new Queue(); // guarded by LOCK
    private static Thread thread; // guarded by LOCK

    private IoWatchdog() {
    }

    /** The deadlines of one connection; 0 means not armed. */
    static final class Deadline {
        private final Channel channel;
        private volatile long readDeadline;
        private volatile long writeDeadline;
        private volatile long queuedAt; // the deadline it is queued at, 0 while not queued; written under LOCK
        private int index = -1; // its place in the queue; guarded by LOCK
        private boolean closed; // guarded by LOCK
        private volatile boolean fired;

        Deadline(Channel channel) {
            this.channel = channel;
        }

        boolean fired() {
            return fired;
        }

        void armRead(long nanos) {
            long deadline = System.nanoTime() + nanos;
            readDeadline = deadline;
            queue(deadline);
        }

        void armWrite(long nanos) {
            long deadline = System.nanoTime() + nanos;
            writeDeadline = deadline;
            queue(deadline);
        }

        void disarmRead() {
            readDeadline = 0;
        }

        void disarmWrite() {
            writeDeadline = 0;
        }

        // The deadline is written before queuedAt is read here, and the watchdog writes queuedAt before it
        // reads the deadlines again: one of the two sides always sees the other, so an armed deadline is
        // never left out of the queue nor queued too late.
        private void queue(long deadline) {
            long at = queuedAt;
            if (at == 0 || at - deadline > 0) {
                IoWatchdog.queue(this);
            }
        }

        /** The earliest armed deadline, 0 when none is. */
        private long earliest() {
            long r = readDeadline;
            long w = writeDeadline;
            return r == 0 ? w : w == 0 || r - w < 0 ? r : w;
        }

        /** Closes the connection; abortively when a write was cut, so no unsent bytes linger in the kernel. */
        private void fire(long now) {
            fired = true;
            long w = writeDeadline;
            try {
                if (w != 0 && now - w >= 0 && channel instanceof NetworkChannel n
                        && n.supportedOptions().contains(StandardSocketOptions.SO_LINGER)) {
                    n.setOption(StandardSocketOptions.SO_LINGER, 0);
                }
            } catch (IOException | RuntimeException ignored) {
                // closed meanwhile: the close below does the rest
            }
            try {
                channel.close();
            } catch (IOException ignored) {
                // the blocked call fails either way
            }
        }
    }

    /** The deadlines of a connection, watched from when one is first armed. */
    static Deadline of(Channel channel) {
        return new Deadline(channel);
    }

    /** Stops watching, for good: the connection is done. */
    static void unwatch(Deadline deadline) {
        deadline.disarmRead();
        deadline.disarmWrite();
        if (deadline.queuedAt != 0) {
            LOCK.lock();
            try {
                deadline.closed = true;
                QUEUE.remove(deadline);
            } finally {
                LOCK.unlock();
            }
        }
    }

    /** Queues (or moves up) a connection at its earliest armed deadline. */
    private static void queue(Deadline d) {
        LOCK.lock();
        try {
            long next = d.earliest();
            long at = d.queuedAt;
            if (d.closed || next == 0 || (at != 0 && at - next <= 0)) {
                return;
            }
            QUEUE.remove(d);
            d.queuedAt = next;
            QUEUE.add(d);
            if (thread == null) {
                thread = Thread.ofPlatform().name("sockserve-io-watchdog").daemon(true).start(IoWatchdog::run);
            } else if (QUEUE.first() == d) {
                CHANGED.signal();
            }
        } finally {
            LOCK.unlock();
        }
    }

    private static void run() {
        while (true) {
            Deadline due;
            long now;
            LOCK.lock();
            try {
                due = QUEUE.first();
                if (due == null) {
                    CHANGED.awaitUninterruptibly();
                    continue;
                }
                now = System.nanoTime();
                long wait = due.queuedAt - now;
                if (wait > 0) {
                    CHANGED.awaitNanos(wait);
                    continue;
                }
                QUEUE.remove(due);
                due.queuedAt = 0;
                long next = due.earliest(); // read after queuedAt was cleared (see Deadline.queue)
                if (next == 0) {
                    continue; // nothing armed: queued again when something is
                }
                if (next - now > 0) { // re-armed since it was queued
                    due.queuedAt = next;
                    QUEUE.add(due);
                    if (due.earliest() == 0) { // disarmed meanwhile: its thread may have seen it queued
                        QUEUE.remove(due);
                        due.queuedAt = 0;
                    }
                    continue;
                }
            } catch (InterruptedException e) {
                continue; // no one interrupts it; a daemon thread lives as long as the JVM
            } finally {
                LOCK.unlock();
            }
            due.fire(now); // outside the lock: a close can take a while
        }
    }

    /** A binary heap of deadlines, earliest first, each knowing its place so that it can be taken out at once. */
    private static final class Queue {
        private Deadline[] heap = new Deadline[16];
        private int size;

        Deadline first() {
            return size == 0 ? null : heap[0];
        }

        void add(Deadline d) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            d.index = size++;
            heap[d.index] = d;
            up(d.index);
        }

        void remove(Deadline d) {
            int i = d.index;
            if (i < 0) {
                return;
            }
            d.index = -1;
            Deadline last = heap[--size];
            heap[size] = null;
            if (i == size) {
                return;
            }
            heap[i] = last;
            last.index = i;
            up(i);
            down(last.index);
        }

        private void up(int i) {
            Deadline d = heap[i];
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                Deadline p = heap[parent];
                if (p.queuedAt - d.queuedAt <= 0) {
                    break;
                }
                heap[i] = p;
                p.index = i;
                i = parent;
            }
            heap[i] = d;
            d.index = i;
        }

        private void down(int i) {
            Deadline d = heap[i];
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && heap[child + 1].queuedAt - heap[child].queuedAt < 0) {
                    child++;
                }
                Deadline c = heap[child];
                if (d.queuedAt - c.queuedAt <= 0) {
                    break;
                }
                heap[i] = c;
                c.index = i;
                i = child;
            }
            heap[i] = d;
            d.index = i;
        }
    }
}
