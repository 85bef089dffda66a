package dev.sockserve;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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

    private static final ServerOptions DEFAULTS = new ServerOptions();

    // not final: each setter changes a copy (see copy()); a value is never changed once returned
    private boolean allowReuseAddress = false;
    private boolean allowReusePort = false;
    private int requestQueueSize = 1024;
    private Duration timeout;
    private int maxPacketSize = 8192;
    private Concurrency concurrency;
    private boolean blockOnClose = true;
    private Duration closeGracePeriod = Duration.ofSeconds(10);
    private Duration writeTimeout = Duration.ofSeconds(60);
    private boolean sendEmptyReplies = false;
    // 50 us: longer than a loopback or LAN round trip plus a small handler, far below a scheduling quantum
    private Duration readSpin = Duration.ofNanos(50_000);
    private List<ConnectionStep> steps = List.of();
    private List<RequestGate> gates = List.of();
    private List<RequestObserver> observers = List.of();
    private Tls tls;
    private ProxyProtocol proxyProtocol;
    private AcceptRate acceptRate;
    private boolean registerMBean;

    private ServerOptions() {
    }

    private ServerOptions copy() {
        ServerOptions c = new ServerOptions();
        c.allowReuseAddress = allowReuseAddress;
        c.allowReusePort = allowReusePort;
        c.requestQueueSize = requestQueueSize;
        c.timeout = timeout;
        c.maxPacketSize = maxPacketSize;
        c.concurrency = concurrency;
        c.blockOnClose = blockOnClose;
        c.closeGracePeriod = closeGracePeriod;
        c.writeTimeout = writeTimeout;
        c.sendEmptyReplies = sendEmptyReplies;
        c.readSpin = readSpin;
        c.steps = steps;
        c.gates = gates;
        c.observers = observers;
        c.tls = tls;
        c.proxyProtocol = proxyProtocol;
        c.acceptRate = acceptRate;
        c.registerMBean = registerMBean;
        return c;
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
        ServerOptions c = copy();
        c.allowReuseAddress = value;
        return c;
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
        ServerOptions c = copy();
        c.allowReusePort = value;
        return c;
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
        ServerOptions c = copy();
        c.requestQueueSize = value;
        return c;
    }

    /**
     * How long {@link BaseServer#handleRequest()} waits for a request before it calls
     * {@link BaseServer#handleTimeout()}. Default: none, it waits for ever.
     */
    public Optional<Duration> timeout() {
        return Optional.ofNullable(timeout);
    }

    public ServerOptions timeout(Duration value) {
        ServerOptions c = copy();
        c.timeout = positive("timeout", value);
        return c;
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
        ServerOptions c = copy();
        c.maxPacketSize = value;
        return c;
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
        ServerOptions c = copy();
        c.concurrency = Objects.requireNonNull(value, "concurrency");
        return c;
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
        ServerOptions c = copy();
        c.blockOnClose = value;
        return c;
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
        ServerOptions c = copy();
        c.closeGracePeriod = value;
        return c;
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
        ServerOptions c = copy();
        c.writeTimeout = value == null ? null : positive("writeTimeout", value);
        return c;
    }

    /**
     * Whether a {@link DatagramRequestHandler} that wrote nothing still sends an empty reply datagram, as
     * Python does. Default {@code false}: no reply.
     */
    public boolean sendEmptyReplies() {
        return sendEmptyReplies;
    }

    public ServerOptions sendEmptyReplies(boolean value) {
        ServerOptions c = copy();
        c.sendEmptyReplies = value;
        return c;
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
        ServerOptions c = copy();
        c.readSpin = value;
        return c;
    }

    /**
     * The {@link ConnectionStep}s run on every new connection before {@code verifyRequest}, in order.
     * Default: none. Stream servers only: a datagram server given a step refuses to start.
     */
    public List<ConnectionStep> steps() {
        return steps;
    }

    /** These options with {@code step} run after the steps already given. */
    public ServerOptions step(ConnectionStep step) {
        ServerOptions c = copy();
        c.steps = append(steps, Objects.requireNonNull(step, "step"));
        return c;
    }

    /** Whether every connection starts with a PROXY protocol header; see {@link ProxyProtocol}. Default: no. */
    public Optional<ProxyProtocol> proxyProtocol() {
        return Optional.ofNullable(proxyProtocol);
    }

    /** These options expecting a PROXY protocol header: it is read as the first connection step. Stream servers only. */
    public ServerOptions proxyProtocol(ProxyProtocol value) {
        ServerOptions c = copy();
        c.proxyProtocol = Objects.requireNonNull(value, "proxyProtocol");
        return c;
    }

    /**
     * The most requests a second the server takes, with {@code burst} taken at once after a quiet time
     * (a token bucket). Above it the server stops accepting until a token is free: clients wait in the
     * listen backlog (datagrams in the socket's receive buffer) and nobody is refused, as with the
     * concurrency limit. Default: none.
     */
    public Optional<AcceptRate> acceptRate() {
        return Optional.ofNullable(acceptRate);
    }

    public ServerOptions acceptRate(double perSecond, int burst) {
        ServerOptions c = copy();
        c.acceptRate = new AcceptRate(perSecond, burst);
        return c;
    }

    /** {@link #acceptRate()}: tokens a second, and how many may be saved up. */
    public record AcceptRate(double perSecond, int burst) {
        public AcceptRate {
            if (!(perSecond > 0) || Double.isInfinite(perSecond)) {
                throw new IllegalArgumentException("acceptRate must be more than 0 a second, was " + perSecond);
            }
            if (burst < 1) {
                throw new IllegalArgumentException("acceptRate's burst must be at least 1, was " + burst);
            }
        }

        /** {@code 4/s:2}, {@code 0.5/s:1}. */
        @Override
        public String toString() {
            return (perSecond == Math.rint(perSecond) ? String.valueOf((long) perSecond) : String.valueOf(perSecond))
                    + "/s:" + burst;
        }
    }

    /**
     * Whether the server shows its {@link BaseServer#metrics()} as a JMX MBean
     * ({@code dev.sockserve:type=Server,name="tcp 127.0.0.1:7007"}) while it is open. Default {@code false}:
     * starting the platform MBean server costs tens of milliseconds of start-up, paid only when asked for.
     */
    public boolean registerMBean() {
        return registerMBean;
    }

    public ServerOptions registerMBean(boolean value) {
        ServerOptions c = copy();
        c.registerMBean = value;
        return c;
    }

    /** TLS on every connection, if set; see {@link Tls}. Default: none (plain text). */
    public Optional<Tls> tls() {
        return Optional.ofNullable(tls);
    }

    /** These options with TLS: its handshake runs as the last connection step. Stream servers only. */
    public ServerOptions tls(Tls value) {
        ServerOptions c = copy();
        c.tls = Objects.requireNonNull(value, "tls");
        return c;
    }

    /** The {@link RequestGate}s asked, in order, before {@code verifyRequest}. Default: none. */
    public List<RequestGate> gates() {
        return gates;
    }

    /** These options with {@code gate} asked after the gates already given. */
    public ServerOptions gate(RequestGate gate) {
        ServerOptions c = copy();
        c.gates = append(gates, Objects.requireNonNull(gate, "gate"));
        return c;
    }

    /** The {@link RequestObserver}s told of every request. Default: none. */
    public List<RequestObserver> observers() {
        return observers;
    }

    /** These options with {@code observer} told after the observers already given. */
    public ServerOptions observer(RequestObserver observer) {
        ServerOptions c = copy();
        c.observers = append(observers, Objects.requireNonNull(observer, "observer"));
        return c;
    }

    private static <T> List<T> append(List<T> list, T item) {
        List<T> longer = new ArrayList<>(list);
        longer.add(item);
        return List.copyOf(longer);
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
                + ", sendEmptyReplies=" + sendEmptyReplies + ", readSpin=" + readSpin + ", steps=" + steps.size()
                + ", gates=" + gates.size() + ", observers=" + observers.size() + ", acceptRate=" + acceptRate + "]";
    }
}
