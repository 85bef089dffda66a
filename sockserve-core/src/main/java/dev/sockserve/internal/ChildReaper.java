package dev.sockserve.internal;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Learns of the end of the children that a server started and reaps them: one platform thread
 * ({@code sockserve-<name>-reaper}: {@code exec} for the command, {@code children} for {@code processes()}) polls a pidfd per child, so no virtual thread ever blocks in
 * {@code waitpid}, and only this server's own children are reaped ({@code waitpid(-1)} would steal the
 * exit status of processes that other code in the JVM started).
 */
public final class ChildReaper implements AutoCloseable {

    /** A running child. {@link #exit()} completes with its raw wait status. */
    public static final class Child {
        private final int pid;
        private final int pidfd;
        private final CompletableFuture<Integer> exit = new CompletableFuture<>();
        private boolean reaped; // guarded by this: a reaped pid may be reused, so never signal it then

        Child(int pid, int pidfd) {
            this.pid = pid;
            this.pidfd = pidfd;
        }

        public int pid() {
            return pid;
        }

        public CompletableFuture<Integer> exit() {
            return exit;
        }

        public synchronized void signal(int signal) {
            if (!reaped) {
                Posix.kill(pid, signal);
            }
        }

        /** Reaps the child if it ended; true then. */
        synchronized boolean reapIfEnded() throws IOException {
            if (reaped) {
                return true;
            }
            int status = Posix.reap(pid);
            if (status < 0) {
                return false;
            }
            reaped = true;
            Posix.close(pidfd);
            if (Events.on()) {
                Events.ChildExit event = new Events.ChildExit();
                if (event.isEnabled()) {
                    event.pid = pid;
                    event.status = status;
                    event.commit();
                }
            }
            exit.complete(status);
            return true;
        }
    }

    private final Map<Integer, Child> running = new ConcurrentHashMap<>();
    private final int wakeFd;
    private final Thread thread;
    private volatile boolean closing;

    private static final System.Logger LOG = System.getLogger("dev.sockserve");

    /** Starts the reaper's thread, {@code sockserve-<name>-reaper}. */
    public ChildReaper(String name) throws IOException {
        wakeFd = Posix.eventFd();
        thread = Thread.ofPlatform().name("sockserve-" + name + "-reaper").daemon(true)
                .uncaughtExceptionHandler((t, e) -> LOG.log(System.Logger.Level.ERROR, "the child reaper stopped: " + e))
                .start(this::run);
    }

    /** Watches a child just started; its pid stays valid (a zombie) until this reaps it. */
    public Child watch(int pid) throws IOException {
        int pidfd;
        try {
            pidfd = Posix.pidfdOpen(pid);
        } catch (IOException e) { // out of descriptors, say: the child cannot be watched, so end and reap it here
            Posix.kill(pid, Posix.SIGKILL);
            for (int i = 0; i < 100 && Posix.reap(pid) < 0; i++) {
                try {
                    Thread.sleep(10);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            throw e;
        }
        Child child = new Child(pid, pidfd);
        running.put(pid, child);
        Posix.signalEventFd(wakeFd);
        return child;
    }

    private void run() {
        while (!closing) {
            List<Child> children = new ArrayList<>(running.values());
            int[] fds = new int[children.size() + 1];
            boolean[] ready = new boolean[fds.length];
            fds[0] = wakeFd;
            for (int i = 0; i < children.size(); i++) {
                fds[i + 1] = children.get(i).pidfd;
            }
            try {
                Posix.pollReadable(fds, ready, -1);
                if (ready[0]) {
                    Posix.drainEventFd(wakeFd);
                }
                for (int i = 0; i < children.size(); i++) {
                    Child child = children.get(i);
                    if (ready[i + 1] && child.reapIfEnded()) {
                        running.remove(child.pid);
                    }
                }
            } catch (IOException e) {
                LOG.log(System.Logger.Level.ERROR, "reaping children: " + e.getMessage());
            }
        }
    }

    /** Asks every child still running to stop (SIGTERM), waits up to {@code grace}, then kills the rest. */
    public void endAll(Duration grace) {
        List<Child> children = new ArrayList<>(running.values());
        children.forEach(c -> c.signal(Posix.SIGTERM));
        long deadline = System.nanoTime() + grace.toNanos();
        for (Child child : children) {
            try {
                child.exit().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                child.signal(Posix.SIGKILL);
            } catch (Exception e) {
                child.signal(Posix.SIGKILL);
            }
        }
        for (Child child : children) {
            try {
                child.exit().get(5, TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.log(System.Logger.Level.ERROR, "child " + child.pid + " did not end after SIGKILL");
            }
        }
    }

    /** Kills every child at once (a second signal), and reaps them within a second, leaving no zombie behind. */
    public void killAll() {
        List<Child> children = new ArrayList<>(running.values());
        children.forEach(c -> c.signal(Posix.SIGKILL));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        for (Child child : children) {
            try {
                child.exit().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (Exception notYet) {
                // init reaps it once the server is gone
            }
        }
    }

    @Override
    public void close() {
        endAll(Duration.ofSeconds(2));
        closing = true;
        Posix.signalEventFd(wakeFd);
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Posix.close(wakeFd);
    }
}
