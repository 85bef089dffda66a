package dev.sockserve.internal;

import dev.sockserve.RequestContext;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.Channel;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.util.function.LongConsumer;

/**
 * Copies bytes both ways between two connections until both directions have ended, carrying each
 * half-close through: the end of one side's input ends the other side's output. What a TLS connection
 * handed to a child process, {@code exec} over TLS and {@code forward} need.
 */
public final class Relay {

    /** How many bytes one direction moves per read: one TLS record's worth of plain text. */
    private static final int CHUNK = 16 * 1024;
    /** What a direction borrows while more than a chunk is waiting: loopback's 64 KiB segment, four records. */
    private static final int BATCH = 64 * 1024;

    /** One side: what to read and write, how to end only its output, and how to close it all. */
    public record Side(ByteChannel channel, IoAction endOutput, Channel underlying) {
    }

    @FunctionalInterface
    public interface IoAction {
        void run() throws IOException;
    }

    private static final LongConsumer NOT_COUNTED = n -> { };

    private Relay() {
    }

    /**
     * Relays until both directions ended; a direction that fails (a reset) closes both sides, so the other
     * direction ends too. Runs one direction on a new virtual thread and the other on the caller's.
     */
    public static void run(Side a, Side b, String name) throws InterruptedException {
        Thread other = Thread.ofVirtual().name(name).start(() -> copy(b, a));
        copy(a, b);
        other.join();
    }

    /**
     * As {@link #run(Side, Side, String)} between a request's client and another side, counting the request's
     * bytes as the core's streams do: what was read from the client is its bytes in, what was written to it
     * its bytes out.
     */
    public static void run(Side client, Side other, String name, RequestContext request) throws InterruptedException {
        Thread back = Thread.ofVirtual().name(name).start(() -> toClient(other, client, request));
        fromClient(client, other, request);
        back.join();
    }

    /** One direction, until {@code from}'s input ends (then {@code to}'s output is ended) or a failure closes both. */
    public static void copy(Side from, Side to) {
        copy(from, to, NOT_COUNTED, NOT_COUNTED);
    }

    /** {@link #copy} from a request's client, counting what was read as the request's bytes in. */
    public static void fromClient(Side client, Side to, RequestContext request) {
        copy(client, to, n -> request.countBytes(n, 0), NOT_COUNTED);
    }

    /** {@link #copy} to a request's client, counting what was written as the request's bytes out. */
    public static void toClient(Side from, Side client, RequestContext request) {
        copy(from, client, NOT_COUNTED, n -> request.countBytes(0, n));
    }

    /** A direction holds one chunk; while more than a chunk is waiting it moves up to 64 KiB per write. */
    private static void copy(Side from, Side to, LongConsumer read, LongConsumer written) {
        ByteBuffer buffer = ByteBuffer.allocate(CHUNK);
        BufferPool<byte[]> batches = BufferPool.of(BATCH);
        InputStream probe = from.channel() instanceof SocketChannel socket ? Channels.newInputStream(socket) : null;
        try {
            while (from.channel().read(buffer) >= 0) {
                ByteBuffer out = buffer.flip();
                byte[] batch = null;
                int waiting = buffer.limit() == CHUNK ? waiting(from.channel(), probe) : 0;
                if (waiting > 0) {
                    batch = batches.take();
                    out = ByteBuffer.wrap(batch).put(buffer);
                    out.limit(Math.min(BATCH, out.position() + waiting));
                    from.channel().read(out); // returns at once: the bytes are there
                    out.flip();
                }
                try {
                    int chunk = out.remaining();
                    read.accept(chunk);
                    while (out.hasRemaining()) {
                        to.channel().write(out);
                    }
                    written.accept(chunk);
                } finally {
                    if (batch != null) {
                        batches.give(batch);
                    }
                }
                buffer.clear();
            }
            to.endOutput().run();
        } catch (IOException | RuntimeException e) {
            closeQuietly(from.underlying());
            closeQuietly(to.underlying());
        }
    }

    /** How many more bytes a read would find without blocking (for TLS, at least a record's worth when any). */
    private static int waiting(ByteChannel channel, InputStream probe) throws IOException {
        if (channel instanceof TlsChannel tls) {
            return tls.readable() ? BATCH : 0;
        }
        return probe == null ? 0 : probe.available();
    }

    private static void closeQuietly(Channel channel) {
        try {
            channel.close();
        } catch (IOException alreadyGone) {
            // closed is all we wanted
        }
    }
}
