package dev.sockserve;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * The settings a server needs before it binds: Python's class attributes {@code allow_reuse_address},
 * {@code allow_reuse_port}, {@code request_queue_size}, {@code timeout}, {@code max_packet_size},
 * {@code daemon_threads} and {@code block_on_close}, plus the concurrency policy.
 *
 * <p>They are given to the server's constructor as one immutable value rather than read from
 * subclass fields, because a Java subclass's fields are not yet set while the superclass
 * constructor binds the socket. Every {@code withX}-style method returns a new value:
 * {@snippet :
 * var options = ServerOptions.defaults()
 *         .allowReuseAddress(true)
 *         .concurrency(Concurrency.virtualThreads().limit(1000));
 * try (var server = new TcpServer(new InetSocketAddress("127.0.0.1", 0), Echo::new, options)) {
 *     server.serveForever();
 * }
 * }
 */
public final class ServerOptions {

    private static final ServerOptions DEFAULTS = new ServerOptions(false, false, 1024, null, 8192, null,
            true, Duration.ofSeconds(10), Duration.ofSeconds(60), false, Duration.ofNanos(50_000));

    private final boolean allowReuseAddress;
    private final boolean allowReusePort;
    private final int requestQueueSize;
    private final Duration timeout;
    private final int maxPacketSize;
    private final Concurrency concurrency;
    private final boolean blockOnClose;
    private final Duration closeGracePeriod;
    private final Duration writeTimeout;
    private final boolean sendEmptyReplies;
    private final Duration readSpin;

    private ServerOptions(boolean allowReuseAddress, boolean allowReusePort, int requestQueueSize, Duration timeout,
            int maxPacketSize, Concurrency concurrency, boolean blockOnClose, Duration closeGracePeriod,
            Duration writeTimeout, boolean sendEmptyReplies, Duration readSpin) {
        this.allowReuseAddress = allowReuseAddress;
        this.allowReusePort = allowReusePort;
        this.requestQueueSize = requestQueueSize;
        this.timeout = timeout;
        this.maxPacketSize = maxPacketSize;
        this.concurrency = concurrency;
        this.blockOnClose = blockOnClose;
        this.closeGracePeriod = closeGracePeriod;
        this.writeTimeout = writeTimeout;
        this.sendEmptyReplies = sendEmptyReplies;
        this.readSpin = readSpin;
    }

    /** The defaults, as listed on each option. */
    public static ServerOptions defaults() {
        return DEFAULTS;
    }

    /** {@code SO_REUSEADDR} on the listening socket. Default {@code false}, as in Python. */
    public boolean allowReuseAddress() {
        return allowReuseAddress;
    }

    public ServerOptions allowReuseAddress(boolean value) {
        return new ServerOptions(value, allowReusePort, requestQueueSize, timeout, maxPacketSize, concurrency,
                blockOnClose, closeGracePeriod, writeTimeout, sendEmptyReplies, readSpin);
    }

    /**
     * {@code SO_REUSEPORT}: several sockets (usually several processes) share one port and the kernel
     * spreads connections over them. Default {@code false}. Only for IPv4 and IPv6 servers: a Unix
     * server given {@code true} refuses to start.
     */
    public boolean allowReusePort() {
        return allowReusePort;
    }

    public ServerOptions allowReusePort(boolean value) {
        return new ServerOptions(allowReuseAddress, value, requestQueueSize, timeout, maxPacketSize, concurrency,
                blockOnClose, closeGracePeriod, writeTimeout, sendEmptyReplies, readSpin);
    }

    /**
     * The listen backlog of stream servers: connections the kernel completes and holds until the server
     * accepts them. Default 1024 (Python's 5 drops clients under any burst); Linux caps it at
     * {@code net.core.somaxconn}.
     */
    public int requestQueueSize() {
        return requestQueueSize;
    }

    public ServerOptions requestQueueSize(int value) {
        if (value < 1) {
            throw new IllegalArgumentException("requestQueueSize must be at least 1, was " + value);
        }
        return new ServerOptions(allowReuseAddress, allowReusePort, value, timeout, maxPacketSize, concurrency,
                blockOnClose, closeGracePeriod, writeTimeout, sendEmptyReplies, readSpin);
    }

    /**
     * How long {@link BaseServer#handleRequest()} waits for a request before it calls
     * {@link BaseServer#handleTimeout()}. Default: none, it waits for ever.
     */
    public Optional<Duration> timeout() {
        return Optional.ofNullable(timeout);
    }

    public ServerOptions timeout(Duration value) {
        return new ServerOptions(allowReuseAddress, allowReusePort, requestQueueSize, positive("timeout", value),
                maxPacketSize, concurrency, blockOnClose, closeGracePeriod, writeTimeout, sendEmptyReplies, readSpin);
    }

    /**
     * The largest datagram a datagram server takes whole. Default 8192. A longer datagram is not cut
     * silently: its request says {@link DatagramRequest#truncated()}, and the server logs and counts it.
     */
    public int maxPacketSize() {
        return maxPacketSize;
    }

    public ServerOptions maxPacketSize(int value) {
        if (value < 1 || value > 65_535) {
            throw new IllegalArgumentException("maxPacketSize must be 1..65535, was " + value);
        }
        return new ServerOptions(allowReuseAddress, allowReusePort, requestQueueSize, timeout, value, concurrency,
                blockOnClose, closeGracePeriod, writeTimeout, sendEmptyReplies, readSpin);
    }

