package dev.sockserve;

import dev.sockserve.internal.SocketFile;
import dev.sockserve.internal.UnixDatagramSocket;
import dev.sockserve.internal.UnixDatagramTransport;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * A Unix-domain datagram server: Python's {@code UnixDatagramServer}. The JDK has no Unix datagram
 * channel, so the socket is made through the Foreign Function &amp; Memory API; run with
 * {@code --enable-native-access=dev.sockserve} (or {@code ALL-UNNAMED} on the class path) to avoid the
 * JDK's warning. No blocking native call ever runs on a virtual thread: one platform thread per server
 * waits for the socket to become readable.
 *
 * {@snippet :
 * try (var server = new UnixDatagramServer(UnixDomainSocketAddress.of("/tmp/echo.dgram"),
 *         DatagramRequestHandler.of(h -> h.wfile().write(h.packet())))) {
 *     server.serveForever();
 * }
 * }
 *
 * A client must bind its own socket to a path to get replies; a datagram from an unbound client is
 * served, but its reply fails and is logged. {@link #channel()} is empty: use {@link ServerGroup} to
 * serve this server with others from one thread.
 */
public class UnixDatagramServer extends UdpServer {

    private SocketFile createdFile;

    public UnixDatagramServer(UnixDomainSocketAddress address,
            Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory) {
        this(address, handlerFactory, ServerOptions.defaults());
    }

    public UnixDatagramServer(UnixDomainSocketAddress address,
            Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory, ServerOptions options) {
        this(address, handlerFactory, options, true);
    }

    public UnixDatagramServer(UnixDomainSocketAddress address,
            Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory, ServerOptions options,
            boolean bindAndActivate) {
        this(address, handlerFactory, options, bindAndActivate, Concurrency.synchronous());
    }

    UnixDatagramServer(UnixDomainSocketAddress address,
            Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory, ServerOptions options,
            boolean bindAndActivate, Concurrency defaultConcurrency) {
        super(address, handlerFactory, checked(options, address), bindAndActivate, defaultConcurrency, open(address));
    }

    /**
     * Serves a Unix datagram socket made elsewhere, by its descriptor number: systemd passes a
     * {@code ListenDatagram=PATH} socket from descriptor 3 on ({@code LISTEN_FDS}). The JDK has no channel for
     * such a socket, so the number stands for it. It must be bound to a path already; the server owns the
     * descriptor from here on and closes it in {@link #serverClose()}, but leaves the socket file, which is its
     * maker's.
     *
     * @throws UncheckedIOException when the descriptor is not a Unix datagram socket bound to a path
     */
    public UnixDatagramServer(int boundDescriptor,
            Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory, ServerOptions options) {
        this(adopt(boundDescriptor), handlerFactory, options);
    }

    private UnixDatagramServer(UnixDatagramSocket bound,
            Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory, ServerOptions options) {
        super(bound.localAddress().orElseThrow(), handlerFactory, checked(options, bound.localAddress().orElseThrow()),
                true, Concurrency.synchronous(), new UnixDatagramTransport(bound));
    }

    private static UnixDatagramSocket adopt(int fd) {
        try {
            return UnixDatagramSocket.adopt(fd);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve descriptor " + fd + ": " + e.getMessage(), e);
        }
    }

    private static ServerOptions checked(ServerOptions options, UnixDomainSocketAddress address) {
        if (options.allowReusePort()) {
            throw new IllegalArgumentException("allowReusePort applies to IPv4 and IPv6 only, not unix-dgram:"
                    + address.getPath());
        }
        return options;
    }

    private static UnixDatagramTransport open(UnixDomainSocketAddress address) {
        try {
            return new UnixDatagramTransport(UnixDatagramSocket.open());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a unix datagram socket for " + address.getPath() + ": "
                    + e.getMessage(), e);
        }
    }

    @Override
    String transportName() {
        return "unix-dgram";
    }

    /**
     * Binds the socket file, replacing a stale one left by a dead process; a live one is refused. At close
     * the file is removed only while it is still the one this server created. A socket made elsewhere is
     * bound already, and its file is not this server's.
     */
    @Override
    protected void serverBind() throws IOException {
        UnixDomainSocketAddress address = (UnixDomainSocketAddress) requestedAddress();
        if (transport().localAddress() != null) {
            bound(address);
            return;
        }
        Path path = address.getPath();
        TcpServer.removeStaleSocketFile(path, () -> UnixDatagramSocket.isLive(path));
        ((UnixDatagramTransport) transport()).bind(address);
        createdFile = SocketFile.created(path);
        bound(address);
    }

    @Override
    void closeSocket() throws IOException {
        try {
            super.closeSocket();
        } finally {
            if (createdFile != null) {
                createdFile.remove();
                createdFile = null;
            }
        }
    }
}
