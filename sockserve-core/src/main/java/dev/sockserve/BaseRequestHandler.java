package dev.sockserve;

import java.net.SocketAddress;

/**
 * Handles one request: Python's {@code BaseRequestHandler}. The server makes a fresh instance for
 * every request (through the factory given to its constructor, usually {@code MyHandler::new}), hands
 * it the request, and calls {@link #setup()}, {@link #handle()} and {@link #finish()} in that order;
 * {@code finish()} runs whenever {@code setup()} returned, even when {@code handle()} threw.
 *
 * <p>Most handlers extend {@link StreamRequestHandler} or {@link DatagramRequestHandler}, which give
 * streams over the connection or datagram. An exception thrown by {@code handle()} goes to the server's
 * {@link BaseServer#handleError handleError}; it never stops the server.
 *
 * {@snippet :
 * class Hello extends BaseRequestHandler<SocketChannel> {
 *     @Override
 *     protected void handle() throws IOException {
 *         request().write(ByteBuffer.wrap("hello\n".getBytes(StandardCharsets.US_ASCII)));
 *     }
 * }
 * }
 *
 * <p>A handler may keep state in fields: no instance is ever shared between requests.
 *
 * @param <R> the request type: {@link java.nio.channels.SocketChannel} for stream servers,
 *     {@link DatagramRequest} for datagram servers
 */
public abstract class BaseRequestHandler<R> {

    private R request;
    private SocketAddress clientAddress;
    private BaseServer<R> server;
    private RequestContext context;

    protected BaseRequestHandler() {
    }

    final void attach(R request, SocketAddress clientAddress, BaseServer<R> server, RequestContext context) {
        this.request = request;
        this.clientAddress = clientAddress;
        this.server = server;
        this.context = context;
    }

    /**
     * What travels with this request: its id, the addresses the connection steps found, the channel they
     * may have wrapped, and attributes that steps, gates and observers attached.
     */
    public final RequestContext context() {
        return context;
    }

    /** The request: the connection of a stream server, or the datagram of a datagram server. */
    public final R request() {
        return request;
    }

    /** The client's address: an {@link java.net.InetSocketAddress} or {@link java.net.UnixDomainSocketAddress}. */
    public final SocketAddress clientAddress() {
        return clientAddress;
    }

    /** The server that made this handler. */
    public final BaseServer<R> server() {
        return server;
    }

    /** Runs before {@link #handle()}. Does nothing by default. */
    protected void setup() throws Exception {
    }

    /** Serves the request. */
    protected abstract void handle() throws Exception;

    /** Runs after {@link #handle()}, whether or not it threw. Does nothing by default. */
    protected void finish() throws Exception {
    }
}
