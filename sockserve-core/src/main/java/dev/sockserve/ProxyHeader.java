package dev.sockserve;

import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;

/**
 * A PROXY protocol header as received: its version, whether it carried addresses (a v2 {@code LOCAL}
 * command or a v1 {@code UNKNOWN} line does not: a proxy's health check), the addresses, and for v2 its
 * TLVs. From {@link ProxyProtocol#header(RequestContext)}.
 *
 * @param version 1 (text) or 2 (binary)
 * @param source the client's address, empty for LOCAL or UNKNOWN
 * @param destination the address the client connected to (the proxy's listener), empty for LOCAL or UNKNOWN
 * @param tlvs v2 type-length-values by type (the SSL TLV's sub-TLVs are flattened in, 0x21..0x25)
 */
public record ProxyHeader(int version, Optional<SocketAddress> source, Optional<SocketAddress> destination,
        Map<Integer, byte[]> tlvs) {

    public static final int PP2_TYPE_ALPN = 0x01;
    public static final int PP2_TYPE_AUTHORITY = 0x02;
    public static final int PP2_TYPE_CRC32C = 0x03;
    public static final int PP2_TYPE_NOOP = 0x04;
    public static final int PP2_TYPE_UNIQUE_ID = 0x05;
    public static final int PP2_TYPE_SSL = 0x20;
    public static final int PP2_SUBTYPE_SSL_VERSION = 0x21;
    public static final int PP2_SUBTYPE_SSL_CN = 0x22;
    public static final int PP2_SUBTYPE_SSL_CIPHER = 0x23;
    public static final int PP2_SUBTYPE_SSL_SIG_ALG = 0x24;
    public static final int PP2_SUBTYPE_SSL_KEY_ALG = 0x25;
    public static final int PP2_TYPE_NETNS = 0x30;

    public ProxyHeader {
        tlvs = Map.copyOf(tlvs);
    }

    /** Whether the header carried the client's addresses (not LOCAL or UNKNOWN). */
    public boolean proxied() {
        return source.isPresent();
    }

    public Optional<String> alpn() {
        return text(PP2_TYPE_ALPN);
    }

    public Optional<String> authority() {
        return text(PP2_TYPE_AUTHORITY);
    }

    public Optional<byte[]> uniqueId() {
        return Optional.ofNullable(tlvs.get(PP2_TYPE_UNIQUE_ID)).map(byte[]::clone);
    }

    public Optional<String> sslVersion() {
        return text(PP2_SUBTYPE_SSL_VERSION);
    }

    public Optional<String> sslCommonName() {
        return text(PP2_SUBTYPE_SSL_CN);
    }

    /** A TLV's value as UTF-8 text. */
    public Optional<String> text(int type) {
        return Optional.ofNullable(tlvs.get(type)).map(v -> new String(v, StandardCharsets.UTF_8));
    }
}
