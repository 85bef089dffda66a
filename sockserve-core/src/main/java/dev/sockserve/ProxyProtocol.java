package dev.sockserve;

import dev.sockserve.internal.Addresses;
import dev.sockserve.internal.Cidr;
import dev.sockserve.internal.ProxyHeaderParser;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Receiving the PROXY protocol (v1 text or v2 binary, told apart by their first bytes) from a load
 * balancer such as HAProxy, given through {@link ServerOptions#proxyProtocol(ProxyProtocol)}. The header
 * is read as the first {@link ConnectionStep}, on the request's own thread, within {@link #timeout()}
 * (default 5 s), and only from trusted source networks. After it, {@code clientAddress()} and the local
 * address are the ones the header carries; {@link RequestContext#peerAddress()} stays the proxy's. A v2
 * {@code LOCAL} header or a v1 {@code PROXY UNKNOWN} line (a health check) is served with the proxy's own
 * addresses, as the specification says.
 *
 * <p>A connection from an untrusted address, a malformed or oversized header, or a header not complete
 * by the timeout is closed as soon as that is known and logged with the reason (untrusted proxy, bad
 * header, header timeout); it never reaches {@code verifyRequest} or a handler.
 *
 * {@snippet :
 * var options = ServerOptions.defaults().proxyProtocol(ProxyProtocol.trusting("10.0.0.0/8", "127.0.0.1"));
 * }
 */
public final class ProxyProtocol {

    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);

    private static final RequestContext.Key<ProxyHeader> HEADER = new RequestContext.Key<>("sockserve.proxy.header");

    private final List<Cidr> trusted;
    private final Duration timeout;

    private ProxyProtocol(List<Cidr> trusted, Duration timeout) {
        this.trusted = trusted;
        this.timeout = timeout;
    }

    /**
     * Accepts headers only from these networks ({@code 10.0.0.0/8}, {@code 127.0.0.1}, {@code ::1/128},
     * {@code [2001:db8::]/32}); at least one is required.
     *
     * @throws IllegalArgumentException naming a network that cannot be read, or when none is given
     */
    public static ProxyProtocol trusting(String... networks) {
        if (networks.length == 0) {
            throw new IllegalArgumentException("the PROXY protocol needs the trusted proxies' networks");
        }
        return new ProxyProtocol(java.util.Arrays.stream(networks).map(Cidr::parse).toList(), DEFAULT_TIMEOUT);
    }

    public ProxyProtocol timeout(Duration value) {
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException("the PROXY header timeout must be positive, was " + value);
        }
        return new ProxyProtocol(trusted, value);
    }

    public Duration timeout() {
        return timeout;
    }

    /** The header a request came with; empty when the server does not expect one. */
    public static Optional<ProxyHeader> header(RequestContext request) {
        return request.attribute(HEADER);
    }

    ConnectionStep step() {
        // an untrusted peer or a bad header is a misconfigured proxy or an attack: logged without -v
        return ConnectionStep.of("proxy", timeout, System.Logger.Level.WARNING, this::readHeader);
    }

    private void readHeader(RequestContext request) throws IOException {
        if (trusted.stream().noneMatch(network -> network.contains(request.peerAddress()))) {
            throw new RequestRefusedException("untrusted proxy " + Addresses.describe(request.peerAddress()));
        }
        SocketChannel connection = request.connection().orElseThrow();
        connection.configureBlocking(true);
        ProxyHeader header;
        try {
            header = ProxyHeaderParser.parse((into, offset, n) -> {
                ByteBuffer buffer = ByteBuffer.wrap(into, offset, n);
                while (buffer.hasRemaining()) {
                    if (connection.read(buffer) < 0) {
                        throw new EOFException("the connection ended inside the header");
                    }
                }
            });
        } catch (ProxyHeaderParser.Malformed e) {
            throw new RequestRefusedException("bad header: " + e.getMessage());
        } catch (EOFException e) {
            throw new RequestRefusedException("bad header: " + e.getMessage());
        }
        request.attribute(HEADER, header);
        if (header.proxied()) {
            request.replaceAddresses(header.source().orElseThrow(), header.destination().orElseThrow());
        }
    }

    @Override
    public String toString() {
        return "ProxyProtocol[trusting " + trusted + ", timeout " + dev.sockserve.internal.Durations.format(timeout) + "]";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ProxyProtocol p && p.trusted.equals(trusted) && p.timeout.equals(timeout);
    }

    @Override
    public int hashCode() {
        return Objects.hash(trusted, timeout);
    }
}
