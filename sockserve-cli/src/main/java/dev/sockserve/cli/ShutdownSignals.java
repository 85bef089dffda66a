package dev.sockserve.cli;

import java.util.concurrent.atomic.AtomicInteger;
import sun.misc.Signal;

/**
 * SIGTERM and SIGINT: the first stops new connections at once, serves those already queued (a drain,
 * {@link dev.sockserve.ServerGroup#drain()}) and lets running connections finish for the grace period, then the command ends every child still running, removes its socket files and exits 0; a
 * second ends the children at once, removes the socket files and exits 128 + the signal's number (143
 * for SIGTERM, 130 for SIGINT), as a shell reports a process killed by it. SIGHUP reads the rules file
 * and the TLS files again and never ends the command.
 *
 * <p>Why {@code sun.misc.Signal} (module jdk.unsupported, exported and supported in practice) rather than
 * a shutdown hook: the JVM runs shutdown hooks on the first signal and then ignores further ones until
 * they finish, so a hook cannot tell "stop gently" from "stop now"; {@code jdk.internal.misc.Signal} is
 * not exported. Handling the signal replaces the JVM's default exit, so the first signal only starts
 * the graceful stop and the command exits 0 when it is done.
 */
final class ShutdownSignals {

    private ShutdownSignals() {
    }

    static void install(Serving serving, EventLog log) {
        install(serving, log, () -> { }, false);
    }

    /**
     * As above; {@code firstSignal} runs first on the first signal (--health stops answering). A worker of
     * --workers ignores SIGINT: a terminal's Ctrl-C reaches the whole process group, and its supervisor
     * forwards it as SIGTERM, which must stay the first signal the worker sees.
     */
    static void install(Serving serving, EventLog log, Runnable firstSignal, boolean worker) {
        AtomicInteger received = new AtomicInteger();
        if (worker) {
            Signal.handle(new Signal("INT"), sun.misc.SignalHandler.SIG_IGN);
        }
        for (String name : worker ? new String[] {"TERM"} : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(name), signal -> {
                if (received.incrementAndGet() == 1) {
                    firstSignal.run();
                    log.info("SIG" + signal.getName() + ": no new connections; running ones may finish");
                    Thread.ofPlatform().name("sockserve-stop").daemon(true).start(serving::stop);
                } else {
                    log.info("SIG" + signal.getName() + " again: ending now");
                    serving.killChildren();
                    serving.removeSocketFiles();
                    log.flushRepeats();
                    Runtime.getRuntime().halt(128 + signal.getNumber());
                }
            });
        }
        Signal.handle(new Signal("HUP"), signal -> serving.reload());
    }
}
