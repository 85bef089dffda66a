package dev.sockserve.cli;

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
 * Learns of the end of the children that {@code exec} started and reaps them: one platform thread
 * ({@code sockserve-exec-reaper}) polls a pidfd per child, so no virtual thread ever blocks in
 * {@code waitpid}, and only this server's own children are reaped ({@code waitpid(-1)} would steal the
 * exit status of processes that other code in the JVM started).
 */
final class ChildReaper implements AutoCloseable {

    /** A running child. {@link #exit()} completes with its raw wait status. */
    static final class Child {
        private final int pid;
        private final int pidfd;
        private final CompletableFuture<Integer> exit = new CompletableFuture<>();
        private boolean reaped; // guarded by this: a reaped pid may be reused, so never signal it then

        Child(int pid, int pidfd) {
            this.pid = pid;
            this.pidfd = pidfd;
        }

        int pid() {
            return pid;
        }

        CompletableFuture<Integer> exit() {
            return exit;
        }

        synchronized void signal(int signal) {
            if (!reaped) {
                Native.kill(pid, signal);
            }
        }

        /** Reaps the child if it ended; true then. */
        synchronized boolean reapIfEnded() throws IOException {
            if (reaped) {
                return true;
            }
            int status = Native.reap(pid);
            if (status < 0) {
                return false;
            }
            reaped = true;
            Native.close(pidfd);
            exit.complete(status);
            return true;
        }
    }

    private final Map<Integer, Child> running = new ConcurrentHashMap<>();
    private final int wakeFd;
    private final Thread thread;
    private volatile boolean closing;

    private final EventLog log;

    ChildReaper(EventLog log) throws IOException {
        this.log = log;
        wakeFd = Native.eventFd();
        thread = Thread.ofPlatform().name("sockserve-exec-reaper").daemon(true)
                .uncaughtExceptionHandler((t, e) -> log.error("the child reaper stopped: " + e))
                .start(this::run);
    }

    /** Watches a child just started; its pid stays valid (a zombie) until this reaps it. */
    Child watch(int pid) throws IOException {
        int pidfd;
        try {
            pidfd = Native.pidfdOpen(pid);
        } catch (IOException e) { // out of descriptors, say: the child cannot be watched, so end and reap it here
            Native.kill(pid, Native.SIGKILL);
            for (int i = 0; i < 100 && Native.reap(pid) < 0; i++) {
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
        Native.signalEventFd(wakeFd);
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
                Native.pollReadable(fds, ready, -1);
                if (ready[0]) {
                    Native.drainEventFd(wakeFd);
                }
                for (int i = 0; i < children.size(); i++) {
                    Child child = children.get(i);
                    if (ready[i + 1] && child.reapIfEnded()) {
                        running.remove(child.pid);
                    }
                }
            } catch (IOException e) {
                log.error("reaping children: " + e.getMessage());
            }
        }
    }

    /** Asks every child still running to stop (SIGTERM), waits up to {@code grace}, then kills the rest. */
    void endAll(Duration grace) {
        List<Child> children = new ArrayList<>(running.values());
        children.forEach(c -> c.signal(Native.SIGTERM));
        long deadline = System.nanoTime() + grace.toNanos();
        for (Child child : children) {
            try {
                child.exit().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                child.signal(Native.SIGKILL);
            } catch (Exception e) {
                child.signal(Native.SIGKILL);
            }
        }
        for (Child child : children) {
            try {
                child.exit().get(5, TimeUnit.SECONDS);
            } catch (Exception e) {
                log.error("child " + child.pid + " did not end after SIGKILL");
            }
        }
    }

    /** Kills every child at once (a second signal), and reaps them within a second, leaving no zombie behind. */
    void killAll() {
        List<Child> children = new ArrayList<>(running.values());
        children.forEach(c -> c.signal(Native.SIGKILL));
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
        Native.signalEventFd(wakeFd);
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Native.close(wakeFd);
    }
}
