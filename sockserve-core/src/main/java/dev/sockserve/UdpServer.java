package dev.sockserve;

import dev.sockserve.internal.DatagramTransport;
import dev.sockserve.internal.InetDatagramTransport;
import dev.sockserve.internal.LogLimiter;
import dev.sockserve.internal.ReplyGuard;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.Channel;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * A UDP server over IPv4 or IPv6: Python's {@code UDPServer}. Each request is one
 * {@link DatagramRequest}: the datagram's bytes and the socket to reply on.
 *
 * {@snippet :
 * try (var server = new UdpServer(new InetSocketAddress("127.0.0.1", 9999),
 *         DatagramRequestHandler.of(h -> h.wfile().write(h.packet())))) {
 *     server.serveForever();
 * }
 * }
 *
 * <p>A datagram longer than {@link ServerOptions#maxPacketSize()} (8192 by default) is not cut
 * silently: the handler sees {@link DatagramRequest#truncated()}, and the server counts it
 * ({@link #truncatedDatagrams()}) and logs it, at most one line a second in a flood.
 *
 * <h2>Reflection loops</h2>
 * A datagram's source address can be forged, so replies are guarded on the socket handlers reply on
 * ({@link DatagramRequest#socket()}): a reply to the server's own address (for a wildcard bind, any
 * address of this host with the server's port) is never sent, and replies to any one address are held
 * to {@link #replyBudget()} a second, so that two servers answering each other stop at the first reply
 * over it. Such a reply is dropped as UDP may drop it, counted ({@link #suppressedReplies()}) and
 * logged once per source. A handler that sends through {@link #socket()} itself goes around the guards.
 */
public class UdpServer extends BaseServer<DatagramRequest> {

    /**
     * The default {@link #replyBudget()}: replies a second to one address, after a burst of as many. Below
     * the rate of two servers answering each other on one host (15,000 to 100,000 datagrams a second on
     * loopback), above what one client doing one round trip at a time reaches on loopback (1,000 a second
     * cut such a client off in the soak: RELIABILITY.md). A client sending faster sees its replies over the
     * budget dropped.
     */
    public static final int DEFAULT_REPLY_BUDGET = 10_000;

    private final ProtocolFamily family;
    private final DatagramTransport transport;
    private final ReplyGuard replies;
    private final ByteBuffer receiveBuffer;
    private final AtomicLong truncated = new AtomicLong();
    private final LogLimiter truncatedLog = new LogLimiter(LOG, Duration.ofSeconds(1));
    private volatile SocketAddress bound;

    public UdpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory) {
        this(address, handlerFactory, ServerOptions.defaults());
    }

    public UdpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options) {
        this(address, handlerFactory, options, true);
    }

    /**
     * @param bindAndActivate {@code false} to leave the socket unbound; then call
     *     {@link #bindAndActivate()} yourself
     */
    public UdpServer(InetSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options, boolean bindAndActivate) {
        this(address, handlerFactory, options, bindAndActivate, Concurrency.synchronous(), null);
    }

    /**
     * Serves a UDP socket made elsewhere: inherited from inetd or systemd socket activation
     * ({@link System#inheritedChannel()}), or bound by the caller. It must be bound already; the server
     * does not bind it again, and {@link #serverClose()} closes it.
     */
    public UdpServer(DatagramChannel bound, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options) {
        this(localAddressOf(bound), handlerFactory, options, true, Concurrency.synchronous(), adopt(bound));
    }

    private static SocketAddress localAddressOf(DatagramChannel channel) {
        try {
            SocketAddress local = channel.getLocalAddress();
            if (local == null) {
                throw new IllegalArgumentException("the datagram socket given to the server is not bound");
            }
            return local;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the address of the datagram socket: " + e.getMessage(), e);
        }
    }

    private static DatagramTransport adopt(DatagramChannel channel) {
        try {
            return new AdoptedTransport(channel);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot use the datagram socket given to the server: " + e.getMessage(), e);
        }
    }

    /** A socket bound elsewhere: {@link #serverBind()} leaves it as it is. */
    private static final class AdoptedTransport implements DatagramTransport {
        private final InetDatagramTransport inet;

        AdoptedTransport(DatagramChannel channel) throws IOException {
            this.inet = new InetDatagramTransport(channel);
        }

        @Override
        public Received receive(ByteBuffer dst) throws IOException {
            return inet.receive(dst);
        }

        @Override
        public int send(ByteBuffer data, SocketAddress target) throws IOException {
            return inet.send(data, target);
        }

        @Override
        public SocketAddress localAddress() {
            return inet.localAddress();
        }

        @Override
        public java.nio.channels.SelectableChannel readiness() {
            return inet.readiness();
        }

        @Override
        public boolean isOpen() {
            return inet.isOpen();
        }

        @Override
        public void close() throws IOException {
            inet.close();
        }
    }

    /** @param transport the socket, or null to open a UDP one */
    UdpServer(SocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options, boolean bindAndActivate, Concurrency defaultConcurrency,
            DatagramTransport transport) {
        super(address, handlerFactory, options, defaultConcurrency);
        this.family = TcpServer.familyOf(address);
        this.transport = transport != null ? transport : openUdp(family, address, options);
        this.replies = new ReplyGuard(this.transport, LOG, this::where, BaseServer::describe, DEFAULT_REPLY_BUDGET);
        // one byte more than the largest datagram taken, so that a longer one shows
        this.receiveBuffer = ByteBuffer.allocateDirect(options.maxPacketSize() + 1);
        if (bindAndActivate) {
            bindAndActivate();
        }
    }

    /**
     * Opens the UDP socket with {@code SO_REUSEADDR} and {@code SO_REUSEPORT} as the options say, before
     * any {@link #serverBind()} runs, so that an override setting an option before calling
     * {@code super.serverBind()} keeps it.
     */
    private static DatagramTransport openUdp(ProtocolFamily family, SocketAddress address, ServerOptions options) {
        DatagramChannel channel = null;
        try {
            channel = DatagramChannel.open(family);
            channel.setOption(StandardSocketOptions.SO_REUSEADDR, options.allowReuseAddress());
            if (options.allowReusePort()) {
                channel.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            }
            return new InetDatagramTransport(channel);
        } catch (IOException e) {
            TcpServer.closeQuietly(channel, e);
            throw new UncheckedIOException("cannot open a " + family + " datagram socket for " + describe(address)
                    + ": " + e.getMessage(), e);
        }
    }

    DatagramTransport transport() {
        return transport;
    }

    void bound(SocketAddress address) {
        this.bound = address;
        replies.bound(address);
    }

    @Override
    public ProtocolFamily addressFamily() {
        return family;
    }

    @Override
    public SocketType socketType() {
        return SocketType.DATAGRAM;
    }

    @Override
    public SocketAddress serverAddress() {
        SocketAddress b = bound;
        return b != null ? b : requestedAddress();
    }

    /** The socket: a {@link DatagramChannel} for UDP. */
    @Override
    public Channel socket() {
        return transport instanceof InetDatagramTransport inet ? inet.channel()
                : transport instanceof AdoptedTransport adopted ? adopted.inet.channel() : transport;
    }

    /** How many datagrams were longer than {@link ServerOptions#maxPacketSize()}. */
    public long truncatedDatagrams() {
        return truncated.get();
    }

    /**
     * How many replies were not sent: to the server's own address, or over {@link #replyBudget()}.
     */
    public long suppressedReplies() {
        return replies.suppressed();
    }

    /** The most replies a second to any one address (after a burst of as many); 0 means no budget. */
    public int replyBudget() {
        return replies.budget();
    }

    /**
     * Sets {@link #replyBudget()}; takes effect at once. 0 turns the budget off (a load generator sending
     * from few sockets may need it), which leaves two servers free to answer each other for ever; the
     * guard against replying to the server's own address stays.
     */
    public void setReplyBudget(int repliesPerSecond) {
        replies.budget(repliesPerSecond);
    }

    /**
     * How the warning about an oversize datagram names the {@link ServerOptions#maxPacketSize()} setting:
     * {@code "maxPacketSize"}. A command line overrides it with its flag.
     */
    protected String maxPacketSizeName() {
        return "maxPacketSize";
    }

    @Override
    String transportName() {
        return "udp";
    }

    @Override
    SelectableChannel readiness() throws IOException {
        return transport.readiness();
    }

    @Override
    int readinessOps() {
        return SelectionKey.OP_READ;
    }

    /**
     * Binds the socket. {@code SO_REUSEADDR} and {@code SO_REUSEPORT} were set as the options say when it
     * was opened; without either, a port another socket holds is refused ("Address already in use").
     */
    @Override
    protected void serverBind() throws IOException {
        if (transport instanceof AdoptedTransport adopted) {
            bound(adopted.localAddress()); // bound by whoever made it
            return;
        }
        DatagramChannel channel = ((InetDatagramTransport) transport).channel();
        channel.bind(requestedAddress());
        bound(channel.getLocalAddress());
    }

    /** Receives one waiting datagram, if any. */
    @Override
    protected Optional<Incoming<DatagramRequest>> getRequest() throws IOException {
        ByteBuffer buffer = receiveBuffer;
        buffer.clear();
        DatagramTransport.Received received = transport.receive(buffer);
        if (received == null) {
            return Optional.empty();
        }
        int max = options().maxPacketSize();
        int got = buffer.position();
        boolean cut = got > max || received.length() > max;
        byte[] data = new byte[Math.min(got, max)];
        buffer.flip();
        buffer.get(data);
        if (cut) {
            truncated.incrementAndGet();
            int length = received.length(); // -1 when the transport cannot tell
            truncatedLog.log(Level.WARNING, () -> "datagram from " + describe(received.sender()) + " on " + where()
                    + " is longer (" + (length > max ? length + " bytes" : "more than " + max + " bytes")
                    + ") than " + maxPacketSizeName() + " " + max + "; the handler gets its first " + max + " bytes");
        }
        return Optional.of(new Incoming<>(new DatagramRequest(data, cut, replies), received.sender()));
    }

    @Override
    boolean stopArrivals() {
        if (!(transport instanceof InetDatagramTransport inet)) {
            return false;
        }
        try {
            dev.sockserve.internal.ArrivalFilter.dropNewDatagrams(inet.channel());
            return true;
        } catch (IOException | RuntimeException e) {
            LOG.log(Level.WARNING, "cannot stop new datagrams to " + where() + " before draining (" + e.getMessage() + ")");
            return false;
        }
    }

    @Override
    void closeSocket() throws IOException {
        truncatedLog.flush(Level.WARNING, () -> "datagrams longer than " + maxPacketSizeName() + " "
                + options().maxPacketSize() + " on " + where() + ": " + truncated.get() + " in all");
        transport.close();
    }
}
