package dev.sockserve;

import dev.sockserve.BaseServer.Incoming;
import dev.sockserve.internal.Deadlines;
import dev.sockserve.internal.Durations;
import dev.sockserve.internal.Errors;
import dev.sockserve.internal.Events;
import dev.sockserve.internal.InFlight;
import dev.sockserve.internal.LogLimiter;
import dev.sockserve.internal.ServeLoop;
import dev.sockserve.internal.TokenBucket;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.nio.channels.SelectableChannel;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One request's way through a server, in order: accept ({@link BaseServer#getRequest}), the connection
 * steps, the gates and {@link BaseServer#verifyRequest}, {@link BaseServer#processRequest} (which hands
 * the request to the {@link Dispatch} of the policy), {@link BaseServer#finishRequest} (the handler), and
 * the end ({@link BaseServer#shutdownRequest}, the observers, the slot given back).
 *
 * <p>Without steps, the gates and {@code verifyRequest} run on the serving thread, before
 * {@code processRequest}, as in Python. With steps, they run after the steps on the request's own thread,
 * so they see the addresses the steps found and a slow client never stalls accepting.
 */
final class RequestCycle<R> {

    /** How long accepting pauses after EMFILE/ENFILE: the connection waits in the backlog meanwhile. */
    private static final long ACCEPT_PAUSE_NANOS = Duration.ofSeconds(1).toNanos();

    private final BaseServer<R> server;
    private final ServerOptions options;
    private final InFlight<R, RequestContext> inFlight;
    private final List<ConnectionStep> steps;
    private final List<RequestGate> gates;
    private final List<RequestObserver> observers;
    private final AtomicLong acceptFailures = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    // a flood of refused connections (port scans, a misconfigured proxy) logs a line a second, with a count
    private final LogLimiter refusals = new LogLimiter(BaseServer.LOG, Duration.ofSeconds(1));
    private volatile Dispatch<R> dispatch;
    private volatile long acceptPausedUntil;
    private final TokenBucket acceptTokens; // ServerOptions.acceptRate; null: none
    private final AtomicLong ratePauses = new AtomicLong();
    private final LogLimiter ratePauseLog = new LogLimiter(BaseServer.LOG, Duration.ofSeconds(10));
    private boolean ratePaused; // serving thread only: the last look found no token
    private RequestContext accepting; // the request the serving thread is handing to processRequest

    private final ServerMetrics metrics;

    RequestCycle(BaseServer<R> server, ServerOptions options, int limit) {
        this.server = server;
        this.metrics = new ServerMetrics(server);
        this.options = options;
        this.inFlight = new InFlight<>(limit);
        List<ConnectionStep> all = new java.util.ArrayList<>();
        options.proxyProtocol().ifPresent(proxy -> all.add(proxy.step())); // the first bytes on the wire
        all.addAll(options.steps());
        options.tls().ifPresent(tls -> all.add(tls.step())); // after any PROXY header, which comes in plain text
        this.steps = List.copyOf(all);
        this.gates = options.gates();
        this.observers = options.observers();
        this.acceptTokens = options.acceptRate().map(r -> new TokenBucket(r.perSecond(), r.burst())).orElse(null);
    }

    void dispatch(Dispatch<R> dispatch) {
        this.dispatch = dispatch;
    }

    Dispatch<R> dispatch() {
        return dispatch;
    }

    int active() {
        return inFlight.size();
    }

    long acceptFailures() {
        return acceptFailures.get();
    }

    long refused() {
        return refused.get();
    }

    ServerMetrics metrics() {
        return metrics;
    }

    /** How many times the accept rate stopped accepting until a token was free. */
    long ratePauses() {
        return ratePauses.get();
    }

    /** Nanoseconds until the accept rate lets one more request in (0: now); counts and logs a new pause. */
    private long rateWait() {
        if (acceptTokens == null) {
            return 0;
        }
        long wait = acceptTokens.nanosUntilToken();
        if (wait > 0 && !ratePaused) {
            ratePauses.incrementAndGet();
            paused("accept rate " + options.acceptRate().orElseThrow(), wait);
            ratePauseLog.log(Level.INFO, () -> "accept on " + server.where() + " paused: the accept rate "
                    + options.acceptRate().orElseThrow() + " is reached; clients wait in the backlog");
        }
        ratePaused = wait > 0;
        return wait;
    }

    // ---- on the serving thread ----

    /** Takes one waiting request, if any, through the cycle (Python's {@code _handle_request_noblock}). */
    boolean handleOne() {
        if (rateWait() > 0 || !inFlight.admit()) {
            return false;
        }
        Incoming<R> incoming;
        try {
            incoming = server.getRequest().orElse(null);
        } catch (IOException | RuntimeException e) {
            inFlight.cancel();
            acceptFailed(e);
            return false;
        }
        if (incoming == null) {
            inFlight.cancel();
            return false;
        }
        if (acceptTokens != null) {
            acceptTokens.tryTake(); // rateWait() saw one, and only this thread takes them
        }
        RequestContext request = new RequestContext(server, incoming.request(), incoming.clientAddress(),
                localAddressOf(incoming.request()));
        inFlight.started(incoming.request(), request);
        metrics.accepted(request);
        tell(o -> o.accepted(request));
        if (steps.isEmpty() && !admit(request)) {
            return true;
        }
        accepting = request;
        try {
            server.processRequest(incoming.request(), request.clientAddress());
        } catch (Exception e) {
            failed(request, e);
        } catch (Throwable t) {
            end(request, RequestEnd.failed(t));
            throw t;
        } finally {
            accepting = null;
        }
        return true;
    }

    /** The address the client reached: a connection's own (for a wildcard bind, the interface's), or the server's. */
    private java.net.SocketAddress localAddressOf(R request) {
        if (request instanceof java.nio.channels.SocketChannel connection) {
            try {
                java.net.SocketAddress local = connection.getLocalAddress(); // kept by the JDK since accept: no system call
                if (local != null) {
                    return local;
                }
            } catch (IOException closedAlready) {
                // the server's address is the best left
            }
        }
        return server.serverAddress();
    }

    /** {@link BaseServer#processRequest}'s default: the policy runs the request. */
    void process(R request) throws Exception {
        RequestContext context = accepting != null && accepting.request() == request ? accepting
                : contextOf(request, null);
        dispatch.start(this, context);
    }

    /** What travels with a request in flight; a fresh context for one the cycle never saw. */
    RequestContext contextOf(R request, java.net.SocketAddress clientAddress) {
        return inFlight.context(request).orElseGet(() -> new RequestContext(server, request, clientAddress,
                server.serverAddress()));
    }

    private void acceptFailed(Exception e) {
        acceptFailures.incrementAndGet();
        if (e instanceof java.nio.channels.ClosedChannelException) {
            BaseServer.LOG.log(Level.DEBUG, "accept on " + server.where() + ": socket closed");
        } else if (Errors.isDescriptorExhaustion(e)) {
            // the connection stays in the backlog; retrying at once would spin
            acceptPausedUntil = System.nanoTime() + ACCEPT_PAUSE_NANOS;
            paused("out of descriptors", ACCEPT_PAUSE_NANOS);
            BaseServer.LOG.log(Level.WARNING, "accept on " + server.where() + " failed: " + e.getMessage()
                    + "; pausing accepts for 1s");
        } else {
            BaseServer.LOG.log(Level.WARNING, "accept on " + server.where() + " failed: " + e, e);
        }
    }

    // ---- admission: steps, gates, verifyRequest ----

    boolean admitted(RequestContext request) {
        return request.admitted;
    }

    /**
     * Runs what is still due before the handler: the steps, the gates and {@code verifyRequest}. False
     * when the request was refused; it has then been ended.
     */
    boolean admit(RequestContext request) {
        if (request.admitted) {
            return true;
        }
        for (ConnectionStep step : steps) {
            Optional<Refusal> refusal = runStep(step, request);
            if (refusal.isPresent()) {
                Refusal r = refusal.get();
                if (BaseServer.LOG.isLoggable(r.level())) {
                    refusals.log(r.level(), () -> "refused " + request + ": " + r.reason());
                }
                return refuse(request, refusal.get().reason());
            }
        }
        for (RequestGate gate : gates) {
            Optional<String> refusal;
            try {
                refusal = gate.refuse(request);
            } catch (RuntimeException e) {
                BaseServer.LOG.log(Level.WARNING, "a gate failed for " + request + "; request dropped", e);
                refusal = Optional.of("gate failed: " + e);
            }
            if (refusal.isPresent()) {
                String reason = refusal.get();
                BaseServer.LOG.log(Level.DEBUG, () -> "refused " + request + ": " + reason);
                return refuse(request, reason);
            }
        }
        boolean verified;
        try {
            verified = server.verifyRequest(requestOf(request), request.clientAddress());
        } catch (Exception e) {
            BaseServer.LOG.log(Level.WARNING, "verifyRequest failed for " + request + "; request dropped", e);
            verified = false;
        } catch (Throwable t) {
            end(request, RequestEnd.failed(t));
            throw t;
        }
        if (!verified) {
            return refuse(request, "verifyRequest");
        }
        request.admitted = true;
        tell(o -> o.verified(request));
        return true;
    }

    private record Refusal(String reason, Level level) {
    }

    private Optional<Refusal> runStep(ConnectionStep step, RequestContext request) {
        AtomicBoolean overran = new AtomicBoolean();
        ScheduledFuture<?> deadline = Deadlines.after(step.deadline(), () -> {
            overran.set(true);
            server.closeRequest(requestOf(request)); // the step's blocked read or write fails now
        });
        Refusal failure = null;
        try {
            step.apply(request);
        } catch (RequestRefusedException e) {
            failure = new Refusal(step.name() + ": " + e.getMessage(), e.level().orElse(step.refusalLevel()));
        } catch (IOException | RuntimeException e) {
            failure = new Refusal(step.name() + " failed: " + e, step.refusalLevel());
        }
        deadline.cancel(false);
        if (overran.get()) {
            return Optional.of(new Refusal(step.name() + " did not finish within " + Durations.format(step.deadline()),
                    step.refusalLevel()));
        }
        return Optional.ofNullable(failure);
    }

    private boolean refuse(RequestContext request, String reason) {
        refused.incrementAndGet();
        tell(o -> o.refused(request, reason));
        end(request, RequestEnd.REFUSED);
        return false;
    }

    // ---- on the request's thread ----

    /**
     * Runs an accepted request to its end: what is left of its admission, the handler, the end. With
     * {@code rethrowErrors} (the synchronous path) an {@link Error} leaves after the request ended.
     */
    void run(RequestContext request, boolean rethrowErrors) {
        if (!admit(request)) {
            return;
        }
        RequestEnd end = RequestEnd.COMPLETED;
        try {
            server.finishRequest(requestOf(request), request.clientAddress());
        } catch (Exception e) {
            handleError(request, e);
            end = RequestEnd.failed(e);
        } catch (Throwable t) {
            end(request, RequestEnd.failed(t));
            if (rethrowErrors || t instanceof VirtualMachineError) {
                throw t;
            }
            Thread.currentThread().getUncaughtExceptionHandler().uncaughtException(Thread.currentThread(), t);
            return;
        }
        end(request, end);
    }

    /** Runs a request's work in a child process, from the request's own thread. */
    void runInChild(RequestContext request, ChildWork work) {
        RequestEnd end = RequestEnd.COMPLETED;
        try {
            work.run();
        } catch (Exception e) {
            handleError(request, e);
            end = RequestEnd.failed(e);
        } finally {
            end(request, end);
        }
    }

    interface ChildWork {
        void run() throws Exception;
    }

    /** {@code processRequest} or starting the request failed: {@code handleError}, then the end. */
    void failed(RequestContext request, Exception e) {
        handleError(request, e);
        end(request, RequestEnd.failed(e));
    }

    private void handleError(RequestContext request, Exception e) {
        metrics.errors.increment();
        if (Events.on()) {
            Events.HandlerError event = new Events.HandlerError();
            if (event.isEnabled()) {
                event.listener = server.where();
                event.requestId = request.id();
                event.error = e.toString();
                event.commit();
            }
        }
        try {
            server.handleError(requestOf(request), request.clientAddress(), e);
        } catch (Exception second) {
            second.addSuppressed(e);
            BaseServer.LOG.log(Level.ERROR, "handleError failed for " + request, second);
        }
    }

    /** {@code shutdownRequest}, then the slot is free again and the observers hear of the end. Once only. */
    void end(RequestContext request, RequestEnd how) {
        if (!request.markEnded()) {
            return;
        }
        R r = requestOf(request);
        if (request.channelWrapped()) {
            try {
                request.channel().orElseThrow().close(); // TLS: close_notify before the half-close
            } catch (IOException | RuntimeException e) {
                BaseServer.LOG.log(Level.DEBUG, () -> "ending the wrapped channel of " + request + " failed: " + e);
            }
        }
        try {
            server.shutdownRequest(r);
        } catch (RuntimeException e) {
            BaseServer.LOG.log(Level.WARNING, "shutdownRequest failed for " + request, e);
        } finally {
            if (inFlight.finished(r)) {
                RequestEnd reported = request.cut ? RequestEnd.CUT : how;
                metrics.ended(request, reported);
                tell(o -> o.ended(request, reported));
            }
        }
    }

    private void paused(String reason, long nanos) {
        metrics.acceptPauses.increment();
        if (Events.on()) {
            Events.AcceptPaused event = new Events.AcceptPaused();
            if (event.isEnabled()) {
                event.listener = server.where();
                event.reason = reason;
                event.pause = nanos;
                event.commit();
            }
        }
    }

    // ---- closing ----

    boolean awaitEmpty(Duration grace) {
        try {
            return inFlight.awaitEmpty(grace);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Closes every request still in flight under its handler, which then fails and ends. */
    void cutAll(String why) {
        List<RequestContext> left = inFlight.snapshot();
        for (RequestContext request : left) {
            request.cut = true;
            request.runCutActions();
            try {
                server.closeRequest(requestOf(request));
            } catch (RuntimeException e) {
                BaseServer.LOG.log(Level.WARNING, "closing " + request + " failed", e);
            }
        }
        if (!left.isEmpty()) {
            BaseServer.LOG.log(Level.INFO, "closed " + server.where() + ": cut " + left.size() + " request"
                    + (left.size() == 1 ? "" : "s") + " " + why);
        }
    }

    private void tell(java.util.function.Consumer<RequestObserver> event) {
        if (observers.isEmpty()) {
            return;
        }
        for (RequestObserver observer : observers) {
            try {
                event.accept(observer);
            } catch (RuntimeException e) {
                BaseServer.LOG.log(Level.WARNING, "a request observer failed", e);
            }
        }
    }

    // ---- how a serving loop sees the server ----

    ServeLoop.Endpoint endpoint(java.util.function.BooleanSupplier stopped) {
        return new ServeLoop.Endpoint() {
            @Override
            public SelectableChannel readiness() {
                try {
                    return server.readiness();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }

            @Override
            public int readyOps() {
                return server.readinessOps();
            }

            @Override
            public long pausedForNanos() {
                long until = acceptPausedUntil;
                long left = until == 0 ? 0 : until - System.nanoTime();
                if (until != 0 && left <= 0) {
                    acceptPausedUntil = 0;
                }
                return Math.max(Math.max(left, 0), rateWait());
            }

            @Override
            public boolean hasRoom() {
                return inFlight.hasRoom();
            }

            @Override
            public void serveReady(boolean once) {
                int budget = once ? 1 : dispatch.batch();
                while (budget-- > 0 && handleOne()) {
                    if (stopped.getAsBoolean()) {
                        return;
                    }
                }
            }

            @Override
            public void serviceActions() {
                server.serviceActions();
            }
        };
    }

    @SuppressWarnings("unchecked") // a context is made only by this cycle, for its server's own requests
    private R requestOf(RequestContext request) {
        return (R) request.request();
    }

    void onSlotFreed(Runnable action) {
        inFlight.onSlotFreed(action);
    }
}
