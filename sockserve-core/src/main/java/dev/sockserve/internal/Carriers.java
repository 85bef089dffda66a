package dev.sockserve.internal;

import java.lang.System.Logger.Level;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.UnaryOperator;

/**
 * The virtual-thread carriers, and the one JVM setting around them that starves connections.
 *
 * <p>On Linux the JDK's read pollers are virtual threads themselves, one per CPU by default
 * ({@code jdk.readPollers}), and each connection belongs to one of them. A carrier runs the threads in
 * its own queue before anything submitted from outside it, and a poller that found nothing to do is woken
 * from outside. With fewer carriers than pollers, one carrier kept busy by one poller's connections never
 * gets to the other poller, and its connections wait for as long as the load lasts (measured: with one
 * carrier and two pollers, 5,000 of 10,000 busy connections got no answer for seconds). Lowering the
 * carriers below the CPUs, as sockserve recommends, needs the pollers lowered with them.
 */
public final class Carriers {

    /** The JDK's default read pollers on Linux are the CPUs rounded down to a power of two, at most this (its {@code DefaultPollerProvider}). */
    private static final int JDK_MAX_DEFAULT_READ_POLLERS = 32;
    private static final AtomicBoolean WARNED = new AtomicBoolean();

    private Carriers() {
    }

    /**
     * sockserve's recommended settings, applied before the first virtual thread exists (the command calls it
     * first thing): one carrier fewer than the CPUs, so the JDK's master poller has a core of its own, and
     * no more read pollers than carriers (the largest power of two not above them), so no poller's
     * connections starve (README, "Running sockserve fast"). A property already set is left alone;
     * {@code SOCKSERVE_CARRIERS=N} chooses the carriers. The one place that does this arithmetic.
     */
    public static void applyRecommended(String carriersFromEnvironment) {
        int cpus = Runtime.getRuntime().availableProcessors();
        int carriers = parse(carriersFromEnvironment, Math.max(1, cpus - 1));
        if (System.getProperty("jdk.virtualThreadScheduler.parallelism") == null) {
            System.setProperty("jdk.virtualThreadScheduler.parallelism", Integer.toString(carriers));
        }
        if (System.getProperty("jdk.readPollers") == null) {
            System.setProperty("jdk.readPollers", Integer.toString(Integer.highestOneBit(count())));
        }
    }

    /** The virtual-thread scheduler's parallelism: its system property when set, else the CPUs. */
    static int count() {
        return parse(System.getProperty("jdk.virtualThreadScheduler.parallelism"), Runtime.getRuntime().availableProcessors());
    }

    /** Logs {@link #starvationWarning} once per JVM, when there is one. */
    public static void warnIfPollersOutnumberCarriers(System.Logger log) {
        String warning = starvationWarning(System::getProperty, Runtime.getRuntime().availableProcessors(),
                System.getProperty("os.name", "").startsWith("Linux"));
        if (warning != null && WARNED.compareAndSet(false, true)) {
            log.log(Level.WARNING, warning);
        }
    }

    /**
     * What is wrong with these settings, or null when nothing is: the JDK's read pollers outnumber the
     * carriers while the pollers are virtual threads (the JDK's default on Linux, {@code jdk.pollerMode=2}).
     */
    static String starvationWarning(UnaryOperator<String> property, int cpus, boolean linux) {
        String mode = property.apply("jdk.pollerMode");
        boolean virtualPollers = mode == null ? linux : mode.trim().equals("2") || mode.trim().equalsIgnoreCase("VTHREAD_POLLERS");
        if (!virtualPollers) {
            return null;
        }
        int carriers = parse(property.apply("jdk.virtualThreadScheduler.parallelism"), cpus);
        int pollers = parse(property.apply("jdk.readPollers"), Math.min(Integer.highestOneBit(cpus), JDK_MAX_DEFAULT_READ_POLLERS));
        if (pollers <= carriers) {
            return null;
        }
        return "the JVM runs " + pollers + " read pollers (jdk.readPollers) on " + carriers
                + " virtual-thread carriers (jdk.virtualThreadScheduler.parallelism): under load a carrier busy with"
                + " one poller's connections can leave another poller's connections unanswered for as long as the"
                + " load lasts; start the JVM with -Djdk.readPollers=" + Integer.highestOneBit(carriers);
    }

    private static int parse(String value, int otherwise) {
        if (value != null) {
            try {
                return Math.max(1, Integer.parseInt(value.trim()));
            } catch (NumberFormatException ignored) {
                // the JDK refuses it too; fall through to its default
            }
        }
        return otherwise;
    }
}
