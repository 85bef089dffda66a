package dev.sockserve.internal;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Read buffers lent to a connection only while it has data to read, so that an idle connection holds
 * none (a virtual thread per connection would otherwise keep a full buffer on every idle one). A few
 * dozen slots, picked by thread id, taken and given back with one atomic operation each; when the slots
 * are empty a new array is made, and a surplus array is left to the garbage collector.
 */
public final class BufferPool {

    private static final int SLOTS = 64;
    private static final ConcurrentHashMap<Integer, BufferPool> POOLS = new ConcurrentHashMap<>();

    private final int size;
    private final AtomicReferenceArray<byte[]> slots = new AtomicReferenceArray<>(SLOTS);

    private BufferPool(int size) {
        this.size = size;
    }

    public static BufferPool of(int size) {
        return POOLS.computeIfAbsent(size, BufferPool::new);
    }

    private static int home() {
        long id = Thread.currentThread().threadId();
        return (int) ((id * 0x9E3779B97F4A7C15L) >>> 58); // 6 bits: 0..63
    }

    public byte[] take() {
        int home = home();
        for (int i = 0; i < 4; i++) {
            byte[] b = slots.getAndSet((home + i) & (SLOTS - 1), null);
            if (b != null) {
                return b;
            }
        }
        return new byte[size];
    }

    public void give(byte[] buffer) {
        int home = home();
        for (int i = 0; i < 4; i++) {
            if (slots.compareAndSet((home + i) & (SLOTS - 1), null, buffer)) {
                return;
            }
        }
    }
}
