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
     * the file is removed only while it is still the one this server created.
     */
    @Override
    protected void serverBind() throws IOException {
        UnixDomainSocketAddress address = (UnixDomainSocketAddress) requestedAddress();
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
