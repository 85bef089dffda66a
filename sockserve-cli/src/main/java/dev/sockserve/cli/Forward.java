package dev.sockserve.cli;

import dev.sockserve.BaseRequestHandler;
import dev.sockserve.internal.Relay;
import dev.sockserve.internal.TlsChannel;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Duration;
import java.util.Optional;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;

/**
 * {@code forward}: each connection is relayed to a new connection to the upstream ({@code tcp://},
 * {@code tls://} verified against {@code --to-tls-ca}, or {@code unix:}), both ways, half-closes carried
 * through. With {@code --send-proxy v1|v2} the upstream first gets a PROXY protocol header naming the
 * client (source) and the address it connected to (destination). The upstream down: the client's
 * connection is closed and the failure logged.
 */
final class Forward {

    /** How long connecting to the upstream may take. */
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

    enum SendProxy { v1, v2 }

    private final ListenAddress upstream;
    private final Optional<SSLContext> upstreamTls;
    private final Optional<SendProxy> sendProxy;
    private final EventLog log;

    Forward(ListenAddress upstream, Optional<Path> upstreamCa, Optional<SendProxy> sendProxy, EventLog log) {
        if (!upstream.kind().stream()) {
            throw new IllegalArgumentException("--to " + upstream + ": forward relays to tcp://, tls:// or unix:");
        }
        if (upstreamCa.isPresent() && upstream.kind() != ListenAddress.Kind.TLS) {
            throw new IllegalArgumentException("--to-tls-ca applies to a tls:// upstream");
        }
        this.upstream = upstream;
        this.upstreamTls = upstream.kind() == ListenAddress.Kind.TLS ? Optional.of(clientContext(upstreamCa)) : Optional.empty();
        this.sendProxy = sendProxy;
        this.log = log;
    }

    private static SSLContext clientContext(Optional<Path> ca) {
        try {
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            if (ca.isPresent()) {
                KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
                store.load(null, null);
                int i = 0;
                for (var cert : dev.sockserve.internal.PemFiles.certificates(ca.get())) {
                    store.setCertificateEntry("ca" + i++, cert);
                }
                trust.init(store);
            } else {
                trust.init((KeyStore) null); // the JDK's CAs
            }
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, trust.getTrustManagers(), null);
            return context;
        } catch (IOException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("--to-tls-ca: " + e.getMessage(), e);
        }
    }

    BaseRequestHandler<SocketChannel> handler() {
        return new BaseRequestHandler<>() {
            @Override
            protected void handle() throws Exception {
                relay(this);
            }
        };
    }

    private void relay(BaseRequestHandler<SocketChannel> h) throws IOException, InterruptedException {
        SocketChannel up;
        try {
            up = connect();
        } catch (IOException e) {
            log.warning("forward: upstream " + upstream + " for " + Peer.of(h.context().clientAddress()).display()
                    + ": " + Formats.reason(e) + "; client closed");
            return;
        }
        try (up) {
            if (sendProxy.isPresent()) {
                ByteBuffer header = ByteBuffer.wrap(sendProxy.get() == SendProxy.v1
                        ? v1(h.context().clientAddress(), h.context().localAddress())
                        : v2(h.context().clientAddress(), h.context().localAddress()));
                while (header.hasRemaining()) {
                    up.write(header);
                }
            }
            ByteChannel upChannel = up;
            Relay.IoAction upEnd = up::shutdownOutput;
            if (upstreamTls.isPresent()) {
                TlsChannel tls = new TlsChannel(up, engine(upstreamTls.get()));
                try {
                    tls.handshake();
                } catch (IOException e) {
                    log.warning("forward: TLS with upstream " + upstream + " failed: " + Formats.reason(e) + "; client closed");
                    return;
                }
                upChannel = tls;
                upEnd = tls::close;
            }
            var client = h.context().channel().orElseThrow();
            Relay.IoAction clientEnd = h.context().channelWrapped() ? client::close : h.request()::shutdownOutput;
            Relay.run(new Relay.Side(client, clientEnd, h.request()), new Relay.Side(upChannel, upEnd, up), "forward",
                    h.context());
        }
    }

    private SocketChannel connect() throws IOException {
        if (upstream.kind() == ListenAddress.Kind.UNIX) {
            return SocketChannel.open(upstream.address());
        }
        var address = (InetSocketAddress) upstream.address();
        SocketChannel channel = SocketChannel.open(address.getAddress() instanceof Inet6Address
                ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET);
        try {
            channel.socket().connect(address, (int) CONNECT_TIMEOUT.toMillis());
            channel.socket().setTcpNoDelay(true);
            return channel;
        } catch (IOException e) {
            channel.close();
            throw e;
        }
    }

    private SSLEngine engine(SSLContext context) {
        var address = (InetSocketAddress) upstream.address();
        SSLEngine engine = context.createSSLEngine(address.getHostString(), address.getPort());
        engine.setUseClientMode(true);
        SSLParameters parameters = engine.getSSLParameters();
        parameters.setEndpointIdentificationAlgorithm("HTTPS"); // the certificate must name the host
        parameters.setProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
        engine.setSSLParameters(parameters);
        return engine;
    }

    /** "PROXY TCP4 SRC DST SPORT DPORT\r\n", or "PROXY UNKNOWN\r\n" when the client is not on IP. */
    static byte[] v1(SocketAddress source, SocketAddress destination) {
        if (source instanceof InetSocketAddress s && destination instanceof InetSocketAddress d
                && (s.getAddress() instanceof Inet6Address) == (d.getAddress() instanceof Inet6Address)) {
            String family = s.getAddress() instanceof Inet6Address ? "TCP6" : "TCP4";
            return ("PROXY " + family + " " + s.getAddress().getHostAddress().replaceAll("%.*", "") + " "
                    + d.getAddress().getHostAddress().replaceAll("%.*", "") + " " + s.getPort() + " " + d.getPort()
                    + "\r\n").getBytes(StandardCharsets.US_ASCII);
        }
        return "PROXY UNKNOWN\r\n".getBytes(StandardCharsets.US_ASCII);
    }

    private static final byte[] V2_SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

    /** A v2 PROXY header over TCP for IP clients, or LOCAL when the client is not on IP. */
    static byte[] v2(SocketAddress source, SocketAddress destination) {
        if (source instanceof InetSocketAddress s && destination instanceof InetSocketAddress d
                && (s.getAddress() instanceof Inet6Address) == (d.getAddress() instanceof Inet6Address)) {
            boolean six = s.getAddress() instanceof Inet6Address;
            int length = six ? 36 : 12;
            return ByteBuffer.allocate(16 + length).put(V2_SIGNATURE).put((byte) 0x21).put((byte) (six ? 0x21 : 0x11))
                    .putShort((short) length).put(s.getAddress().getAddress()).put(d.getAddress().getAddress())
                    .putShort((short) s.getPort()).putShort((short) d.getPort()).array();
        }
        return ByteBuffer.allocate(16).put(V2_SIGNATURE).put((byte) 0x20).put((byte) 0).putShort((short) 0).array();
    }
}
