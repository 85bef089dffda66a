package dev.sockserve;

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
