package dev.sockserve;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

/** Runs a server's {@code serveForever} on a test thread; closing shuts it down, closes it and joins. */
final class Serving implements AutoCloseable {

    final BaseServer<?> server;
    final Thread thread;
    final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile CloseOutcome outcome;

    private Serving(BaseServer<?> server, Duration pollInterval) {
        this.server = server;
        this.thread = Thread.ofPlatform().name("test-serve").start(() -> {
            try {
                server.serveForever(pollInterval);
            } catch (Throwable t) {
                failure.set(t);
            }
        });
    }

    static Serving start(BaseServer<?> server) {
        return new Serving(server, BaseServer.DEFAULT_POLL_INTERVAL);
    }

    static Serving start(BaseServer<?> server, Duration pollInterval) {
        return new Serving(server, pollInterval);
    }

    CloseOutcome outcome() {
        return outcome;
    }

    @Override
    public void close() {
        server.shutdown();
        outcome = server.serverClose();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
