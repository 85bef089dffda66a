package dev.sockserve;

import java.net.InetSocketAddress;
import java.util.function.Supplier;

/**
 * A {@link UdpServer} that handles each request in a child JVM: Python's {@code ForkingUDPServer}
 * ({@code ForkingMixIn}). At most 40 children at once by default, as in Python; set another bound
 * with {@code ServerOptions.defaults().concurrency(Concurrency.processes(n))}. A handler that crashes,
 * calls {@code System.exit} or runs out of memory ends only its own child. The handler class needs a
 * public no-argument constructor; see {@link Concurrency#processes(int)} for the JVM flag that handing
 * over a connection needs.
 *
 * {@snippet :
 * public static final class Handler extends StreamRequestHandler {
 *     @Override
 *     protected void handle() throws IOException {
 *         wfile().write(("child " + ProcessHandle.current().pid() + "\n").getBytes(UTF_8));
 *     }
 * }
 * try (var server = new ForkingUdpServer(address, Handler::new)) {
 *     server.serveForever();
 * }
 * }
 */
public class ForkingUdpServer extends UdpServer {

    /** Python's {@code ForkingMixIn.max_children}. */
    public static final int DEFAULT_MAX_CHILDREN = 40;

    public ForkingUdpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory) {
        this(address, handlerFactory, ServerOptions.defaults());
    }

    public ForkingUdpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options) {
        this(address, handlerFactory, options, true);
    }

    public ForkingUdpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options, boolean bindAndActivate) {
        super(address, handlerFactory, options, bindAndActivate, Concurrency.processes(DEFAULT_MAX_CHILDREN), null);
    }
}
