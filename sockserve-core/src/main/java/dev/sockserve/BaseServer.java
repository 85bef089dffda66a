package dev.sockserve;

import dev.sockserve.internal.Carriers;
import dev.sockserve.internal.InFlight;
import dev.sockserve.internal.ReadSpin;
import dev.sockserve.internal.RequestThreads;
import dev.sockserve.internal.ServeLoop;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.Channel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectableChannel;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
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
 * on every loop turn. A handler's exception goes to {@link #handleError} and never stops the server;
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

    private static final int READY_BATCH = 64;
    private static final long ACCEPT_PAUSE_NANOS = Duration.ofSeconds(1).toNanos();

    private final SocketAddress requestedAddress;
    private final Supplier<? extends BaseRequestHandler<R>> handlerFactory;
    private final ServerOptions options;
    private final Concurrency concurrency;
    private final InFlight<R> inFlight;
    private final ReadSpin readSpin;
    private final Object lifecycle = new Object();
    private final AtomicLong acceptFailures = new AtomicLong();
    private RequestThreads threads; // null on the synchronous path
    private ChildProcessDispatch children; // the processes() policy only
    private ServeLoop ownLoop; // guarded by lifecycle
    private volatile ServeLoop activeLoop;
    private volatile long acceptPausedUntil;
    private boolean closed; // guarded by lifecycle
    private final Object closing = new Object();
    private CloseOutcome closeOutcome; // guarded by closing

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
        this.inFlight = new InFlight<>(concurrency.maxInFlight().orElse(0));
        this.readSpin = options.readSpin().isZero() ? ReadSpin.NEVER : new ReadSpin(options.readSpin(), inFlight::size);
        if (concurrency.mode() == Concurrency.Mode.VIRTUAL_THREADS) {
            Carriers.warnIfPollersOutnumberCarriers(LOG);
        }
    }

    /** When a handler about to block in a read may first look for bytes on the spot (see {@link ServerOptions#readSpin()}). */
    ReadSpin readSpin() {
        return readSpin;
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
        return inFlight.size();
    }

    /** How many times accepting or receiving failed (each is logged). */
    public long acceptFailures() {
        return acceptFailures.get();
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
            serverBind();
            serverActivate();
            if (concurrency.mode() == Concurrency.Mode.PLATFORM_THREADS) {
                threads = RequestThreads.platform(threadName("request-"), concurrency.daemonThreads(),
                        this::uncaught);
            } else if (concurrency.mode() == Concurrency.Mode.VIRTUAL_THREADS) {
                threads = RequestThreads.virtual(threadName("request"), this::uncaught);
            } else if (concurrency.mode() == Concurrency.Mode.PROCESSES) {
                children = new ChildProcessDispatch(this, handlerFactory, concurrency.childJvmOptions());
                if (socketType() == SocketType.DATAGRAM) {
                    threads = RequestThreads.virtual(threadName("request"), this::uncaught);
                }
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

    abstract String transportName();

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
        ServeLoop loop = ownLoop();
        servedBy(loop);
        try {
            loop.run(pollInterval);
        } finally {
            servedBy(null);
        }
    }

    /**
     * Handles one request: waits for it at most {@link ServerOptions#timeout()} (for ever without one),
     * and calls {@link #handleTimeout()} when none came. A {@link #shutdown()} meanwhile makes it return.
     */
    public void handleRequest() {
        ServeLoop loop = ownLoop();
        servedBy(loop);
        boolean handled;
        try {
            handled = loop.runOnce(options.timeout().orElse(null));
        } finally {
            servedBy(null);
        }
        if (!handled) {
            handleTimeout();
        }
    }

    /**
     * Stops {@link #serveForever()}: wakes its loop at once and returns when it has stopped. Safe from any
     * thread: from a handler running on the serving thread it returns at once and the loop ends after
     * that handler; before {@code serveForever} starts, it makes the next {@code serveForever} return at
     * once; after it ended, or when it never runs, it does nothing harmful. Requests already accepted
     * carry on; the listening socket stays open until {@link #serverClose()}.
     */
    public void shutdown() {
        ServeLoop loop = activeLoop;
        if (loop == null) {
            synchronized (lifecycle) {
                loop = closed ? null : ownLoopLocked();
            }
        }
        if (loop != null) {
            loop.stopAndWait();
        }
    }

    private ServeLoop ownLoop() {
        synchronized (lifecycle) {
            if (closed) {
                throw new IllegalStateException("the server on " + where() + " is closed");
            }
            return ownLoopLocked();
        }
    }

    private ServeLoop ownLoopLocked() {
        if (ownLoop == null) {
            ServeLoop loop = new ServeLoop();
            try {
                loop.register(endpoint());
            } catch (IOException e) {
                loop.close();
                throw new UncheckedIOException("cannot serve " + where() + ": " + e.getMessage(), e);
            }
            ownLoop = loop;
        }
        return ownLoop;
    }

    /** How a {@link ServeLoop} (this server's own, or a {@link ServerGroup}'s) sees this server. */
    ServeLoop.Endpoint endpoint() {
        return new ServeLoop.Endpoint() {
            @Override
            public SelectableChannel readiness() {
                try {
                    return BaseServer.this.readiness();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }

            @Override
            public int readyOps() {
                return readinessOps();
            }

            @Override
            public long pausedForNanos() {
                long until = acceptPausedUntil;
                if (until == 0) {
                    return 0;
                }
                long left = until - System.nanoTime();
                if (left <= 0) {
                    acceptPausedUntil = 0;
                    return 0;
                }
                return left;
            }

            @Override
            public boolean hasRoom() {
                return inFlight.hasRoom();
            }

            @Override
            public void serveReady(boolean once) {
                // several per wake-up: one select() per connection or datagram would cost a system
                // call. Synchronous stream servers keep Python's one request per turn, so serviceActions
                // runs between connections; datagrams are short, and take the batch too
                boolean oneAtATime = concurrency.mode() == Concurrency.Mode.SYNCHRONOUS
                        && socketType() == SocketType.STREAM;
                int budget = once || oneAtATime ? 1 : READY_BATCH;
                while (budget-- > 0 && handleRequestNoBlock()) {
                    if (activeLoop != null && activeLoop.stopRequested()) {
                        return;
                    }
                }
            }

            @Override
            public void serviceActions() {
                BaseServer.this.serviceActions();
            }
        };
    }

    void servedBy(ServeLoop loop) {
        if (loop != null && activeLoop != null && activeLoop != loop) {
            throw new IllegalStateException("the server on " + where() + " is already being served by another loop");
        }
        activeLoop = loop;
        inFlight.onSlotFreed(loop == null ? () -> { } : loop::wakeup);
    }

    /**
     * Takes one waiting request, if any, through the whole cycle (Python's
     * {@code _handle_request_noblock}); false when none was taken.
     */
    final boolean handleRequestNoBlock() {
        if (!inFlight.admit()) {
            return false;
        }
        Incoming<R> incoming;
        try {
            incoming = getRequest().orElse(null);
        } catch (IOException | RuntimeException e) {
            inFlight.cancel();
            acceptFailed(e);
            return false;
        }
        if (incoming == null) {
            inFlight.cancel();
            return false;
        }
        R request = incoming.request();
        SocketAddress client = incoming.clientAddress();
        inFlight.started(request);
        boolean verified;
        try {
            verified = verifyRequest(request, client);
        } catch (Exception e) {
            LOG.log(Level.WARNING, "verifyRequest failed for " + describe(client) + " on "
                    + where() + "; request dropped", e);
            verified = false;
        } catch (Throwable t) {
            endRequest(request);
            throw t;
        }
        if (!verified) {
            endRequest(request);
            return true;
        }
        try {
            processRequest(request, client);
        } catch (Exception e) {
            handleErrorSafely(request, client, e);
            endRequest(request);
        } catch (Throwable t) {
            endRequest(request);
            throw t;
        }
        return true;
    }

    private void acceptFailed(Exception e) {
        acceptFailures.incrementAndGet();
        String message = String.valueOf(e.getMessage());
        if (e instanceof ClosedChannelException) {
            LOG.log(Level.DEBUG, "accept on " + where() + ": socket closed");
        } else if (message.contains("Too many open files")) {
            // EMFILE/ENFILE: the connection stays in the backlog; retrying at once would spin
            acceptPausedUntil = System.nanoTime() + ACCEPT_PAUSE_NANOS;
            LOG.log(Level.WARNING, "accept on " + where() + " failed: " + message
                    + "; pausing accepts for 1 s");
        } else {
            LOG.log(Level.WARNING, "accept on " + where() + " failed: " + e, e);
        }
    }

    /**
     * Takes one waiting request without blocking: accepts a connection, or receives a datagram. Empty when
     * none was waiting. Python's {@code get_request}.
     */
    protected abstract Optional<Incoming<R>> getRequest() throws IOException;

    /**
     * An accepted request and its client's address: what {@link #getRequest()} returns.
     * {@snippet :
     * @Override
     * protected Optional<Incoming<SocketChannel>> getRequest() throws IOException {
     *     Optional<Incoming<SocketChannel>> accepted = super.getRequest();
     *     accepted.ifPresent(in -> log.info("accepted " + in.clientAddress()));
     *     return accepted;
     * }
     * }
     */
    public record Incoming<R>(R request, SocketAddress clientAddress) {
        public Incoming {
            Objects.requireNonNull(request, "request");
        }
    }

    /**
     * Whether to serve this request; {@code false} drops it without making a handler (the request is then
     * shut down exactly once). Accepts everything by default.
     */
    protected boolean verifyRequest(R request, SocketAddress clientAddress) {
        return true;
    }

    /**
     * Runs the request as the {@link Concurrency} policy says: synchronously, {@link #finishRequest}
     * then {@link #shutdownRequest}; threaded, the same on a new thread, with {@link #handleError} for its
     * exceptions. An override that runs requests elsewhere must end each with {@code shutdownRequest}.
     */
    protected void processRequest(R request, SocketAddress clientAddress) throws Exception {
        if (children != null) {
            processInChild(request, clientAddress);
            return;
        }
        if (threads == null) {
            finishRequest(request, clientAddress);
            endRequest(request);
            return;
        }
        threads.start(new Threaded(request, clientAddress));
    }

    /**
     * One request on its own thread. A class rather than a lambda: a lambda's run() is one more frame under
     * the handler, and a parked virtual thread keeps every frame, so this is less memory per idle connection.
     */
    private final class Threaded implements Runnable {
        private final R request;
        private final SocketAddress clientAddress;

        Threaded(R request, SocketAddress clientAddress) {
            this.request = request;
            this.clientAddress = clientAddress;
        }

        @Override
        public void run() {
            try {
                finishRequest(request, clientAddress);
            } catch (Exception e) {
                handleErrorSafely(request, clientAddress, e);
            } finally {
                endRequest(request);
            }
        }
    }

    private void processInChild(R request, SocketAddress clientAddress) throws IOException {
        if (request instanceof java.nio.channels.SocketChannel connection) {
            children.startStream(connection, clientAddress, ended -> endRequest(request));
            return;
        }
        threads.start(() -> {
            try {
                children.runDatagram((DatagramRequest) request, clientAddress);
            } catch (Exception e) {
                handleErrorSafely(request, clientAddress, e);
            } finally {
                endRequest(request);
            }
        });
    }

    /** Makes a fresh handler and runs it: {@code setup}, {@code handle}, {@code finish}. */
    protected void finishRequest(R request, SocketAddress clientAddress) throws Exception {
        BaseRequestHandler<R> handler = Objects.requireNonNull(handlerFactory.get(),
                "the handler factory returned null");
        handler.attach(request, clientAddress, this);
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
        if (isPeerGone(error)) {
            LOG.log(Level.DEBUG, () -> "client " + describe(clientAddress) + " went away: " + error);
        } else {
            LOG.log(Level.ERROR, "error while handling a request from " + describe(clientAddress) + " on "
                    + where(), error);
        }
    }

    private void handleErrorSafely(R request, SocketAddress client, Exception e) {
        try {
            handleError(request, client, e);
        } catch (Exception second) {
            second.addSuppressed(e);
            LOG.log(Level.ERROR, "handleError failed for " + describe(client), second);
        }
    }

    static boolean isPeerGone(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof AsynchronousCloseException || c instanceof ClosedChannelException) {
                return true;
            }
            String m = String.valueOf(c.getMessage());
            if (m.contains("Connection reset") || m.contains("Broken pipe")) {
                return true;
            }
        }
        return false;
    }

    private void uncaught(Thread thread, Throwable error) {
        LOG.log(Level.ERROR, "request thread " + thread.getName() + " of " + where() + " ended by "
                + error, error);
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

    /** {@code shutdownRequest}, then forgets the request (its slot is free again). */
    private void endRequest(R request) {
        try {
            shutdownRequest(request);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "shutdownRequest failed for " + request, e);
        } finally {
            inFlight.finished(request);
        }
    }

    // ---- closing ----

    /**
     * Stops serving and closes the listening socket (a Unix socket file the server created is removed),
     * then, as {@link ServerOptions#blockOnClose()} says, waits for the requests in flight for at most
     * {@link ServerOptions#closeGracePeriod()} and closes the connections still open after it. Idempotent.
     *
     * @return {@link CloseOutcome#GRACEFUL} when every request ended by itself, {@link CloseOutcome#FORCED}
     *     when some were cut
     */
    public CloseOutcome serverClose() {
        synchronized (closing) {
            if (closeOutcome == null) {
                closeOutcome = closeOnce();
            }
            return closeOutcome;
        }
    }

    /**
     * Stops serving and closes the listening socket, so that new clients are refused from here on, while
     * the requests in flight carry on. Idempotent; the first step of {@link #serverClose()}.
     */
    final void stopAccepting() {
        ServeLoop loop;
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            closed = true;
            loop = ownLoop;
        }
        ServeLoop running = activeLoop;
        if (running != null) {
            running.stopAndWait();
        }
        try {
            closeSocket();
        } catch (IOException e) {
            LOG.log(Level.WARNING, "closing " + where() + " failed: " + e.getMessage(), e);
        }
        // the JDK defers closing a channel still registered with a selector until that selector next
        // selects or closes; until then the kernel would go on completing connections nobody accepts
        if (loop != null) {
            loop.close();
        }
        if (running != null && running != loop) {
            running.releaseClosedChannels();
        }
    }

    private CloseOutcome closeOnce() {
        stopAccepting();
        boolean graceful = true;
        if (inFlight.size() > 0) {
            try {
                graceful = options.blockOnClose() && inFlight.awaitEmpty(options.closeGracePeriod());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                graceful = false;
            }
            if (!graceful) {
                for (R request : inFlight.snapshot()) {
                    try {
                        closeRequest(request);
                    } catch (RuntimeException e) {
                        LOG.log(Level.WARNING, "closing a request on " + where() + " failed", e);
                    }
                }
                LOG.log(Level.INFO, "closed " + where() + ": requests still running after "
                        + (options.blockOnClose() ? options.closeGracePeriod() : "no grace period")
                        + " were cut");
            }
        }
        if (children != null) {
            children.close(); // after a forced close, ends the children still running
        }
        return graceful ? CloseOutcome.GRACEFUL : CloseOutcome.FORCED;
    }

    /** Whether {@link #serverClose()} has run. */
    public boolean isClosed() {
        synchronized (lifecycle) {
            return closed;
        }
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
