package dev.sockserve;

/**
 * The concurrency policies the behavioural suite runs over: the test kit's other axis, with
 * {@link Transport}. Under {@link #PROCESSES} a handler runs in a child JVM, so only a
 * {@link Transport.ForkableBody} can be served.
 */
public enum Policy {
    SYNCHRONOUS(Concurrency.synchronous()),
    THREADS(Concurrency.threads()),
    VIRTUAL_THREADS(Concurrency.virtualThreads()),
    BOUNDED(Concurrency.bounded(4)),
    PROCESSES(Concurrency.processes(4));

    public final Concurrency concurrency;

    Policy(Concurrency concurrency) {
        this.concurrency = concurrency;
    }

    public ServerOptions options() {
        return ServerOptions.defaults().concurrency(concurrency);
    }

    /** Whether handlers run in this JVM, so a body may share state with the test. */
    public boolean inProcess() {
        return this != PROCESSES;
    }
}
