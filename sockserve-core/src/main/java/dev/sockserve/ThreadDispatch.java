package dev.sockserve;

import dev.sockserve.internal.Carriers;
import java.lang.System.Logger.Level;
import java.util.concurrent.ThreadFactory;

/**
 * {@link Concurrency#threads()} and {@link Concurrency#virtualThreads()} (Python's {@code ThreadingMixIn}):
 * a new thread per request. Threads are not kept once started, so a finished one is garbage (Python's
 * bpo-37193 does not apply); the requests in flight are what a close waits for.
 */
final class ThreadDispatch<R> extends Dispatch<R> {

    private final ThreadFactory threads;
    private final boolean daemon;

    private ThreadDispatch(ThreadFactory threads, boolean daemon) {
        this.threads = threads;
        this.daemon = daemon;
    }

    static <R> ThreadDispatch<R> platform(BaseServer<R> server, boolean daemon) {
        return new ThreadDispatch<>(Thread.ofPlatform().name(server.threadName("request-"), 1).daemon(daemon)
                .uncaughtExceptionHandler(uncaught(server)).factory(), daemon);
    }

    static <R> ThreadDispatch<R> virtual(BaseServer<R> server) {
        Carriers.warnIfPollersOutnumberCarriers(BaseServer.LOG);
        return new ThreadDispatch<>(Thread.ofVirtual().name(server.threadName("request"))
                .uncaughtExceptionHandler(uncaught(server)).factory(), false);
    }

    private static Thread.UncaughtExceptionHandler uncaught(BaseServer<?> server) {
        return (thread, error) -> BaseServer.LOG.log(Level.ERROR, "request thread " + thread.getName() + " of "
                + server.where() + " ended by " + error, error);
    }

    @Override
    void start(RequestCycle<R> cycle, RequestContext request) {
        threads.newThread(new Threaded<>(cycle, request)).start();
    }

    /** Python's {@code daemon_threads}: a close does not wait for daemon request threads, nor cut them. */
    @Override
    CloseOutcome drain(RequestCycle<R> cycle, ServerOptions options) {
        return daemon ? CloseOutcome.GRACEFUL : super.drain(cycle, options);
    }

    /**
     * One request on its own thread. A class rather than a lambda: a lambda's run() is one more frame
     * under the handler, and a parked virtual thread keeps every frame.
     */
    private record Threaded<R>(RequestCycle<R> cycle, RequestContext request) implements Runnable {
        @Override
        public void run() {
            cycle.run(request, false);
        }
    }
}
