package dev.sockserve;

import dev.sockserve.internal.ArrivalFilter;
import dev.sockserve.internal.SocketFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.net.BindException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * A TCP server over IPv4 or IPv6: Python's {@code TCPServer}. Each request is an accepted
 * {@link SocketChannel}; by default the serving thread handles it before accepting the next (see
 * {@link ThreadingTcpServer} for a virtual thread per connection).
 *
 * {@snippet :
 * class Echo extends StreamRequestHandler {
 *     @Override
 *     protected void handle() throws IOException {
 *         rfile().transferTo(wfile());
 *     }
 * }
 * try (var server = new TcpServer(new InetSocketAddress("127.0.0.1", 7007), Echo::new)) {
 *     server.serveForever();
 * }
 * }
 *
 * <p>An IPv6 wildcard address ({@code ::}) also serves IPv4 clients (dual stack); bind {@code ::1} or a
 * specific IPv6 address to serve IPv6 only. The JDK binds and listens in one call, so
 * {@link #serverBind()} does both (with {@link ServerOptions#requestQueueSize()} as the backlog), and
 * {@link #serverActivate()} readies the socket for the serving loop.
 */
public class TcpServer extends BaseServer<SocketChannel> {

    private final ProtocolFamily family;
    private final ServerSocketChannel socket;
    private volatile SocketAddress bound;
    private volatile SocketFile createdFile;
    private final boolean adopted;

    /** Binds {@code address} with the default options and serves synchronously. */
    public TcpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<SocketChannel>> handlerFactory) {
        this(address, handlerFactory, ServerOptions.defaults());
    }

    public TcpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<SocketChannel>> handlerFactory,
            ServerOptions options) {
        this(address, handlerFactory, options, true);
    }

    /**
     * @param bindAndActivate {@code false} to leave the socket unbound; then call
     *     {@link #bindAndActivate()} yourself
     */
    public TcpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<SocketChannel>> handlerFactory,
            ServerOptions options, boolean bindAndActivate) {
        this(address, handlerFactory, options, bindAndActivate, Concurrency.synchronous());
    }

    /**
     * Serves a listening socket made elsewhere: inherited from inetd or systemd socket activation
     * ({@link System#inheritedChannel()}), or bound by the caller. It must be bound already; the server
     * does not bind it again, and {@link #serverClose()} closes it (a Unix socket file stays, since this
     * server did not create it).
     * {@snippet :
     * if (System.inheritedChannel() instanceof ServerSocketChannel listening) {
     *     new ThreadingTcpServer(listening, Echo::new, ServerOptions.defaults()).serveForever();
     * }
     * }
     */
    public TcpServer(ServerSocketChannel listening, Supplier<? extends BaseRequestHandler<SocketChannel>> handlerFactory,
            ServerOptions options) {
        this(listening, handlerFactory, options, Concurrency.synchronous());
    }

    TcpServer(ServerSocketChannel listening, Supplier<? extends BaseRequestHandler<SocketChannel>> handlerFactory,
            ServerOptions options, Concurrency defaultConcurrency) {
        super(localAddressOf(listening), handlerFactory, options, defaultConcurrency);
        this.family = familyOf(requestedAddress());
        this.socket = listening;
        this.adopted = true;
        this.bound = requestedAddress();
        bindAndActivate();
    }

    private static SocketAddress localAddressOf(ServerSocketChannel listening) {
        try {
            SocketAddress local = listening.getLocalAddress();
            if (local == null) {
                throw new IllegalArgumentException("the listening socket given to the server is not bound");
            }
            return local;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the address of the listening socket: " + e.getMessage(), e);
        }
    }

    TcpServer(SocketAddress address, Supplier<? extends BaseRequestHandler<SocketChannel>> handlerFactory,
            ServerOptions options, boolean bindAndActivate, Concurrency defaultConcurrency) {
        super(address, handlerFactory, options, defaultConcurrency);
        this.adopted = false;
        this.family = familyOf(address);
        if (family == StandardProtocolFamily.UNIX && options.allowReusePort()) {
            throw new IllegalArgumentException("allowReusePort applies to IPv4 and IPv6 only, not unix:" + address);
        }
        ServerSocketChannel opened = null;
        try {
            opened = ServerSocketChannel.open(family);
            // here rather than in serverBind, so that an override setting an option before calling
            // super.serverBind() keeps it (Python's idiom)
            if (family != StandardProtocolFamily.UNIX) {
                opened.setOption(StandardSocketOptions.SO_REUSEADDR, options.allowReuseAddress());
                if (options.allowReusePort()) {
                    opened.setOption(StandardSocketOptions.SO_REUSEPORT, true);
                }
            }
        } catch (IOException e) {
            closeQuietly(opened, e);
            throw new UncheckedIOException("cannot open a " + family + " socket for " + describe(address) + ": "
                    + e.getMessage(), e);
        }
        this.socket = opened;
        if (bindAndActivate) {
            bindAndActivate();
        }
    }

    static void closeQuietly(java.nio.channels.Channel channel, Exception failure) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                failure.addSuppressed(e);
            }
        }
    }

    static ProtocolFamily familyOf(SocketAddress address) {
        if (address instanceof UnixDomainSocketAddress) {
            return StandardProtocolFamily.UNIX;
        }
        if (address instanceof InetSocketAddress inet) {
            if (inet.isUnresolved()) {
                throw new IllegalArgumentException("cannot resolve host " + inet.getHostString());
            }
            return inet.getAddress() instanceof java.net.Inet6Address ? StandardProtocolFamily.INET6
                    : StandardProtocolFamily.INET;
        }
        throw new IllegalArgumentException("unsupported address type: " + address);
    }

    @Override
    public ProtocolFamily addressFamily() {
        return family;
    }

    @Override
    public SocketType socketType() {
        return SocketType.STREAM;
    }

    @Override
    public SocketAddress serverAddress() {
        SocketAddress b = bound;
        return b != null ? b : requestedAddress();
    }

    @Override
    public ServerSocketChannel socket() {
        return socket;
    }

    @Override
    String transportName() {
        return family == StandardProtocolFamily.UNIX ? "unix" : "tcp";
    }

    @Override
    SelectableChannel readiness() {
        return socket;
    }

    @Override
    int readinessOps() {
        return SelectionKey.OP_ACCEPT;
    }

    /**
     * Binds and listens. {@code SO_REUSEADDR} was set as {@link ServerOptions#allowReuseAddress()} says
     * (the JDK would otherwise set it on its own) when the socket was opened, so an override may change
     * it before calling this. For a Unix path, a stale socket file left by a dead process is removed
     * first; a live one, or a file that is not a socket, is refused.
     */
    @Override
    protected void serverBind() throws IOException {
        if (adopted) {
            return; // bound and listening already
        }
        SocketAddress address = requestedAddress();
        if (family == StandardProtocolFamily.UNIX) {
            Path path = ((UnixDomainSocketAddress) address).getPath();
            removeStaleSocketFile(path, () -> isLiveStreamSocket((UnixDomainSocketAddress) address));
            socket.bind(address, options().requestQueueSize());
            createdFile = SocketFile.created(path);
        } else {
            socket.bind(address, options().requestQueueSize());
        }
        bound = socket.getLocalAddress();
    }

    /** Puts the listening socket in non-blocking mode for the serving loop. */
    @Override
    protected void serverActivate() throws IOException {
        socket.configureBlocking(false);
    }

    /** Accepts a waiting connection, if any. */
    @Override
    protected Optional<Incoming<SocketChannel>> getRequest() throws IOException {
        SocketChannel connection = socket.accept();
        if (connection == null) {
            return Optional.empty();
        }
        return Optional.of(new Incoming<>(connection, connection.getRemoteAddress()));
    }

    /** Half-closes the connection (the client reads end-of-file), then closes it. */
    @Override
    protected void shutdownRequest(SocketChannel request) {
        try {
            if (request.isOpen()) { // a relay may have closed it already: no exception for that
                request.shutdownOutput();
            }
        } catch (IOException alreadyGone) {
            // the client closed first, or the connection was cut: closing is all that is left
        }
        closeRequest(request);
    }

    @Override
    protected void closeRequest(SocketChannel request) {
        try {
            request.close();
        } catch (IOException e) {
            LOG.log(Level.DEBUG, () -> "closing a connection failed: " + e);
        }
    }

    @Override
    void closeSocket() throws IOException {
        try {
            socket.close();
        } finally {
            if (createdFile != null) {
                createdFile.remove();
                createdFile = null;
            }
        }
    }

    @Override
    boolean stopArrivals() {
        try {
            if (family == StandardProtocolFamily.UNIX) {
                SocketFile file = createdFile; // clients find no socket at the path; those queued are still taken
                createdFile = null;
                return file != null && file.remove();
            }
            ArrivalFilter.dropNewConnections(socket);
            return true;
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot stop new connections to " + where() + " before draining ("
                    + e.getMessage() + "); closing it refuses them");
            return false;
        }
    }

    interface LivenessProbe {
        boolean isLive() throws IOException;
    }

    /** Removes a socket file that no process listens on; refuses a live one or a file that is not a socket. */
    static void removeStaleSocketFile(Path path, LivenessProbe probe) throws IOException {
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        if ((mode & 0170000) != 0140000) {
            throw new BindException(path + " exists and is not a socket; not removing it");
        }
        if (probe.isLive()) {
            throw new BindException("Address already in use: a server is listening on " + path);
        }
        Files.deleteIfExists(path);
        LOG.log(Level.INFO, "removed stale socket file " + path);
    }

    /**
     * Whether a server listens on {@code address}. The connect does not block: a live server whose
     * backlog is full would otherwise hold the start-up for ever; Linux then fails it with EAGAIN.
     */
    private static boolean isLiveStreamSocket(UnixDomainSocketAddress address) throws IOException {
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.configureBlocking(false);
            probe.connect(address); // connected, or pending: someone listens
            return true;
        } catch (ConnectException refused) {
            return false;
        } catch (SocketException e) {
            String m = String.valueOf(e.getMessage());
            if (m.contains("temporarily unavailable") || m.contains("Protocol wrong type")) {
                return true; // a full backlog, or a datagram server: live either way
            }
            throw e;
        }
    }
}
