package dev.sockserve;

import java.net.UnixDomainSocketAddress;
import java.util.function.Supplier;

/**
 * A {@link UnixStreamServer} with a new virtual thread per request: Python's {@code ThreadingUnixStreamServer}
 * ({@code ThreadingMixIn}). The policy comes from {@link ServerOptions#concurrency()} when it names
 * one, so {@code Concurrency.threads()} or a limit such as {@code Concurrency.bounded(1000)} work here
 * too.
 *
 * {@snippet :
 * try (var server = new ThreadingUnixStreamServer(address, Handler::new)) {
 *     server.serveForever();
 * }
 * }
 */
public class ThreadingUnixStreamServer extends UnixStreamServer {

    public ThreadingUnixStreamServer(UnixDomainSocketAddress address, Supplier<? extends BaseRequestHandler<java.nio.channels.SocketChannel>> handlerFactory) {
        this(address, handlerFactory, ServerOptions.defaults());
    }

    public ThreadingUnixStreamServer(UnixDomainSocketAddress address, Supplier<? extends BaseRequestHandler<java.nio.channels.SocketChannel>> handlerFactory,
            ServerOptions options) {
        this(address, handlerFactory, options, true);
    }

    public ThreadingUnixStreamServer(UnixDomainSocketAddress address, Supplier<? extends BaseRequestHandler<java.nio.channels.SocketChannel>> handlerFactory,
            ServerOptions options, boolean bindAndActivate) {
        super(address, handlerFactory, options, bindAndActivate, Concurrency.virtualThreads());
    }
}
