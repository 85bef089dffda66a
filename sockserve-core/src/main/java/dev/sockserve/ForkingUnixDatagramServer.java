package dev.sockserve;

import java.net.UnixDomainSocketAddress;

/**
 * A {@link UnixDatagramServer} that handles each request in a child JVM: Python's {@code ForkingUnixDatagramServer}
 * ({@code ForkingMixIn}). At most 40 children at once by default, as in Python; set another bound
 * with {@code ServerOptions.defaults().concurrency(Concurrency.processes(n))}. A handler that crashes,
 * calls {@code System.exit} or runs out of memory ends only its own child.
 *
 * <p>The server takes the handler's class, not a factory: each child JVM makes its handler from the
 * class, and the server itself never makes one. The class must be public and concrete, top-level or
 * static nested, with a public no-argument constructor (checked here). An exception from the handler
 * goes to {@link #handleError} in the child; the exit codes are in {@link Concurrency#processes(int)}.
 *
 * {@snippet :
 * public static final class Handler extends DatagramRequestHandler {
 *     @Override
 *     protected void handle() throws IOException {
 *         wfile().write(("child " + ProcessHandle.current().pid() + "\n").getBytes(UTF_8));
 *     }
 * }
 * try (var server = new ForkingUnixDatagramServer(address, Handler.class)) {
 *     server.serveForever();
 * }
 * }
 */
public class ForkingUnixDatagramServer extends UnixDatagramServer {

    /** Python's {@code ForkingMixIn.max_children}. */
    public static final int DEFAULT_MAX_CHILDREN = 40;

    public ForkingUnixDatagramServer(UnixDomainSocketAddress address, Class<? extends BaseRequestHandler<DatagramRequest>> handlerClass) {
        this(address, handlerClass, ServerOptions.defaults());
    }

    public ForkingUnixDatagramServer(UnixDomainSocketAddress address, Class<? extends BaseRequestHandler<DatagramRequest>> handlerClass,
            ServerOptions options) {
        this(address, handlerClass, options, true);
    }

    public ForkingUnixDatagramServer(UnixDomainSocketAddress address, Class<? extends BaseRequestHandler<DatagramRequest>> handlerClass,
            ServerOptions options, boolean bindAndActivate) {
        super(address, new HandlerClass<>(handlerClass), options, bindAndActivate,
                Concurrency.processes(DEFAULT_MAX_CHILDREN));
    }
}
