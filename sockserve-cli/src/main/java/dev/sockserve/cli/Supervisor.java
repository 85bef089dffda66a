package dev.sockserve.cli;

import dev.sockserve.internal.Posix;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardSocketOptions;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import sun.misc.Signal;

/**
 * {@code --workers N}: runs N worker processes (this command again, in a child JVM started as this one
 * was, with {@code --worker I}), each binding every listener with {@code SO_REUSEPORT}, so the kernel
 * spreads clients among them. This process holds no listening socket: for a TCP port it keeps a bound,
 * never listening, {@code SO_REUSEPORT} socket, which fixes port 0 to one port for every worker (and for a
 * restarted one) and receives nothing. A worker that ends is started again, at once after a long life,
 * else after a back-off that doubles up to 5 s; the first SIGTERM or SIGINT closes {@code --health} and
 * sends SIGTERM to every worker (each drains), and this process exits 0 once all have ended cleanly; a
 * second sends SIGTERM again (each ends at once) and exits 128 + the signal's number. SIGHUP is passed on.
 */
final class Supervisor {

    private static final int SIGHUP = 1;
    static final Duration MAX_BACKOFF = Duration.ofSeconds(5);
    private static final Duration FIRST_BACKOFF = Duration.ofMillis(100);
    private static final Duration LONG_LIFE = Duration.ofSeconds(10);

    private final List<String> workerCommand; // the JVM and its options, up to the command's own arguments
    private final List<String> args;
    private final List<Integer> ports;
    private final EventLog log;
    private final Worker[] workers;
    private final CountDownLatch ready;
    private volatile boolean stopping;
    private final AtomicInteger failedExits = new AtomicInteger();

    private Supervisor(List<String> workerCommand, List<String> args, List<Integer> ports, int n, EventLog log) {
        this.workerCommand = workerCommand;
        this.args = args;
        this.ports = ports;
        this.log = log;
        this.workers = new Worker[n];
        this.ready = new CountDownLatch(n);
    }

    /** One worker slot: the process in it now, and how soon to start it again. */
    private final class Worker {
        final int number;
        volatile Process process;
        Duration backoff = Duration.ZERO;
        boolean wasReady;

        Worker(int number) {
            this.number = number;
        }
    }

