package dev.sockserve;

/** The concurrency policies the behavioural suite runs over. */
enum Policy {
    SYNCHRONOUS(Concurrency.synchronous()),
    THREADS(Concurrency.threads()),
    VIRTUAL_THREADS(Concurrency.virtualThreads()),
    BOUNDED(Concurrency.bounded(4));

    final Concurrency concurrency;

    Policy(Concurrency concurrency) {
        this.concurrency = concurrency;
    }

    ServerOptions options() {
        return ServerOptions.defaults().concurrency(concurrency);
    }
}
