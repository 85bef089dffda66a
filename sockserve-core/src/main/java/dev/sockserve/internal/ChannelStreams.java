package dev.sockserve.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.Objects;

/**
 * The raw streams of one connection, behind {@code rfile()} and {@code wfile()}: reads that may time
 * out, and writes that always write everything (never a partial write) and time out only when no
 * progress is made.
 */
public final class ChannelStreams implements AutoCloseable {

    private final ByteChannel channel;
    private final String peer;
    private final long readTimeoutNanos;
    private final long writeTimeoutNanos;
    private final IoWatchdog.Deadline deadline; // null: no timeouts at all

    public ChannelStreams(ByteChannel channel, String peer, Duration readTimeout, Duration writeTimeout) {
        this.channel = channel;
        this.peer = peer;
        this.readTimeoutNanos = readTimeout == null ? 0 : readTimeout.toNanos();
        this.writeTimeoutNanos = writeTimeout == null ? 0 : writeTimeout.toNanos();
        this.deadline = readTimeout == null && writeTimeout == null ? null : IoWatchdog.watch(channel);
    }

    public InputStream input() {
        return new Input();
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

    private final class Input extends InputStream {
        private boolean closed;

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (closed) {
                throw new IOException("rfile of " + peer + " is closed");
            }
            if (len == 0) {
                return 0;
            }
            ByteBuffer buffer = ByteBuffer.wrap(b, off, len);
            if (readTimeoutNanos == 0) {
                return channel.read(buffer);
            }
            deadline.readDeadline = System.nanoTime() + readTimeoutNanos;
            try {
                return channel.read(buffer);
            } catch (ClosedChannelException e) {
                throw timedOutOr(e, "read", readTimeoutNanos);
            } finally {
                deadline.readDeadline = 0;
            }
        }

        @Override
        public void close() {
            closed = true;
        }
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
            if (closed) {
                throw new IOException("wfile of " + peer + " is closed");
            }
            ByteBuffer buffer = ByteBuffer.wrap(b, off, len);
            if (writeTimeoutNanos == 0) {
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
                return;
            }
            try {
                while (buffer.hasRemaining()) {
                    // re-armed on every call: a slow reader that keeps taking bytes is never cut
                    deadline.writeDeadline = System.nanoTime() + writeTimeoutNanos;
                    channel.write(buffer);
                }
            } catch (ClosedChannelException e) {
                throw timedOutOr(e, "write", writeTimeoutNanos);
            } finally {
                deadline.writeDeadline = 0;
            }
        }

        @Override
        public void close() {
            closed = true;
        }
    }
}