    /** Runs the workers until they have all ended; returns the exit code. */
    static int run(String[] args, List<ListenAddress> listeners, ScaleOptions scale, EventLog log) {
        for (ListenAddress l : listeners) {
            if (!(l.address() instanceof InetSocketAddress inet)) {
                log.refused("--workers applies to tcp://, tls:// and udp:// listeners: the processes cannot share a "
                        + "Unix socket path (" + l + "); run one sockserve per Unix listener");
                return Sockserve.EXIT_USAGE;
            } else if (l.kind() == ListenAddress.Kind.UDP && inet.getPort() == 0) {
                log.refused("--workers needs a port for " + l + ": port 0 would be a different port in each worker");
                return Sockserve.EXIT_USAGE;
            }
        }
        List<String> jvm = thisJvm(args);
        if (jvm == null) {
            log.refused("--workers: cannot tell how this JVM was started, to start the workers the same way");
            return Sockserve.EXIT_FAILED;
        }
        List<Socket> reserved = new ArrayList<>();
        try {
            List<Integer> ports = new ArrayList<>();
            for (ListenAddress l : listeners) {
                InetSocketAddress inet = (InetSocketAddress) l.address();
                if (l.kind() == ListenAddress.Kind.UDP) {
                    ports.add(inet.getPort()); // a bound UDP socket would take datagrams: the workers bind it
                    continue;
                }
                Socket s = new Socket();
                reserved.add(s);
                s.setOption(StandardSocketOptions.SO_REUSEADDR, true);
                s.setOption(StandardSocketOptions.SO_REUSEPORT, true);
                try {
                    s.bind(inet);
                } catch (IOException e) {
                    log.refused("cannot listen on " + l + ": " + e.getMessage());
                    return Sockserve.EXIT_FAILED;
                }
                ports.add(s.getLocalPort());
            }
            Supervisor supervisor = new Supervisor(jvm, List.of(args), ports, scale.workers, log);
            return supervisor.supervise(listeners, scale);
        } catch (IOException e) {
            log.refused("--workers: " + e.getMessage());
            return Sockserve.EXIT_FAILED;
        } finally {
            for (Socket s : reserved) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // closing a socket that never connected
                }
            }
        }
    }

    /** The java executable and this JVM's options: its command line without the command's own arguments. */
    static List<String> thisJvm(String[] args) {
        ProcessHandle.Info info = ProcessHandle.current().info();
        String[] all = info.arguments().orElse(null);
        if (info.command().isEmpty() || all == null || all.length < args.length) {
            return null;
        }
        List<String> tail = List.of(all).subList(all.length - args.length, all.length);
        if (!tail.equals(List.of(args))) {
            return null;
        }
        List<String> jvm = new ArrayList<>();
        jvm.add(info.command().get());
        jvm.addAll(List.of(all).subList(0, all.length - args.length));
        return jvm;
    }

    private int supervise(List<ListenAddress> listeners, ScaleOptions scale) throws IOException {
        AtomicInteger signals = new AtomicInteger();
        Health[] health = {null};
        for (String name : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(name), signal -> {
                if (signals.incrementAndGet() == 1) {
                    log.info("SIG" + signal.getName() + ": stopping the " + workers.length
                            + " workers; running connections may finish");
                    stopping = true;
                    if (health[0] != null) {
                        health[0].close();
                    }
                } else {
                    log.info("SIG" + signal.getName() + " again: the workers end now");
                    exitCode = 128 + signal.getNumber();
                }
                signalAll(Posix.SIGTERM); // a worker ignores SIGINT (a terminal's Ctrl-C reaches it too): always TERM
            });
        }
        Signal.handle(new Signal("HUP"), signal -> signalAll(SIGHUP)); // each worker reads its files again
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(i + 1);
            start(workers[i]);
        }
        try {
            while (!ready.await(100, TimeUnit.MILLISECONDS)) {
                if (stopping || failedExits.get() > 0) {
                    break; // a worker that cannot start: its own message said why
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (ready.getCount() > 0 && !stopping) {
            log.refused("--workers: a worker could not start; stopping the others");
            stopping = true;
            signalAll(Posix.SIGTERM);
            awaitAll();
            return Sockserve.EXIT_FAILED;
        }
        if (!stopping && scale.health != null) {
            health[0] = Health.start(scale.health, scale.reusePort);
            if (stopping) {
                health[0].close();
            }
        }
        List<String> bound = new ArrayList<>();
        for (int i = 0; i < listeners.size(); i++) {
            InetSocketAddress a = (InetSocketAddress) listeners.get(i).address();
            bound.add(ListenAddress.describe(listeners.get(i).kind(), new InetSocketAddress(a.getAddress(), ports.get(i))));
        }
        if (health[0] != null) {
            log.info("health checks on " + health[0].address());
        }
        if (stopping) { // a signal during the start: the workers are draining already
            awaitAll();
            return exitCode != 0 ? exitCode : failedExits.get() > 0 ? Sockserve.EXIT_FAILED : Sockserve.EXIT_OK;
        }
        log.info(workers.length + " workers, pids " + String.join(", ", java.util.Arrays.stream(workers)
                .map(w -> String.valueOf(w.process.pid())).toList()));
        log.info("serving " + String.join(", ", bound));
        awaitAll();
        if (health[0] != null) {
            health[0].close();
        }
        log.flushRepeats();
        return exitCode != 0 ? exitCode : failedExits.get() > 0 ? Sockserve.EXIT_FAILED : Sockserve.EXIT_OK;
    }

    private volatile int exitCode;

    private void start(Worker w) {
        List<String> command = new ArrayList<>(workerCommand);
        int dashes = args.indexOf("--");
        List<String> own = List.of("--worker=" + w.number, "--worker-ports="
                + String.join(",", ports.stream().map(String::valueOf).toList()));
        if (dashes < 0) {
            command.addAll(args);
            command.addAll(own);
        } else {
            command.addAll(args.subList(0, dashes));
            command.addAll(own);
            command.addAll(args.subList(dashes, args.size()));
        }
        Process p;
        try {
            p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT)
                    .redirectInput(ProcessBuilder.Redirect.INHERIT).start();
        } catch (IOException e) {
            log.error("cannot start worker " + w.number + ": " + e.getMessage());
            failedExits.incrementAndGet();
            return;
        }
        w.process = p;
        long started = System.nanoTime();
        Thread.ofVirtual().name("sockserve-worker-" + w.number).start(() -> watch(w, p, started));
    }

    /** Reads the worker's "ready" line, waits for its end, and starts it again unless stopping. */
    private void watch(Worker w, Process p, long started) {
        try (var out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = out.readLine()) != null;) {
                if (line.equals(Sockserve.WORKER_READY) && !w.wasReady) {
                    w.wasReady = true;
                    ready.countDown();
                }
            }
        } catch (IOException ignored) {
            // the worker is gone
        }
        int status;
        while (true) {
            try {
                status = p.waitFor();
                break;
            } catch (InterruptedException e) {
                // keep waiting: the worker's end must be known
            }
        }
        if (stopping) {
            if (status != 0 && exitCode == 0) {
                log.warning("worker " + w.number + " (pid " + p.pid() + ") ended with exit code " + status);
                failedExits.incrementAndGet();
            }
            return;
        }
        if (!w.wasReady && ready.getCount() > 0) {
            failedExits.incrementAndGet(); // never served: start-up fails as a whole
            return;
        }
        Duration lived = Duration.ofNanos(System.nanoTime() - started);
        w.backoff = lived.compareTo(LONG_LIFE) >= 0 ? Duration.ZERO : w.backoff.isZero() ? FIRST_BACKOFF
                : min(w.backoff.multipliedBy(2), MAX_BACKOFF);
        log.warning("worker " + w.number + " (pid " + p.pid() + ") ended with exit code " + status + " after "
                + Formats.duration(lived.truncatedTo(java.time.temporal.ChronoUnit.MILLIS)) + "; starting it again"
                + (w.backoff.isZero() ? " now" : " in " + Formats.duration(w.backoff)));
        try {
            Thread.sleep(w.backoff); // a back-off, not a wait for an event
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            if (!stopping) {
                start(w);
            }
        }
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    private synchronized void signalAll(int signal) {
        for (Worker w : workers) {
            Process p = w == null ? null : w.process;
            if (p != null && p.isAlive()) {
                Posix.kill((int) p.pid(), signal);
            }
        }
    }

    /** Waits until every worker has ended after the stop (a worker in its back-off is not restarted then). */
    private void awaitAll() {
        while (true) {
            boolean alive = false;
            for (Worker w : workers) {
                Process p = w == null ? null : w.process;
                if (p != null && p.isAlive()) {
                    alive = true;
                    try {
                        p.waitFor(200, TimeUnit.MILLISECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
            if (!alive && stopping) {
                return;
            }
            if (!alive) {
                synchronized (this) {
                    try {
                        wait(100); // every worker is in its back-off
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        }
    }
}
