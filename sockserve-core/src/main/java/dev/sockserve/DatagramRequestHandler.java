package dev.sockserve;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.function.Supplier;

/**
 * A handler for datagram servers: Python's {@code DatagramRequestHandler}. {@link #rfile()} reads the
 * datagram; what the handler writes to {@link #wfile()} is sent back to the client as one datagram
 * when it finishes.
 *
 * {@snippet :
 * class Upper extends DatagramRequestHandler {
 *     @Override
 *     protected void handle() throws IOException {
 *         wfile().write(new String(packet(), US_ASCII).toUpperCase().getBytes(US_ASCII));
 *     }
 * }
 * }
 *
 * <p>A handler that wrote nothing sends no reply (Python sends an empty datagram; see
 * {@link ServerOptions#sendEmptyReplies(boolean)}).
 */
public abstract class DatagramRequestHandler extends BaseRequestHandler<DatagramRequest> {

    private InputStream rfile;
    private ByteArrayOutputStream wfile;

    protected DatagramRequestHandler() {
    }

    /**
     * The body of a handler written as a lambda.
     * {@snippet :
     * DatagramRequestHandler.Body echo = h -> h.wfile().write(h.packet());
     * }
     */
    @FunctionalInterface
    public interface Body {
        void handle(DatagramRequestHandler handler) throws Exception;
    }

    /** A handler factory from a lambda: {@code DatagramRequestHandler.of(h -> h.wfile().write(h.packet()))}. */
    public static Supplier<DatagramRequestHandler> of(Body body) {
        return () -> new DatagramRequestHandler() {
            @Override
            protected void handle() throws Exception {
                body.handle(this);
            }
        };
    }

    /** The datagram's bytes. */
    public final byte[] packet() {
        return request().data();
    }

    /** The server's socket, to reply on. */
    public final DatagramEndpoint socket() {
        return request().socket();
    }

    /** Reads the datagram. */
    public final InputStream rfile() {
        return rfile;
    }

    /** Collects the reply. */
    public final OutputStream wfile() {
        return wfile;
    }

    @Override
    protected void setup() throws Exception {
        rfile = new ByteArrayInputStream(request().data());
        wfile = new ByteArrayOutputStream();
    }

    @Override
    protected void finish() throws Exception {
        context().countBytes(request().data().length, 0);
        if (wfile.size() > 0 || server().options().sendEmptyReplies()) {
            socket().send(ByteBuffer.wrap(wfile.toByteArray()), clientAddress());
            context().countBytes(0, wfile.size());
        }
    }
}
