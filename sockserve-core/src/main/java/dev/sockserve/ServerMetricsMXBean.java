package dev.sockserve;

/**
 * A server's counters as JMX shows them ({@link ServerOptions#registerMBean(boolean)}), under
 * {@code dev.sockserve:type=Server,name="tcp 127.0.0.1:7007"}. Every count is since the server started.
 */
public interface ServerMetricsMXBean {
    /** The transport and address: {@code tcp 127.0.0.1:7007}. */
    String getListener();

    /** Requests accepted and not yet ended. */
    int getActiveRequests();

    /** Connections accepted and datagrams received. */
    long getAccepted();

    /** Requests a connection step, a gate (limits, rules) or {@code verifyRequest} refused. */
    long getRefused();

    /** Requests whose handler failed ({@code handleError} ran). */
    long getErrors();

    /**
     * Bytes the handlers read from their clients (stream handlers' {@code rfile}, over TLS its plain text,
     * datagrams), and what handlers added with {@link RequestContext#countBytes}.
     */
    long getBytesReceived();

    /** Bytes the handlers wrote to their clients ({@code wfile}, over TLS its plain text, reply datagrams). */
    long getBytesSent();

    /** Datagrams longer than {@link ServerOptions#maxPacketSize()}. */
    long getTruncatedDatagrams();

    /** Accepts or receives that failed. */
    long getAcceptFailures();

    /** Times {@link ServerOptions#acceptRate()} or running out of descriptors paused accepting. */
    long getAcceptPauses();
}
