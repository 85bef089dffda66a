package dev.sockserve;

import java.net.UnixDomainSocketAddress;
import java.util.function.Supplier;

/**
 * A {@link UnixDatagramServer} with a new virtual thread per request: Python's {@code ThreadingUnixDatagramServer}
 * ({@code ThreadingMixIn}). The policy comes from {@link ServerOptions#concurrency()} when it names
 * one, so {@code Concurrency.threads()} or a limit such as {@code Concurrency.bounded(1000)} work here
 * too.
 *
 * {@snippet :
 * try (var server = new ThreadingUnixDatagramServer(address, Handler::new)) {
 *     server.serveForever();
 * }
 * }
 */
public class ThreadingUnixDatagramServer extends UnixDatagramServer {

    public ThreadingUnixDatagramServer(UnixDomainSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory) {
        this(address, handlerFactory, ServerOptions.defaults());
    }

    public ThreadingUnixDatagramServer(UnixDomainSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options) {
        this(address, handlerFactory, options, true);
    }

    public ThreadingUnixDatagramServer(UnixDomainSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options, boolean bindAndActivate) {
        super(address, handlerFactory, options, bindAndActivate, Concurrency.virtualThreads());
    }
}
