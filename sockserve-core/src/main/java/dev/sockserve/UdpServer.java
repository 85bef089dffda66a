package dev.sockserve;

import dev.sockserve.internal.DatagramTransport;
import dev.sockserve.internal.InetDatagramTransport;
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
 * silently: the handler sees {@link DatagramRequest#truncated()}, and the server logs and counts it
 * ({@link #truncatedDatagrams()}).
 */
public class UdpServer extends BaseServer<DatagramRequest> {

    private final ProtocolFamily family;
    private final DatagramTransport transport;
    private final ByteBuffer receiveBuffer;
    private final AtomicLong truncated = new AtomicLong();
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

    /** @param transport the socket, or null to open a UDP one */
    UdpServer(SocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlerFactory,
            ServerOptions options, boolean bindAndActivate, Concurrency defaultConcurrency,
            DatagramTransport transport) {
        super(address, handlerFactory, options, defaultConcurrency);
        this.family = TcpServer.familyOf(address);
        try {
            this.transport = transport != null ? transport : new InetDatagramTransport(DatagramChannel.open(family));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a " + family + " datagram socket for " + describe(address)
                    + ": " + e.getMessage(), e);
        }
        // one byte more than the largest datagram taken, so that a longer one shows
        this.receiveBuffer = ByteBuffer.allocateDirect(options.maxPacketSize() + 1);
        if (bindAndActivate) {
            bindAndActivate();
        }
    }

    DatagramTransport transport() {
        return transport;
    }

    void bound(SocketAddress address) {
        this.bound = address;
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
        return transport instanceof InetDatagramTransport inet ? inet.channel() : transport;
    }

    /** How many datagrams were longer than {@link ServerOptions#maxPacketSize()}. */
    public long truncatedDatagrams() {
        return truncated.get();
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

    /** Binds the socket, with {@code SO_REUSEADDR} and {@code SO_REUSEPORT} as the options say. */
    @Override
    protected void serverBind() throws IOException {
        DatagramChannel channel = ((InetDatagramTransport) transport).channel();
        channel.setOption(StandardSocketOptions.SO_REUSEADDR, options().allowReuseAddress());
        if (options().allowReusePort()) {
            channel.setOption(StandardSocketOptions.SO_REUSEPORT, true);
        }
        channel.bind(requestedAddress());
        bound = channel.getLocalAddress();
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
            LOG.log(Level.WARNING, "datagram from " + describe(received.sender()) + " on " + where() + " is longer ("
                    + (received.length() > max ? received.length() + " bytes" : "over " + max + " bytes")
                    + ") than maxPacketSize " + max + "; the handler gets its first " + max + " bytes");
        }
        return Optional.of(new Incoming<>(new DatagramRequest(data, cut, transport), received.sender()));
    }

    @Override
    void closeSocket() throws IOException {
        transport.close();
    }
}
