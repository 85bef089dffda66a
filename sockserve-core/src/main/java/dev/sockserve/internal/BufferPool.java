package dev.sockserve.internal;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Supplier;

/**
 * Buffers lent to a connection only while it has data to move, so that an idle connection holds none
 * (a virtual thread per connection would otherwise keep a full buffer on every idle one). A few dozen
 * slots, picked by thread id, taken and given back with one atomic operation each; when the slots are
 * empty a new buffer is made, and a surplus one is left to the garbage collector.
 */
final class BufferPool<T> {

    /** Slots per pool, 64: more than the buffers lent at once on a few cores, few enough to stay one small array. */
    private static final int SLOT_BITS = 6;
    private static final int SLOTS = 1 << SLOT_BITS;
    /** Slots tried from a thread's own before giving up: a few, so a take or give stays a handful of atomic operations. */
    private static final int PROBES = 4;
    private static final ConcurrentHashMap<Integer, BufferPool<byte[]>> ARRAYS = new ConcurrentHashMap<>();
    private static final ConcurrentHashMap<Integer, BufferPool<ByteBuffer>> DIRECT = new ConcurrentHashMap<>();

    private final Supplier<T> factory;
    private final AtomicReferenceArray<T> slots = new AtomicReferenceArray<>(SLOTS);

    private BufferPool(Supplier<T> factory) {
        this.factory = factory;
    }

    /** Heap arrays of {@code size} bytes. */
    static BufferPool<byte[]> of(int size) {
        return ARRAYS.computeIfAbsent(size, s -> new BufferPool<>(() -> new byte[s]));
    }

    /** Direct buffers of {@code size} bytes: the JDK reads and writes them without a copy. */
    static BufferPool<ByteBuffer> direct(int size) {
        return DIRECT.computeIfAbsent(size, s -> new BufferPool<>(() -> ByteBuffer.allocateDirect(s)));
    }

    private static int home() {
        long id = Thread.currentThread().threadId();
        return (int) ((id * 0x9E3779B97F4A7C15L) >>> (64 - SLOT_BITS)); // the top bits of a Fibonacci hash
    }

    T take() {
        int home = home();
        for (int i = 0; i < PROBES; i++) {
            T b = slots.getAndSet((home + i) & (SLOTS - 1), null);
            if (b != null) {
                return b;
            }
        }
        return factory.get();
    }

    void give(T buffer) {
        int home = home();
        for (int i = 0; i < PROBES; i++) {
            if (slots.compareAndSet((home + i) & (SLOTS - 1), null, buffer)) {
                return;
            }
        }
    }
}
