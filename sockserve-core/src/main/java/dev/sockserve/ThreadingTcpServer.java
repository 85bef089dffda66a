package dev.sockserve;

import java.net.InetSocketAddress;
import java.util.function.Supplier;

/**
 * A {@link TcpServer} with a new virtual thread per request: Python's {@code ThreadingTCPServer}
 * ({@code ThreadingMixIn}). The policy comes from {@link ServerOptions#concurrency()} when it names
 * one, so {@code Concurrency.threads()} or a limit such as {@code Concurrency.bounded(1000)} work here
 * too.
 *
 * {@snippet :
 * try (var server = new ThreadingTcpServer(address, Handler::new)) {
 *     server.serveForever();
 * }
 * }
 */
public class ThreadingTcpServer extends TcpServer {

    public ThreadingTcpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<java.nio.channels.SocketChannel>> handlerFactory) {
        this(address, handlerFactory, ServerOptions.defaults());
    }

    public ThreadingTcpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<java.nio.channels.SocketChannel>> handlerFactory,
            ServerOptions options) {
        this(address, handlerFactory, options, true);
    }

    public ThreadingTcpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<java.nio.channels.SocketChannel>> handlerFactory,
            ServerOptions options, boolean bindAndActivate) {
        super(address, handlerFactory, options, bindAndActivate, Concurrency.virtualThreads());
    }

    /** Serves a listening socket made elsewhere (inetd, systemd socket activation); see {@link TcpServer}. */
    public ThreadingTcpServer(java.nio.channels.ServerSocketChannel listening,
            Supplier<? extends BaseRequestHandler<java.nio.channels.SocketChannel>> handlerFactory,
            ServerOptions options) {
        super(listening, handlerFactory, options, Concurrency.virtualThreads());
    }
}
