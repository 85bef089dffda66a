package dev.sockserve;

import java.io.IOException;
import dev.sockserve.internal.Durations;
import java.time.Duration;

/**
 * How requests run once accepted: one type per {@link Concurrency} policy, as CPython's
 * {@code ThreadingMixIn} and {@code ForkingMixIn} each own their start, tracking and close.
 * {@link SynchronousDispatch} runs the request on the serving thread, {@link ThreadDispatch} on a new
 * platform or virtual thread (a limit, as in {@code bounded(n)}, is kept by the {@link RequestCycle}'s
 * slots for every policy), {@link ForkingDispatch} in a child process.
 */
abstract sealed class Dispatch<R> permits SynchronousDispatch, ThreadDispatch, ForkingDispatch {

    /**
     * Requests taken per wake-up of the serving loop: one {@code select()} per connection or datagram
     * would cost a system call each.
     */
    static final int READY_BATCH = 64;

    /**
     * After cutting, how long a close waits for the cut requests to end (their handlers see the closed
     * socket at once), so that their ends reach the observers and the log before the caller goes on, and
     * perhaps exits.
     */
    static final Duration CUT_SETTLE = Duration.ofSeconds(1);

    static <R> Dispatch<R> of(Concurrency concurrency, BaseServer<R> server) throws IOException {
        return switch (concurrency.mode()) {
            case SYNCHRONOUS -> new SynchronousDispatch<>(server.socketType());
            case PLATFORM_THREADS -> ThreadDispatch.platform(server, concurrency.daemonThreads());
            case VIRTUAL_THREADS -> ThreadDispatch.virtual(server);
            case PROCESSES -> new ForkingDispatch<>(server, concurrency.childJvmOptions());
        };
    }

    /**
     * Runs one accepted request: {@link RequestCycle#run} here or elsewhere, which ends it. Called on the
     * serving thread by {@link BaseServer#processRequest}.
     */
    abstract void start(RequestCycle<R> cycle, RequestContext request) throws Exception;

    /** Requests the serving loop takes per wake-up. */
    int batch() {
        return READY_BATCH;
    }

    /**
     * Waits for the requests in flight as the options say, then cuts those left: what
     * {@link BaseServer#serverClose()} does once the listening socket is closed.
     */
    CloseOutcome drain(RequestCycle<R> cycle, ServerOptions options) {
        if (cycle.active() == 0) {
            return CloseOutcome.GRACEFUL;
        }
        Duration grace = options.blockOnClose() ? options.closeGracePeriod() : Duration.ZERO;
        if (cycle.awaitEmpty(grace)) {
            return CloseOutcome.GRACEFUL;
        }
        cycle.cutAll(options.blockOnClose() ? "still running after the grace period of "
                + Durations.format(grace) : "blockOnClose is false");
        cycle.awaitEmpty(CUT_SETTLE);
        return CloseOutcome.FORCED;
    }

    /** Releases what the policy holds (child processes) once the requests are drained. */
    void close() {
    }
}
