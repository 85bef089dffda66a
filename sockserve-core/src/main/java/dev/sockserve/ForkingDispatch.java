package dev.sockserve;

import dev.sockserve.internal.Relay;
import dev.sockserve.internal.SocketPair;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.util.List;

/**
 * {@link Concurrency#processes(int)} (Python's {@code ForkingMixIn}): each request in a child JVM. A
 * connection is handed to the child itself; a datagram goes to the child's input from a virtual thread
 * that sends back its output. Connection steps, when any, run on a virtual thread before the child starts;
 * over TLS the child gets one end of a socket pair and this JVM relays plain text between it and the
 * client's TLS connection.
 */
final class ForkingDispatch<R> extends Dispatch<R> {

    private final ChildProcessDispatch children;
    private final Thread.Builder.OfVirtual threads;

    ForkingDispatch(BaseServer<R> server, List<String> jvmOptions) throws IOException {
        this.children = new ChildProcessDispatch(server, server.requestHandlerFactory(), jvmOptions);
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
        SocketChannel connection = (SocketChannel) request.request();
        if (!request.channelWrapped()) {
            children.startStream(connection, request.clientAddress(), ended -> cycle.end(request, RequestEnd.COMPLETED));
            return;
        }
        // TLS: the child gets one end of a socket pair and reads and writes plain text; this JVM relays
        // between the other end and the TLS channel
        SocketPair pair = SocketPair.open();
        try {
            children.startStream(pair.right(), request.clientAddress(), ended -> cycle.end(request, RequestEnd.COMPLETED));
        } finally {
            pair.right().close(); // the child holds its own copy
        }
        var tls = request.channel().orElseThrow();
        threads.start(() -> {
            try {
                Relay.run(new Relay.Side(tls, tls::close, connection),
                        new Relay.Side(pair.left(), pair.left()::shutdownOutput, pair.left()), "relay");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                try {
                    pair.left().close();
                } catch (IOException ignored) {
                    // closing is all that is left
                }
            }
        });
    }

    @Override
    void close() {
        children.close(); // after a forced close, ends the children still running
    }
}
