package dev.sockserve.internal;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Learns of the end of the children that {@link ChildProcesses} started and reaps them: one platform
 * thread ({@code sockserve-<name>-reaper}) polls a pidfd per child, so no virtual thread ever blocks in
 * {@code waitpid}, and only these children are reaped ({@code waitpid(-1)} would steal the exit status of
 * processes that other code in the JVM started). Each child leads a process group of its own, so the
 * signals here reach whatever it started too.
 */
public final class ChildReaper implements AutoCloseable {

    /** How long {@link #close()} lets children still running end after SIGTERM before SIGKILL. */
    private static final Duration CLOSE_GRACE = Duration.ofSeconds(2);
    /**
     * The most often the reaper looks for orphans, after a child ended: a look reads a file per thread, and
     * a command starting hundreds of programs a second need not look after each (an orphan that ends before
     * the look stays a zombie until it, a second at most).
     */
    private static final long LOOK_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** How long a child may take to go once it was sent SIGKILL: only a kernel in trouble takes longer. */
    private static final Duration KILL_WAIT = Duration.ofSeconds(5);

    private static final System.Logger LOG = System.getLogger("dev.sockserve");

    /** A running child and its process group. {@link #exit()} completes with its raw wait status. */
    public static final class Child {
        private final int pid;
        private final int pidfd;
        private final boolean endGroupOnExit;
        private final boolean adopted; // an orphan of a child's, re-parented here: not the leader of a group
        private final CompletableFuture<Integer> exit = new CompletableFuture<>();
        private boolean reaped; // guarded by this: a reaped pid may be reused, so never signal it then
        private boolean ending; // guarded by this: told to stop, so nothing of its group may outlive it

        Child(int pid, int pidfd, boolean endGroupOnExit, boolean adopted) {
            this.pid = pid;
            this.pidfd = pidfd;
            this.endGroupOnExit = endGroupOnExit;
            this.adopted = adopted;
        }

        public int pid() {
            return pid;
        }

        public CompletableFuture<Integer> exit() {
            return exit;
        }

        /**
         * Signals the child's whole process group (the child and whatever it started that stayed in its
         * group), while the child is not reaped: until then its pid, which names the group, cannot be reused.
         * After SIGTERM or SIGKILL, what is left of the group when the child ends is killed with it.
         */
        public synchronized void signal(int signal) {
            if (!reaped) {
                ending |= signal == Posix.SIGTERM || signal == Posix.SIGKILL;
                Posix.kill(-pid, signal);
                if (adopted) { // it may have left its group (setsid) or never led one
                    Posix.kill(pid, signal);
                }
            }
        }

        /** Reaps the child if it ended; true then. */
        synchronized boolean reapIfEnded() throws IOException {
            if (reaped) {
                return true;
            }
            if (endGroupOnExit || ending) {
                Posix.kill(-pid, Posix.SIGKILL); // before the reap, while the group's id is still the child's
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

    /** Starts a child process and returns its pid. */
    interface Spawn {
        int start() throws IOException;
    }

    private final Map<Integer, Child> running = new ConcurrentHashMap<>();
    // spawns hold it shared, the search for orphans alone: a child between its spawn and its watch is no orphan
    private final ReentrantReadWriteLock spawning = new ReentrantReadWriteLock();
    private final int wakeFd;
    private final Thread thread;
    private volatile boolean closing;
    private volatile boolean adopting;

    /** Starts the reaper's thread, {@code sockserve-<name>-reaper}. */
    ChildReaper(String name) throws IOException {
        wakeFd = Posix.eventFd();
        thread = Thread.ofPlatform().name("sockserve-" + name + "-reaper").daemon(true)
                .uncaughtExceptionHandler((t, e) -> LOG.log(System.Logger.Level.ERROR, "the child reaper stopped: " + e))
                .start(this::run);
    }

    /**
     * Starts a child and watches it; its pid stays valid (a zombie) until this reaps it. With
     * {@code endGroupOnExit}, what the child left running in its group is killed when it ends.
     */
    Child start(Spawn spawn, boolean endGroupOnExit) throws IOException {
        spawning.readLock().lock();
        try {
            return watch(spawn.start(), endGroupOnExit, false);
        } finally {
            spawning.readLock().unlock();
        }
    }

    /**
     * Makes this process the subreaper of everything its children start: a process a child left behind
     * (a program's {@code sleep 300 &}, a daemon that forked away) is re-parented here rather than to PID 1
     * when its parent ends, and is then watched like a child: reaped when it ends, and sent the same
     * SIGTERM and SIGKILL at {@link #endAll} and {@link #killAll}, so nothing started outlives this process.
     * Orphans are looked for within a second after a watched child ends, and before the children are ended.
     * Only for a process that starts no children by other means (their exit status would be taken from those
     * who wait for them).
     */
    void adoptOrphans() throws IOException {
        Posix.becomeSubreaper();
        adopting = true;
    }

    /** Watches this process's children that it did not start: orphans re-parented here. */
    private void lookForOrphans() {
        if (!adopting) {
            return;
        }
        spawning.writeLock().lock();
        try {
            childrenOfThisProcess().stream()
                    .filter(pid -> !running.containsKey(pid))
                    .forEach(pid -> {
                        try {
                            watch(pid, false, true);
                        } catch (IOException e) { // gone already (reaped by nobody else: it was ours), or no descriptor
                            LOG.log(System.Logger.Level.DEBUG, "cannot watch orphan " + pid + ": " + e.getMessage());
                        }
                    });
        } finally {
            spawning.writeLock().unlock();
        }
    }

    /**
     * This process's children: each thread's {@code /proc/self/task/TID/children} (a few small reads, where
     * {@link ProcessHandle#children()} reads the status of every process on the machine).
     */
    private static List<Integer> childrenOfThisProcess() {
        List<Integer> pids = new ArrayList<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path task : tasks) {
                try {
                    for (String pid : Files.readString(task.resolve("children")).trim().split(" ")) {
                        if (!pid.isEmpty()) {
                            pids.add(Integer.parseInt(pid));
                        }
                    }
                } catch (NoSuchFileException threadEnded) {
                    // a thread that ended meanwhile has no children left
                }
            }
            return pids;
        } catch (IOException | RuntimeException e) { // a kernel without the children files
            return ProcessHandle.current().children().map(p -> (int) p.pid()).toList();
        }
    }

