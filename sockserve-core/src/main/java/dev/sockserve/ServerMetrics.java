package dev.sockserve;

import dev.sockserve.internal.Addresses;
import dev.sockserve.internal.Events;
import java.util.concurrent.atomic.LongAdder;

/**
 * What a server has done, counted as it happens: {@link BaseServer#metrics()}. Counting costs an
 * uncontended add per request; reading is for monitoring (JMX, the command's {@code --metrics}).
 */
public final class ServerMetrics implements ServerMetricsMXBean {

    private final BaseServer<?> server;
    final LongAdder accepted = new LongAdder();
    final LongAdder errors = new LongAdder();
    final LongAdder bytesReceived = new LongAdder();
    final LongAdder bytesSent = new LongAdder();
    final LongAdder acceptPauses = new LongAdder();

    ServerMetrics(BaseServer<?> server) {
        this.server = server;
    }

    /**
     * A request accepted: counted, and its event when recorded. With {@link #ended} and the handler's
     * {@link RequestContext#countBytes}, all a request pays for being watched (sockserve-bench's
     * {@code AccountingBenchmark} measures it).
     */
    void accepted(RequestContext request) {
        accepted.increment();
        if (Events.on()) {
            Events.Accepted event = new Events.Accepted();
            if (event.isEnabled()) {
                event.listener = server.where();
                event.client = Addresses.describe(request.clientAddress());
                event.requestId = request.id();
                event.commit();
            }
        }
    }

    /** A request ended: its bytes counted, and its end event when recorded. */
    void ended(RequestContext request, RequestEnd how) {
        long in = request.bytesIn();
        long out = request.bytesOut();
        if (in > 0) {
            bytesReceived.add(in);
        }
        if (out > 0) {
            bytesSent.add(out);
        }
        if (Events.on()) {
            Events.RequestEnded event = new Events.RequestEnded();
            if (event.isEnabled()) {
                event.listener = server.where();
                event.client = Addresses.describe(request.clientAddress());
                event.requestId = request.id();
                event.outcome = how.reason().name();
                event.requestDuration = System.nanoTime() - request.startNanos();
                event.bytesIn = in;
                event.bytesOut = out;
                event.commit();
            }
        }
    }

    @Override
    public String getListener() {
        return server.where();
    }

    @Override
    public int getActiveRequests() {
        return server.activeRequests();
    }

    @Override
    public long getAccepted() {
        return accepted.sum();
    }

    @Override
    public long getRefused() {
        return server.refusedRequests();
    }

    @Override
    public long getErrors() {
        return errors.sum();
    }

    @Override
    public long getBytesReceived() {
        return bytesReceived.sum();
    }

    @Override
    public long getBytesSent() {
        return bytesSent.sum();
    }

    @Override
    public long getTruncatedDatagrams() {
        return server instanceof UdpServer udp ? udp.truncatedDatagrams() : 0;
    }

    @Override
    public long getAcceptFailures() {
        return server.acceptFailures();
    }

    @Override
    public long getAcceptPauses() {
        return acceptPauses.sum();
    }
}
