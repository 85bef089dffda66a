package dev.sockserve;

import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.util.List;

/**
 * {@link Concurrency#processes(int)} (Python's {@code ForkingMixIn}): each request in a child JVM. A
 * connection is handed to the child itself; a datagram goes to the child's input from a virtual thread
 * that sends back its output. Connection steps, when any, run on a virtual thread before the child starts.
 */
final class ForkingDispatch<R> extends Dispatch<R> {

    private final ChildProcessDispatch children;
    private final Thread.Builder.OfVirtual threads;

    ForkingDispatch(BaseServer<R> server, List<String> jvmOptions) throws IOException {
        this.children = new ChildProcessDispatch(server, server.requestHandlerFactory().get().getClass(), jvmOptions);
        this.threads = Thread.ofVirtual().name(server.threadName("request"));
    }

    @Override
    void start(RequestCycle<R> cycle, RequestContext request) throws IOException {
        if (request.request() instanceof SocketChannel && cycle.admitted(request)) {
            spawn(cycle, request);
            return;
        }
        threads.start(() -> {
            if (!cycle.admit(request)) {
                return;
            }
            if (request.request() instanceof SocketChannel) {
                try {
                    spawn(cycle, request);
                } catch (IOException | RuntimeException e) {
                    cycle.failed(request, e);
                }
                return;
            }
            cycle.runInChild(request, () -> children.runDatagram((DatagramRequest) request.request(),
                    request.clientAddress()));
        });
    }

    private void spawn(RequestCycle<R> cycle, RequestContext request) throws IOException {
        if (request.channelWrapped()) {
            throw new IOException("processes() hands the socket itself to the child, and a connection step "
                    + "wrapped it; such steps are not supported under processes()");
        }
        SocketChannel connection = (SocketChannel) request.request();
        children.startStream(connection, request.clientAddress(), ended -> cycle.end(request, RequestEnd.COMPLETED));
    }

    @Override
    void close() {
        children.close(); // after a forced close, ends the children still running
    }
}
