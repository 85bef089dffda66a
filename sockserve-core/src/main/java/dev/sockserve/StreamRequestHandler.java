package dev.sockserve;

import dev.sockserve.internal.ChannelStreams;
import dev.sockserve.internal.TlsChannel;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * A handler for stream servers with {@link #rfile()} and {@link #wfile()}: Python's
 * {@code StreamRequestHandler}.
 *
 * {@snippet :
 * class Echo extends StreamRequestHandler {
 *     @Override
 *     protected void handle() throws IOException {
 *         rfile().transferTo(wfile()); // every byte back, until the client closes
 *     }
 * }
 * }
 *
 * <p>{@code wfile()} always writes everything it is given; a write that makes no progress for the
 * server's {@link ServerOptions#writeTimeout() writeTimeout} fails. Four settings, overridable like
 * Python's class attributes: {@link #rbufsize()}, {@link #wbufsize()}, {@link #timeout()},
 * {@link #disableNagleAlgorithm()}. For a handler that fits in a lambda, see {@link #of(Body)}.
 */
public abstract class StreamRequestHandler extends BaseRequestHandler<SocketChannel> {

    private ChannelStreams streams;
    private Counted wrapped; // over TLS, instead of streams
    private InputStream rfile;
    private OutputStream wfile;

    protected StreamRequestHandler() {
    }

    /**
     * The body of a handler written as a lambda.
     * {@snippet :
     * StreamRequestHandler.Body upper = h -> h.wfile().write(h.rfile().readAllBytes());
     * }
     */
    @FunctionalInterface
    public interface Body {
        void handle(StreamRequestHandler handler) throws Exception;
    }

    /**
     * A handler factory from a lambda:
     * {@snippet :
     * new ThreadingTcpServer(address, StreamRequestHandler.of(h -> h.rfile().transferTo(h.wfile())));
     * }
     */
    public static Supplier<StreamRequestHandler> of(Body body) {
        return () -> new StreamRequestHandler() {
            @Override
            protected void handle() throws Exception {
                body.handle(this);
            }
        };
    }

    /**
     * How many bytes {@code rfile()} reads ahead at most. Default 8192 (Python's buffer size). 0 means no
     * read-ahead, as in Python: {@code rfile()} then never takes a byte past what the caller asked for, so
     * the rest can be read from {@link #request()} directly. The buffer is lent to the connection only
     * while it holds unread bytes: an idle connection keeps none.
     */
    protected int rbufsize() {
        return 8192;
    }

    /** The write buffer's size in bytes; 0 (the default, as in Python) sends every write at once. */
    protected int wbufsize() {
        return 0;
    }

    /**
     * How long one read on {@code rfile()} may wait; past it the read throws
     * {@link java.net.SocketTimeoutException} and the connection is closed. Default: none.
     */
    protected Optional<Duration> timeout() {
        return Optional.empty();
    }

    /** Whether to set {@code TCP_NODELAY} (TCP only). Default {@code false}. */
    protected boolean disableNagleAlgorithm() {
        return false;
    }

    /** The connection (also {@link #request()}). */
    public final SocketChannel connection() {
        return request();
    }

    /**
     * The connection's input, buffered by {@link #rbufsize()}. {@code rfile().transferTo(wfile())} copies
     * the whole input without holding a buffer while the client is silent.
     */
    public final InputStream rfile() {
        return rfile;
    }

    /** The connection's output, buffered by {@link #wbufsize()}; flushed by {@link #finish()}. */
    public final OutputStream wfile() {
        return wfile;
    }

    @Override
    protected void setup() throws Exception {
        SocketChannel connection = request();
        if (disableNagleAlgorithm() && server().addressFamily() != StandardProtocolFamily.UNIX) {
            connection.setOption(StandardSocketOptions.TCP_NODELAY, true);
        }
        if (context().channelWrapped()) {
            // a connection step wrapped the socket (TLS): the handler reads and writes through the wrapper
            ByteChannel channel = context().channel().orElseThrow();
            wrapped = new Counted(channel);
            InputStream in = Channels.newInputStream(wrapped);
            if (channel instanceof TlsChannel tls) {
                tls.timeouts(timeout().orElse(null), server().options().writeTimeout().orElse(null));
                in = tls.input(wrapped); // bursts of records moved in one write by transferTo, still counted
            }
            rfile = new BufferedInputStream(in, Math.max(rbufsize(), 1));
            OutputStream out = Channels.newOutputStream(wrapped);
            wfile = wbufsize() > 0 ? new BufferedOutputStream(out, wbufsize()) : out;
            return;
        }
        streams = new ChannelStreams(connection, clientAddress(), timeout().orElse(null),
                server().options().writeTimeout().orElse(null), server().readPacing());
        rfile = streams.input(Math.max(rbufsize(), 0));
        wfile = wbufsize() > 0 ? new BufferedOutputStream(streams.output(), wbufsize()) : streams.output();
    }

    @Override
    protected void finish() throws Exception {
        try {
            wfile.flush();
        } catch (IOException peerGone) {
            // as in Python: a client that went away before the last bytes is not the handler's error
        } finally {
            if (streams != null) {
                streams.close();
                context().countBytes(streams.received(), streams.sent());
            } else if (wrapped != null) {
                context().countBytes(wrapped.received, wrapped.sent);
            }
        }
    }

    /** A wrapped channel (TLS) counted as the handler sees it: plain text. The handler's thread only. */
    private static final class Counted implements ByteChannel {
        private final ByteChannel channel;
        long received;
        long sent;

        Counted(ByteChannel channel) {
            this.channel = channel;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            int n = channel.read(dst);
            received += Math.max(n, 0);
            return n;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            int n = channel.write(src);
            sent += n;
            return n;
        }

        @Override
        public boolean isOpen() {
            return channel.isOpen();
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
