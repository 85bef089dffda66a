package dev.sockserve;

import dev.sockserve.internal.ServeLoop;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Serves several servers, of any transport, from one thread: the use Python's documentation gives for
 * {@code fileno()} with {@code select()}. Each server keeps its own hooks, handlers and concurrency
 * policy; only the waiting is shared.
 *
 * {@snippet :
 * try (var group = new ServerGroup(tcpEcho, udpEcho, unixEcho)) {
 *     Thread.ofPlatform().start(group::serveForever);
 *     // ...
 *     group.shutdown();
 * } // closes every server
 * }
 *
 * <p>{@link BaseServer#shutdown()} on any member stops the whole group's loop, as {@link #shutdown()}
 * does. While the group serves a server, that server's own {@code serveForever} refuses to run.
 */
public final class ServerGroup implements AutoCloseable {

    private final List<BaseServer<?>> servers;
    private final ServeLoop loop = new ServeLoop();

    public ServerGroup(BaseServer<?>... servers) {
        this(List.of(servers));
    }

    public ServerGroup(List<? extends BaseServer<?>> servers) {
        this.servers = List.copyOf(servers);
        if (this.servers.isEmpty()) {
            throw new IllegalArgumentException("a ServerGroup needs at least one server");
        }
        try {
            for (BaseServer<?> server : this.servers) {
                loop.register(Objects.requireNonNull(server, "server").endpoint());
            }
        } catch (IOException e) {
            loop.close();
            throw new UncheckedIOException("cannot serve the group: " + e.getMessage(), e);
        }
    }

    public List<BaseServer<?>> servers() {
        return servers;
    }

    /** Serves every server until {@link #shutdown()}, with a poll interval of 0.5 s. */
    public void serveForever() {
        serveForever(BaseServer.DEFAULT_POLL_INTERVAL);
    }

    /** Serves every server until {@link #shutdown()}; {@code serviceActions} of each run every turn. */
    public void serveForever(Duration pollInterval) {
        int attached = 0;
        try {
            for (BaseServer<?> server : servers) {
                server.servedBy(loop);
                attached++;
            }
            loop.run(pollInterval);
        } finally {
            for (int i = 0; i < attached; i++) {
                servers.get(i).servedBy(null);
            }
        }
    }

    /** Stops {@link #serveForever}, at once; safe from any thread, like {@link BaseServer#shutdown()}. */
    public void shutdown() {
        loop.stopAndWait();
    }

    /**
     * New clients stop reaching every server at once ({@link BaseServer}'s socket filter or socket-file
     * removal), while those the kernel already queued stay queued; {@link #drain()} then takes them. Safe from
     * any thread, for example a signal handler's, before stopping the loop.
     */
    public void stopArrivals() {
        for (BaseServer<?> server : servers) {
            server.stopArrivals();
        }
    }

    /**
     * A graceful stop that loses no client: {@link #stopArrivals()}, stops the loop, takes and serves every
     * client already queued (for at most the longest grace period), then {@link #close()}s, which lets the
     * running requests finish within the grace period and cuts the rest. Without it, closing a listening
     * socket resets the connections in its queue, which a load balancer does not retry. Call it from any
     * thread (a shutdown hook: {@code addShutdownHook(new Thread(group::drain))}), or from the one that ran
     * {@link #serveForever} after it returned.
     */
    public void drain() {
        if (loop.runsOn(Thread.currentThread())) {
            stopArrivals();
            close(); // a handler on the loop's own thread: the loop cannot serve the queue under it
            return;
        }
        stopArrivals();
        if (loop.isRunning()) {
            loop.stopAndWait();
        }
        Duration atMost = servers.stream().map(s -> s.options().closeGracePeriod()).max(Duration::compareTo)
                .orElse(Duration.ZERO);
        int attached = 0;
        try {
            for (BaseServer<?> server : servers) {
                server.servedBy(loop);
                attached++;
            }
            loop.serveQueued(atMost);
        } finally {
            for (int i = 0; i < attached; i++) {
                servers.get(i).servedBy(null);
            }
            close();
        }
    }

    /**
     * Stops serving, closes every listening socket at once (new clients are refused from then on), then
     * closes every server ({@link BaseServer#serverClose()}) side by side, so the grace periods run
     * together rather than one after another.
     */
    @Override
    public void close() {
        if (loop.busyServing() || loop.runsOn(Thread.currentThread())) {
            loop.requestStop(); // a synchronous handler runs on the loop: it stops when that handler returns
        } else {
            loop.stopAndWait();
        }
        for (BaseServer<?> server : servers) {
            server.stopAccepting();
        }
        loop.close();
        List<Thread> closing = servers.stream().map(s -> Thread.ofVirtual().start(s::serverClose)).toList();
        boolean interrupted = false;
        for (Thread t : closing) {
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
