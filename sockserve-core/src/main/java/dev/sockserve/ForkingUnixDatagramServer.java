package dev.sockserve;

import java.net.UnixDomainSocketAddress;
import java.util.function.Supplier;

/**
 * A {@link UnixDatagramServer} that handles each request in a child JVM: Python's {@code ForkingUnixDatagramServer}
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
 * try (var server = new ForkingUnixDatagramServer(address, Handler::new)) {
 *     server.serveForever();
 * }
 * }
 */
public class ForkingUnixDatagramServer extends UnixDatagramServer {

    /** Python's {@code ForkingMixIn.max_children}. */
    public static final int DEFAULT_MAX_CHILDREN = 40;

    public ForkingUnixDatagramServer(UnixDomainSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory) {
        this(address, handlerFactory, ServerOptions.defaults());
    }

    public ForkingUnixDatagramServer(UnixDomainSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options) {
        this(address, handlerFactory, options, true);
    }

    public ForkingUnixDatagramServer(UnixDomainSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options, boolean bindAndActivate) {
        super(address, handlerFactory, options, bindAndActivate, Concurrency.processes(DEFAULT_MAX_CHILDREN));
    }
}
