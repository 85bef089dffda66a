package dev.sockserve.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * {@code --health tcp://HOST:PORT}: a readiness check for a load balancer. While serving, every
 * connection gets {@code ok\n} and is closed; {@link #close()} (on the first SIGTERM or SIGINT) closes the
 * listener, so checks are refused from then on and the balancer sends new clients elsewhere.
 */
final class Health implements AutoCloseable {

    private static final ByteBuffer OK = ByteBuffer.wrap("ok\n".getBytes(StandardCharsets.US_ASCII)).asReadOnlyBuffer();

    private final ServerSocketChannel listener;
    private final Thread thread;

    private Health(ServerSocketChannel listener) {
        this.listener = listener;
        this.thread = Thread.ofPlatform().name("sockserve-health").daemon(true).start(this::answer);
    }

    /** Binds the address (exit 1 when the system refuses) and answers from a thread of its own. */
    static Health start(ListenAddress address, boolean reusePort) {
        ServerSocketChannel channel = null;
        try {
            channel = ServerSocketChannel.open();
            channel.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            if (reusePort) {
                channel.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            }
            channel.bind(address.address(), 64);
            return new Health(channel);
        } catch (IOException e) {
            if (channel != null) {
                try {
                    channel.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw new UncheckedIOException("cannot listen on --health " + address + ": " + e.getMessage(), e);
        }
    }

    String address() {
        try {
            return ListenAddress.describe(ListenAddress.Kind.TCP, listener.getLocalAddress());
        } catch (IOException e) {
            return "closed";
        }
    }

    private void answer() {
        while (true) {
            try (SocketChannel c = listener.accept()) {
                c.write(OK.duplicate()); // three bytes on a fresh connection: they fit the send buffer
            } catch (ClosedChannelException closed) {
                return;
            } catch (IOException clientGone) {
                // a checker that went away: the next one is answered
            }
        }
    }

    /** From now on checks are refused. */
    @Override
    public void close() {
        try {
            listener.close();
        } catch (IOException ignored) {
            // closed anyway
        }
        try {
            thread.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    InetSocketAddress bound() throws IOException {
        return (InetSocketAddress) listener.getLocalAddress();
    }
}