    private Child watch(int pid, boolean endGroupOnExit, boolean adopted) throws IOException {
        int pidfd;
        try {
            pidfd = Posix.pidfdOpen(pid);
        } catch (IOException e) { // out of descriptors, say: the child cannot be watched, so end and reap it here
            Posix.kill(adopted ? pid : -pid, Posix.SIGKILL);
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
        Child child = new Child(pid, pidfd, endGroupOnExit, adopted);
        running.put(pid, child);
        Posix.signal(wakeFd, 8);
        return child;
    }

    int running() {
        return running.size();
    }

    private void run() {
        long lastLook = System.nanoTime() - LOOK_INTERVAL_NANOS;
        boolean lookDue = false; // a child ended since the last look for orphans
        while (!closing) {
            List<Child> children = new ArrayList<>(running.values());
            try (Arena arena = Arena.ofConfined()) {
                Posix.PollSet fds = new Posix.PollSet(arena, children.size() + 1);
                fds.set(0, wakeFd);
                for (int i = 0; i < children.size(); i++) {
                    fds.set(i + 1, children.get(i).pidfd);
                }
                long untilLook = lastLook + LOOK_INTERVAL_NANOS - System.nanoTime();
                int n = fds.poll(!lookDue ? -1 : (int) Math.max(0, TimeUnit.NANOSECONDS.toMillis(untilLook) + 1));
                if (n < 0 && n != -Posix.EINTR) {
                    throw Posix.failure("poll", -n);
                }
                if (n > 0 && fds.ready(0)) {
                    Posix.drain(wakeFd);
                }
                boolean reaped = false;
                for (int i = 0; n > 0 && i < children.size(); i++) {
                    Child child = children.get(i);
                    if (fds.ready(i + 1) && child.reapIfEnded()) {
                        running.remove(child.pid);
                        reaped = true;
                    }
                }
                lookDue |= reaped && adopting;
                if (lookDue && System.nanoTime() - lastLook >= LOOK_INTERVAL_NANOS) {
                    lookForOrphans(); // what the ended children left running is this process's now
                    lastLook = System.nanoTime();
                    lookDue = false;
                }
            } catch (IOException e) {
                LOG.log(System.Logger.Level.ERROR, "reaping children: " + e.getMessage());
            }
        }
    }

    /** Asks every child still running to stop (SIGTERM), waits up to {@code grace}, then kills the rest. */
    void endAll(Duration grace) {
        lookForOrphans();
        List<Child> children = new ArrayList<>(running.values());
        children.forEach(c -> c.signal(Posix.SIGTERM));
        long deadline = System.nanoTime() + grace.toNanos();
        for (Child child : children) {
            try {
                child.exit().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException | java.util.concurrent.ExecutionException | InterruptedException e) {
                child.signal(Posix.SIGKILL);
                if (e instanceof InterruptedException) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        awaitAll(children, KILL_WAIT);
    }

    /** Kills every child and its group at once (a second signal), and waits a little for them to be reaped. */
    void killAll() {
        lookForOrphans();
        List<Child> children = new ArrayList<>(running.values());
        children.forEach(c -> c.signal(Posix.SIGKILL));
        awaitAll(children, Duration.ofSeconds(1));
    }

    private static void awaitAll(List<Child> children, Duration limit) {
        long deadline = System.nanoTime() + limit.toNanos();
        for (Child child : children) {
            try {
                child.exit().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException | java.util.concurrent.ExecutionException e) {
                LOG.log(System.Logger.Level.ERROR, "child " + child.pid + " did not end after SIGKILL");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Override
    public void close() {
        endAll(CLOSE_GRACE);
        closing = true;
        Posix.signal(wakeFd, 8);
        try {
            thread.join(KILL_WAIT.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Posix.close(wakeFd);
    }
}
