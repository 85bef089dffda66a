package dev.sockserve.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.Objects;

/**
 * The raw streams of one connection, behind {@code rfile()} and {@code wfile()}: reads that may time
 * out, and writes that always write everything (never a partial write) and time out only when no
 * progress is made. Before a read that may block, it paces itself as {@link ReadPacing} says.
 */
public final class ChannelStreams extends ReadPacing.Reader implements AutoCloseable {

    private final SocketChannel channel;
    private InputStream probe; // for available() only (how many bytes the kernel holds); made on first use
    private final Object peer; // formatted only for a message: an idle connection holds no string
    private final long readTimeoutNanos;
    private final long writeTimeoutNanos;
    private final IoWatchdog.Deadline deadline; // null: no timeouts at all
    private long received; // the handler's thread only: the request's byte counts
    private long sent;

    public ChannelStreams(SocketChannel channel, Object peer, Duration readTimeout, Duration writeTimeout,
            ReadPacing pacing) {
        super(pacing);
        this.channel = channel;
        this.peer = peer;
        this.readTimeoutNanos = readTimeout == null ? 0 : readTimeout.toNanos();
        this.writeTimeoutNanos = writeTimeout == null ? 0 : writeTimeout.toNanos();
        this.deadline = readTimeout == null && writeTimeout == null ? null : IoWatchdog.of(channel);
    }

    @Override
    int waiting() throws IOException {
        if (probe == null) {
            probe = Channels.newInputStream(channel);
        }
        return probe.available();
    }

    /**
     * The connection's input; {@code bufferSize} is the most it reads ahead (0: no read-ahead, no read
     * takes a byte past what the caller asked for).
     */
    public InputStream input(int bufferSize) {
        return new Input(bufferSize);
    }

    public OutputStream output() {
        return new Output();
    }

    /** Stops watching the connection's deadlines; does not close the connection. */
    @Override
    public void close() {
        if (deadline != null) {
            IoWatchdog.unwatch(deadline);
        }
    }

    private IOException timedOutOr(ClosedChannelException e, String what, long nanos) {
        if (deadline != null && deadline.fired()) {
            var t = new SocketTimeoutException(what + " from " + peer + " timed out after "
                    + Duration.ofNanos(nanos) + "; the connection was closed");
            t.initCause(e);
            return t;
        }
        return e;
    }

    /**
     * The connection's input. While idle it holds only a small array: a blocking read waits with it, and
     * only when that array fills (more bytes are waiting) is a full buffer borrowed from a
     * {@link BufferPool}, filled with what the kernel already holds, and given back once consumed.
     */
    private final class Input extends InputStream {
        /** The array an idle connection keeps and reads small messages into: a 64-byte message fits, and it costs an idle connection little. */
        private static final int SMALL = 128;
        /** What a transfer borrows while bytes keep coming: 64 KiB, loopback's segment size, moves bulk data in few system calls. */
        private static final int TRANSFER = 64 * 1024;

        private final int bufferSize; // 0: unbuffered
        private final byte[] small = new byte[SMALL];
        private final ByteBuffer smallBuffer = ByteBuffer.wrap(small); // reused: one read per message
        private byte[] data = small;
        private BufferPool<byte[]> lender; // non-null while data is a borrowed buffer
        private int pos;
        private int limit;
        private boolean closed;

        Input(int bufferSize) {
            this.bufferSize = bufferSize;
        }

        @Override
        public int read() throws IOException {
            if (pos >= limit && fill(bufferSize == 0 ? 1 : bufferSize) < 0) {
                return -1;
            }
            int b = data[pos++] & 0xff;
            releaseIfDrained();
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            ensureOpen();
            if (len == 0) {
                return 0;
            }
            if (pos >= limit) {
                if (bufferSize == 0 || len >= bufferSize) {
                    return blockingRead(ByteBuffer.wrap(b, off, len)); // the caller's array is big enough: no copy
                }
                if (fill(bufferSize) < 0) {
                    return -1;
                }
            }
            int n = Math.min(len, limit - pos);
            System.arraycopy(data, pos, b, off, n);
            pos += n;
            releaseIfDrained();
            return n;
        }