    /**
     * What {@link BaseServer#processRequest} does with a request. Default: empty, which means
     * {@link Concurrency#synchronous()} for the plain servers and {@link Concurrency#virtualThreads()}
     * for the {@code Threading*} servers.
     */
    public Optional<Concurrency> concurrency() {
        return Optional.ofNullable(concurrency);
    }

    public ServerOptions concurrency(Concurrency value) {
        return new ServerOptions(allowReuseAddress, allowReusePort, requestQueueSize, timeout, maxPacketSize,
                Objects.requireNonNull(value, "concurrency"), blockOnClose, closeGracePeriod, writeTimeout,
                sendEmptyReplies, readSpin);
    }

    /**
     * Python's {@code block_on_close}: whether {@link BaseServer#serverClose()} waits for the requests in
     * flight (up to {@link #closeGracePeriod()}). Default {@code true}. With {@code false} it closes their
     * connections at once.
     */
    public boolean blockOnClose() {
        return blockOnClose;
    }

    public ServerOptions blockOnClose(boolean value) {
        return new ServerOptions(allowReuseAddress, allowReusePort, requestQueueSize, timeout, maxPacketSize,
                concurrency, value, closeGracePeriod, writeTimeout, sendEmptyReplies, readSpin);
    }

    /**
     * How long {@link BaseServer#serverClose()} waits for requests in flight before it closes their
     * connections; it then reports {@link CloseOutcome#FORCED}. Default 10 seconds. It bounds the wait
     * on idle keep-alive connections too, which would otherwise hold a close for ever.
     */
    public Duration closeGracePeriod() {
        return closeGracePeriod;
    }

    public ServerOptions closeGracePeriod(Duration value) {
        Objects.requireNonNull(value, "closeGracePeriod");
        if (value.isNegative()) {
            throw new IllegalArgumentException("closeGracePeriod must not be negative, was " + value);
        }
        return new ServerOptions(allowReuseAddress, allowReusePort, requestQueueSize, timeout, maxPacketSize,
                concurrency, blockOnClose, value, writeTimeout, sendEmptyReplies, readSpin);
    }

    /**
     * How long one write on a stream connection may make no progress before the connection is reset (so
     * the kernel drops what the peer never took) and the write fails with a
     * {@link java.net.SocketTimeoutException}; Java sockets time out reads only. A peer that reads slowly
     * but steadily is never cut. Default 60 seconds; enforced at the deadline by one watchdog thread.
     */
    public Optional<Duration> writeTimeout() {
        return Optional.ofNullable(writeTimeout);
    }

    /** Sets the write timeout; {@code null} means writes may block for ever. */
    public ServerOptions writeTimeout(Duration value) {
        return new ServerOptions(allowReuseAddress, allowReusePort, requestQueueSize, timeout, maxPacketSize,
                concurrency, blockOnClose, closeGracePeriod, value == null ? null : positive("writeTimeout", value),
                sendEmptyReplies, readSpin);
    }

    /**
     * Whether a {@link DatagramRequestHandler} that wrote nothing still sends an empty reply datagram, as
     * Python does. Default {@code false}: no reply.
     */
    public boolean sendEmptyReplies() {
        return sendEmptyReplies;
    }

    public ServerOptions sendEmptyReplies(boolean value) {
        return new ServerOptions(allowReuseAddress, allowReusePort, requestQueueSize, timeout, maxPacketSize,
                concurrency, blockOnClose, closeGracePeriod, writeTimeout, value, readSpin);
    }

    /**
     * How long a handler about to block in a read first looks for bytes on the spot, yielding between
     * looks, before its thread parks. Allowed only while the server has no more requests in flight than
     * virtual-thread carriers (the CPUs, or {@code jdk.virtualThreadScheduler.parallelism}), so it never
     * takes a CPU another request could use. A client that answers within the spin is served without
     * waking a thread: on a lightly loaded server that halves the latency of a round trip, for at most
     * this much CPU per wait. With more requests in flight than carriers there is no spin; a virtual-thread
     * handler then yields once before every other read, so the other requests run first and its client's
     * next message has usually arrived when it reads, and one whose reads keep finding bytes waiting steps
     * back behind the other threads about every 60 reads, so a client that streams without pause cannot
     * keep a carrier to itself. Default 50 microseconds; {@link Duration#ZERO} parks at once and never
     * yields.
     */
    public Duration readSpin() {
        return readSpin;
    }

    public ServerOptions readSpin(Duration value) {
        Objects.requireNonNull(value, "readSpin");
        if (value.isNegative() || value.compareTo(Duration.ofSeconds(1)) > 0) {
            throw new IllegalArgumentException("readSpin must be between 0 and 1 second, was " + value);
        }
        return new ServerOptions(allowReuseAddress, allowReusePort, requestQueueSize, timeout, maxPacketSize,
                concurrency, blockOnClose, closeGracePeriod, writeTimeout, sendEmptyReplies, value);
    }

    private static Duration positive(String name, Duration value) {
        Objects.requireNonNull(value, name);
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(name + " must be positive, was " + value);
        }
        return value;
    }

    @Override
    public String toString() {
        return "ServerOptions[allowReuseAddress=" + allowReuseAddress + ", allowReusePort=" + allowReusePort
                + ", requestQueueSize=" + requestQueueSize + ", timeout=" + timeout + ", maxPacketSize="
                + maxPacketSize + ", concurrency=" + concurrency + ", blockOnClose=" + blockOnClose
                + ", closeGracePeriod=" + closeGracePeriod + ", writeTimeout=" + writeTimeout
                + ", sendEmptyReplies=" + sendEmptyReplies + ", readSpin=" + readSpin + "]";
    }
}
