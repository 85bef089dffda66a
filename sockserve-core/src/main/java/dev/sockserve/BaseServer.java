package dev.sockserve;

import dev.sockserve.internal.Addresses;
import dev.sockserve.internal.Errors;
import dev.sockserve.internal.JdkWarmUp;
import dev.sockserve.internal.ReadPacing;
import dev.sockserve.internal.ServeLoop;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.nio.channels.Channel;
import java.nio.channels.SelectableChannel;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * A server: Python's {@code socketserver.BaseServer}. It owns a listening socket, takes requests from
 * it one at a time, and hands each to a fresh handler made by its handler factory.
 *
 * <h2>The request cycle</h2>
 * One request goes through these protected hooks, each of which a subclass may override:
 * {@link #getRequest()} (accept, or receive a datagram), {@link #verifyRequest}, {@link #processRequest}
 * (which the {@link Concurrency} policy decides: on this thread, or on a new thread),
 * {@link #finishRequest} (makes the handler and runs {@code setup}, {@code handle}, {@code finish}),
 * then {@link #shutdownRequest} (half-close, then {@link #closeRequest}), and {@link #serviceActions()}
 * on every loop turn. {@code RequestCycle} holds that path in one place; the policy's {@code Dispatch}
 * decides where the handler runs. A handler's exception goes to {@link #handleError} and never stops the server;
 * an {@link Error} (Python's {@code SystemExit}) still ends the request properly, then leaves
 * {@code serveForever} on the synchronous path.
 *
 * <h2>Lifecycle</h2>
 * {@snippet :
 * try (var server = new ThreadingTcpServer(new InetSocketAddress("127.0.0.1", 0), Echo::new)) {
 *     Thread.ofPlatform().start(server::serveForever);
 *     // ... server.serverAddress() is the bound address, with its real port ...
 *     server.shutdown();   // stops the loop at once; returns when it has stopped
 * }                        // serverClose(): closes the socket, drains requests in flight
 * }
 * The constructor binds and activates the socket (unless told not to); {@link #serveForever()} serves
 * until {@link #shutdown()}; {@link #serverClose()} closes the socket and waits for requests in flight
 * within {@link ServerOptions#closeGracePeriod()}.
 *
 * <h2>Without subclassing</h2>
 * {@link ServerOptions} also carries {@link ConnectionStep}s (work on a new connection before
 * {@code verifyRequest}, such as a PROXY protocol header or a TLS handshake), {@link RequestGate}s (refuse a
 * request) and {@link RequestObserver}s (see every request accepted, refused, verified and ended). The
 * overridable hooks keep working beside them. A handler reaches what travels with its request through
 * {@link BaseRequestHandler#context()}.
 *
 * <p>Options that must be known before binding come from the {@link ServerOptions} given to the
 * constructor, never from subclass fields, which Java sets only after the superclass constructor has
 * run.
 *
 * @param <R> the request type: {@link java.nio.channels.SocketChannel} for stream servers,
 *     {@link DatagramRequest} for datagram servers
 */
public abstract class BaseServer<R> implements AutoCloseable {

    static final System.Logger LOG = System.getLogger("dev.sockserve");

    /** Python's default {@code poll_interval}: how often {@link #serviceActions()} runs when idle. */
    public static final Duration DEFAULT_POLL_INTERVAL = Duration.ofMillis(500);

    private final SocketAddress requestedAddress;
    private final Supplier<? extends BaseRequestHandler<R>> handlerFactory;
    private final ServerOptions options;
    private final Concurrency concurrency;
    private final RequestCycle<R> cycle;
    private final ReadPacing readPacing;
    private final Lifecycle<R> lifecycle;

    /**
     * @param address the address to bind
     * @param handlerFactory makes one fresh handler per request, for example {@code MyHandler::new}
     * @param options the settings, see {@link ServerOptions}
     * @param defaultConcurrency the policy when {@code options} names none
     */
    BaseServer(SocketAddress address, Supplier<? extends BaseRequestHandler<R>> handlerFactory,
            ServerOptions options, Concurrency defaultConcurrency) {
        this.requestedAddress = Objects.requireNonNull(address, "address");
        this.handlerFactory = Objects.requireNonNull(handlerFactory, "handlerFactory");
        this.options = Objects.requireNonNull(options, "options");
        this.concurrency = options.concurrency().orElse(defaultConcurrency);
        this.cycle = new RequestCycle<>(this, options, concurrency.maxInFlight().orElse(0));
        this.readPacing = new ReadPacing(options.readSpin(), cycle::active);
        this.lifecycle = new Lifecycle<>(this, cycle);
    }

    /** What a handler about to block in a read does first (see {@link ServerOptions#readSpin()}). */
    ReadPacing readPacing() {
        return readPacing;
    }

    // ---- what each transport provides ----

    /** The protocol family: {@code INET}, {@code INET6} or {@code UNIX} (Python's {@code address_family}). */
    public abstract ProtocolFamily addressFamily();

    /** {@code STREAM} or {@code DATAGRAM} (Python's {@code socket_type}). */
    public abstract SocketType socketType();

    /**
     * The address the server is bound to; a port 0 is resolved to the real port. Before binding, the
     * address it was asked to bind.
     */
    public abstract SocketAddress serverAddress();

    /** The listening socket (Python's {@code socket}); closed after {@link #serverClose()}. */
    public abstract Channel socket();

    /**
     * The listening socket as a selectable channel, where the transport has one (all but Unix datagram):
     * the counterpart of Python's {@code fileno()}. To serve several servers from one thread, use
     * {@link ServerGroup}.
     */
    public Optional<SelectableChannel> channel() {
        return socket() instanceof SelectableChannel s ? Optional.of(s) : Optional.empty();
    }

    /** The channel whose readiness means a request waits, and the operation to wait for. */
    abstract SelectableChannel readiness() throws IOException;

    abstract int readinessOps();

    /** Closes the listening socket (and removes a Unix socket file the server created). */
    abstract void closeSocket() throws IOException;

    abstract String transportName();

    // ---- accessors ----

    /** Makes one fresh handler per request (Python's {@code RequestHandlerClass}). */
    public Supplier<? extends BaseRequestHandler<R>> requestHandlerFactory() {
        return handlerFactory;
    }

    public ServerOptions options() {
        return options;
    }

    /** The policy in force: the options' one, or this server class's default. */
    public Concurrency concurrency() {
        return concurrency;
    }

    /** Requests accepted and not yet ended. Finished requests are not retained. */
    public int activeRequests() {
        return cycle.active();
    }

    /** How many times accepting or receiving failed (each is logged). */
    public long acceptFailures() {
        return cycle.acceptFailures();
    }

    /** How many requests a connection step, a gate or {@link #verifyRequest} refused. */
    public long refusedRequests() {
        return cycle.refused();
    }

    /** What this server has done: accepted, refused, failed, bytes; JMX shows it with {@link ServerOptions#registerMBean}. */
    public ServerMetrics metrics() {
        return cycle.metrics();
    }

    /** How many times {@link ServerOptions#acceptRate()} stopped accepting until a token was free. */
    public long acceptRatePauses() {
        return cycle.ratePauses();
    }

    /** The address the constructor was given. */
    protected SocketAddress requestedAddress() {
        return requestedAddress;
    }

    // ---- bind and activate ----

    /** Binds the socket. Called by the constructor unless it was told not to. */
    protected void serverBind() throws IOException {
    }

    /** Activates the socket (for stream servers: ready to accept). Called by the constructor after binding. */
    protected void serverActivate() throws IOException {
    }

    /**
     * Binds and activates; on failure closes the socket so no descriptor leaks, and throws an
     * {@link UncheckedIOException} naming the address. The constructors call this unless given
     * {@code bindAndActivate = false}; then call it yourself (after setting up what your overridden
     * {@code serverBind} needs).
     */
    public final void bindAndActivate() {
        try {
            if (socketType() == SocketType.DATAGRAM && (!options.steps().isEmpty() || options.tls().isPresent()
                    || options.proxyProtocol().isPresent())) {
                throw new IllegalArgumentException("connection steps apply to stream servers only, not "
                        + transportName() + " " + describe(requestedAddress));
            }
            JdkWarmUp.run(); // what the JDK would make lazily, made before descriptors can run out
            serverBind();
            serverActivate();
            cycle.dispatch(Dispatch.of(concurrency, this));
            if (options.registerMBean()) {
                mbean = MBeans.register(metrics());
            }
        } catch (IOException e) {
            closeAfterFailure(e);
            throw new UncheckedIOException("cannot listen on " + transportName() + " " + describe(requestedAddress)
                    + ": " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            closeAfterFailure(e);
            throw e;
        }
    }

    private void closeAfterFailure(Throwable failure) {
        try {
            closeSocket();
        } catch (IOException | RuntimeException suppressed) {
            failure.addSuppressed(suppressed);
        }
    }

    /** A name for this server's threads: {@code sockserve-tcp-127.0.0.1:7007-<suffix>}. */
    String threadName(String suffix) {
        return "sockserve-" + transportName() + "-" + describe(serverAddress()) + "-" + suffix;
    }

    static String describe(SocketAddress address) {
        return Addresses.describe(address);
    }

    /** The transport and address, for messages: {@code tcp 127.0.0.1:7007}. */
    final String where() {
        return transportName() + " " + describe(serverAddress());
    }

    // ---- serving ----

    /** Serves requests until {@link #shutdown()}, with Python's poll interval of 0.5 s. */
    public void serveForever() {
        serveForever(DEFAULT_POLL_INTERVAL);
    }

    /**
     * Serves requests until {@link #shutdown()}. {@code pollInterval} bounds the time between two calls
     * of {@link #serviceActions()}; it does not delay {@code shutdown()}, which wakes the loop at once.
     *
     * @throws IllegalStateException if the server is closed or already serving on another thread
     */
    public void serveForever(Duration pollInterval) {
        Objects.requireNonNull(pollInterval, "pollInterval");
        lifecycle.serve(pollInterval, false, null);
    }

    /**
     * Handles one request: waits for it at most {@link ServerOptions#timeout()} (for ever without one),
     * and calls {@link #handleTimeout()} when none came in that time. A {@link #shutdown()} meanwhile
     * makes it return without calling {@code handleTimeout()}.
     */
    public void handleRequest() {
        if (lifecycle.serve(null, true, options.timeout().orElse(null)) == ServeLoop.Once.TIMED_OUT) {
            handleTimeout();
        }
    }

    /**
     * Stops {@link #serveForever()}: wakes its loop at once and returns when it has stopped. Safe from any
     * thread: from a handler running on the serving thread it returns at once and the loop ends after
     * that handler. Called when no loop runs, it makes the next {@code serveForever()} return at once.
     */
    public void shutdown() {
        lifecycle.shutdown();
    }

    /** How a {@link ServerGroup}'s loop sees this server. */
    ServeLoop.Endpoint endpoint() {
        return lifecycle.endpoint();
    }

    void servedBy(ServeLoop loop) {
        lifecycle.servedBy(loop);
    }

    // ---- the request cycle's hooks, in order (RequestCycle runs them) ----

    /**
     * Takes one waiting request without blocking: accepts a connection, or receives a datagram. Empty when
     * none was waiting. Python's {@code get_request}.
     */
    protected abstract Optional<Incoming<R>> getRequest() throws IOException;

    /** An accepted request and its client's address: what {@link #getRequest()} returns. */
    public record Incoming<R>(R request, SocketAddress clientAddress) {
        public Incoming {
            Objects.requireNonNull(request, "request");
        }
    }

    /**
     * Whether to serve this request; {@code false} drops it without making a handler (the request is then
     * shut down exactly once). Accepts everything by default. Runs after the {@link RequestGate}s; on the
     * serving thread, or, when the server has {@link ConnectionStep}s, after them on the request's thread.
     */
    protected boolean verifyRequest(R request, SocketAddress clientAddress) {
        return true;
    }

    /**
     * Runs the request as the {@link Concurrency} policy says: synchronously, {@link #finishRequest} then
     * {@link #shutdownRequest}; threaded, the same on a new thread, with {@link #handleError} for its
     * exceptions; in a child process. An override that runs requests elsewhere must end each with
     * {@code shutdownRequest}.
     */
    protected void processRequest(R request, SocketAddress clientAddress) throws Exception {
        cycle.process(request);
    }

    /** Makes a fresh handler and runs it: {@code setup}, {@code handle}, {@code finish}. */
    protected void finishRequest(R request, SocketAddress clientAddress) throws Exception {
        BaseRequestHandler<R> handler = Objects.requireNonNull(handlerFactory.get(),
                "the handler factory returned null");
        handler.attach(request, clientAddress, this, cycle.contextOf(request, clientAddress));
        // the cycle runs here rather than in a method of the handler: a parked virtual thread keeps
        // every frame of its stack, so one frame fewer is less memory per idle connection
        handler.setup();
        try {
            handler.handle();
        } catch (Throwable t) {
            try {
                handler.finish();
            } catch (Throwable f) {
                t.addSuppressed(f);
            }
            throw t;
        }
        handler.finish();
    }

    /**
     * Called with an exception that a handler (or {@code processRequest}) threw. Logs it with the client's
     * address: a client that went away is logged at {@code DEBUG}, anything else at {@code ERROR} with its
     * stack trace. The server carries on.
     */
    protected void handleError(R request, SocketAddress clientAddress, Throwable error) {
        if (Errors.isPeerGone(error)) {
            LOG.log(Level.DEBUG, () -> "client " + describe(clientAddress) + " went away: " + error);
        } else {
            LOG.log(Level.ERROR, "error while handling a request from " + describe(clientAddress) + " on "
                    + where(), error);
        }
    }

    /** Called by {@link #handleRequest()} when no request came within the timeout. Does nothing by default. */
    protected void handleTimeout() {
    }

    /** Called on every turn of the serving loop, at least every poll interval. Does nothing by default. */
    protected void serviceActions() {
    }

    /** Ends a request: half-closes a connection, then {@link #closeRequest}. */
    protected void shutdownRequest(R request) {
        closeRequest(request);
    }

    /** Releases a request: closes a connection; nothing for a datagram. */
    protected void closeRequest(R request) {
    }

    // ---- closing ----

    /**
     * Stops serving and closes the listening socket (a Unix socket file the server created is removed),
     * then, as {@link ServerOptions#blockOnClose()} says, waits for the requests in flight for at most
     * {@link ServerOptions#closeGracePeriod()} and closes the connections still open after it. Idempotent.
     * Called on the serving thread (from a synchronous handler or {@code serviceActions}), it closes the
     * listening socket and returns at once, leaving the running request to finish.
     *
     * @return {@link CloseOutcome#GRACEFUL} when every request ended by itself, {@link CloseOutcome#FORCED}
     *     when some were cut
     */
    public CloseOutcome serverClose() {
        try {
            return lifecycle.close(options);
        } finally {
            if (mbean != null) {
                MBeans.unregister(mbean);
                mbean = null;
            }
        }
    }

    private volatile Object mbean; // the JMX name registered for this server, if any

    /** Closes the listening socket at once, leaving the requests in flight: the first step of a close. */
    final void stopAccepting() {
        lifecycle.stopAccepting();
    }

    /**
     * The first step of a drain ({@link ServerGroup#drain()}): new clients stop reaching this server at
     * once, while those the kernel already queued stay queued to be taken. TCP and UDP attach a socket
     * filter, a Unix stream server removes its socket file; the others cannot, and their close refuses
     * newcomers as before. Safe from any thread; returns whether arrivals stopped.
     */
    boolean stopArrivals() {
        return false;
    }

    /** Whether {@link #serverClose()} has run. */
    public boolean isClosed() {
        return lifecycle.isClosed();
    }

    /** {@link #serverClose()}, for try-with-resources (Python's {@code with} statement). */
    @Override
    public void close() {
        serverClose();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + where() + ", " + concurrency + "]";
    }
}