        /**
         * Copies the input to {@code out}. When {@code out} is this connection's own output, while bytes keep
         * arriving they move through a borrowed direct buffer, which the JDK reads into and writes from
         * without copying. (One method rather than two: a parked virtual thread keeps every frame.)
         */
        @Override
        public long transferTo(OutputStream target) throws IOException {
            Objects.requireNonNull(target, "out");
            ensureOpen();
            if (!(target instanceof Output out) || out.streams() != ChannelStreams.this) {
                return transferElsewhere(target);
            }
            long total = 0;
            if (pos < limit) {
                out.write(data, pos, limit - pos);
                total += limit - pos;
                pos = limit;
                releaseIfDrained();
            }
            while (true) {
                int n;
                if (readTimeoutNanos == 0) {
                    beforeRead();
                    n = channel.read(smallBuffer.clear()); // not through blockingRead: one frame fewer while parked
                    received += Math.max(n, 0);
                } else {
                    n = blockingRead(smallBuffer.clear());
                }
                if (n < 0) {
                    return total;
                }
                int waiting = n < SMALL ? 0 : waiting();
                if (waiting <= 0) {
                    out.write(small, 0, n);
                    total += n;
                    continue;
                }
                BufferPool<ByteBuffer> pool = BufferPool.direct(TRANSFER);
                ByteBuffer buffer = pool.take();
                try {
                    buffer.clear().put(small, 0, n);
                    buffer.limit(Math.min(buffer.capacity(), n + waiting));
                    received += Math.max(channel.read(buffer), 0); // returns at once: the bytes are waiting
                    buffer.flip();
                    total += buffer.remaining();
                    out.writeFully(buffer);
                    // no second look at what waits: the next small read finds out, a system call fewer
                } finally {
                    pool.give(buffer);
                }
            }
        }

        private long transferElsewhere(OutputStream out) throws IOException {
            long total = 0;
            while (true) {
                if (pos < limit) {
                    out.write(data, pos, limit - pos);
                    total += limit - pos;
                    pos = limit;
                    releaseIfDrained();
                }
                if (fill(TRANSFER) < 0) {
                    return total;
                }
            }
        }

        @Override
        public int available() throws IOException {
            ensureOpen();
            return limit - pos;
        }

        /** Reads at least one byte and at most {@code want}, borrowing a full buffer only when more are waiting. */
        private int fill(int want) throws IOException {
            ensureOpen();
            int n = blockingRead(smallBuffer.clear().limit(Math.min(want, SMALL)));
            data = small;
            pos = 0;
            limit = Math.max(n, 0);
            if (n < SMALL || want <= SMALL) {
                return n;
            }
            int waiting = waiting();
            if (waiting <= 0) {
                return n;
            }
            BufferPool<byte[]> pool = BufferPool.of(want);
            byte[] big = pool.take();
            System.arraycopy(small, 0, big, 0, n);
            // the kernel holds `waiting` bytes, so this read returns at once
            int more = channel.read(ByteBuffer.wrap(big, n, Math.min(waiting, big.length - n)));
            received += Math.max(more, 0);
            data = big;
            lender = pool;
            limit = n + Math.max(more, 0);
            return limit;
        }

        private void releaseIfDrained() {
            if (pos >= limit && lender != null) {
                lender.give(data);
                lender = null;
                data = small;
                pos = 0;
                limit = 0;
            }
        }

        private int blockingRead(ByteBuffer buffer) throws IOException {
            beforeRead();
            if (readTimeoutNanos == 0) {
                return counted(channel.read(buffer));
            }
            deadline.armRead(readTimeoutNanos);
            try {
                return counted(channel.read(buffer));
            } catch (ClosedChannelException e) {
                throw timedOutOr(e, "read", readTimeoutNanos);
            } finally {
                deadline.disarmRead();
            }
        }

        private void ensureOpen() throws IOException {
            if (closed) {
                throw new IOException("rfile of " + peer + " is closed");
            }
        }

        @Override
        public void close() {
            closed = true;
            pos = limit;
            releaseIfDrained();
        }
    }

    private int counted(int n) {
        received += Math.max(n, 0);
        return n;
    }

    /** Bytes read from the socket so far (read ahead included) and written to it: the request's counts. */
    public long received() {
        return received;
    }

    public long sent() {
        return sent;
    }

    private final class Output extends OutputStream {
        private boolean closed;

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            writeFully(ByteBuffer.wrap(b, off, len));
        }

        ChannelStreams streams() {
            return ChannelStreams.this;
        }

        void writeFully(ByteBuffer buffer) throws IOException {
            if (closed) {
                throw new IOException("wfile of " + peer + " is closed");
            }
            if (writeTimeoutNanos == 0) {
                while (buffer.hasRemaining()) {
                    sent += channel.write(buffer);
                }
                return;
            }
            try {
                while (buffer.hasRemaining()) {
                    // re-armed on every call: a slow reader that keeps taking bytes is never cut
                    deadline.armWrite(writeTimeoutNanos);
                    sent += channel.write(buffer);
                }
            } catch (ClosedChannelException e) {
                throw timedOutOr(e, "write", writeTimeoutNanos);
            } finally {
                deadline.disarmWrite();
            }
        }

        @Override
        public void close() {
            closed = true;
        }
    }
}
