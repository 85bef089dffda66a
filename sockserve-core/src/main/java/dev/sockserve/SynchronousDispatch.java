package dev.sockserve;

/** {@link Concurrency#synchronous()}: the serving thread runs each request before it takes the next. */
final class SynchronousDispatch<R> extends Dispatch<R> {

    private final int batch;

    SynchronousDispatch(SocketType type) {
        // a stream server keeps Python's one request per loop turn, so serviceActions runs between
        // connections; datagrams are short, and take the batch
        this.batch = type == SocketType.STREAM ? 1 : READY_BATCH;
    }

    @Override
    void start(RequestCycle<R> cycle, RequestContext request) {
        cycle.run(request, true); // an Error leaves serveForever, as SystemExit does in Python
    }

    @Override
    int batch() {
        return batch;
    }
}
