package dev.sockserve;

import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.function.Supplier;

/**
 * A Unix-domain stream server: Python's {@code UnixStreamServer}. Like {@link TcpServer}, on a socket
 * file. The file is created by binding and removed by {@link #serverClose()} while it is still that
 * file; a stale file left by a process that died is replaced, while a file a live server listens on is
 * refused.
 *
 * {@snippet :
 * var path = UnixDomainSocketAddress.of("/tmp/echo.sock");
 * try (var server = new UnixStreamServer(path, StreamRequestHandler.of(h -> h.rfile().transferTo(h.wfile())))) {
 *     server.serveForever();
 * }
 * }
 *
 * The client address of a request is usually an unnamed {@link UnixDomainSocketAddress} (empty path).
 */
public class UnixStreamServer extends TcpServer {

    public UnixStreamServer(UnixDomainSocketAddress address,
            Supplier<? extends BaseRequestHandler<SocketChannel>> handlerFactory) {
        this(address, handlerFactory, ServerOptions.defaults());
    }

    public UnixStreamServer(UnixDomainSocketAddress address,
            Supplier<? extends BaseRequestHandler<SocketChannel>> handlerFactory, ServerOptions options) {
        this(address, handlerFactory, options, true);
    }

    public UnixStreamServer(UnixDomainSocketAddress address,
            Supplier<? extends BaseRequestHandler<SocketChannel>> handlerFactory, ServerOptions options,
            boolean bindAndActivate) {
        this(address, handlerFactory, options, bindAndActivate, Concurrency.synchronous());
    }

    UnixStreamServer(UnixDomainSocketAddress address,
            Supplier<? extends BaseRequestHandler<SocketChannel>> handlerFactory, ServerOptions options,
            boolean bindAndActivate, Concurrency defaultConcurrency) {
        super(address, handlerFactory, options, bindAndActivate, defaultConcurrency);
    }
}
