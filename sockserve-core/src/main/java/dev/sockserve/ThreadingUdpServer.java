package dev.sockserve;

import java.net.InetSocketAddress;
import java.util.function.Supplier;

/**
 * A {@link UdpServer} with a new virtual thread per request: Python's {@code ThreadingUDPServer}
 * ({@code ThreadingMixIn}). The policy comes from {@link ServerOptions#concurrency()} when it names
 * one, so {@code Concurrency.threads()} or a limit such as {@code Concurrency.bounded(1000)} work here
 * too.
 *
 * {@snippet :
 * try (var server = new ThreadingUdpServer(address, Handler::new)) {
 *     server.serveForever();
 * }
 * }
 */
public class ThreadingUdpServer extends UdpServer {

    public ThreadingUdpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory) {
        this(address, handlerFactory, ServerOptions.defaults());
    }

    public ThreadingUdpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options) {
        this(address, handlerFactory, options, true);
    }

    public ThreadingUdpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options, boolean bindAndActivate) {
        super(address, handlerFactory, options, bindAndActivate, Concurrency.virtualThreads(), null);
    }
}
