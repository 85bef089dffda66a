package dev.sockserve.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.Channel;

/**
 * Copies bytes both ways between two connections until both directions have ended, carrying each
 * half-close through: the end of one side's input ends the other side's output. What a TLS connection
 * handed to a child process, {@code exec} over TLS and {@code forward} need.
 */
public final class Relay {

    /** How many bytes one direction moves per read: one TLS record's worth of plain text. */
    private static final int CHUNK = 16 * 1024;

    /** One side: what to read and write, how to end only its output, and how to close it all. */
    public record Side(ByteChannel channel, IoAction endOutput, Channel underlying) {
    }

    @FunctionalInterface
    public interface IoAction {
        void run() throws IOException;
    }

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

    /** One direction, until {@code from}'s input ends (then {@code to}'s output is ended) or a failure closes both. */
    public static void copy(Side from, Side to) {
        ByteBuffer buffer = ByteBuffer.allocate(CHUNK);
        try {
            while (from.channel().read(buffer) >= 0) {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    to.channel().write(buffer);
                }
                buffer.clear();
            }
            to.endOutput().run();
        } catch (IOException | RuntimeException e) {
            closeQuietly(from.underlying());
            closeQuietly(to.underlying());
        }
    }

    private static void closeQuietly(Channel channel) {
        try {
            channel.close();
        } catch (IOException alreadyGone) {
            // closed is all we wanted
        }
    }
}
