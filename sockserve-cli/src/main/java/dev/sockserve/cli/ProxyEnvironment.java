package dev.sockserve.cli;

import dev.sockserve.ProxyHeader;
import dev.sockserve.ProxyProtocol;
import dev.sockserve.RequestContext;
import java.net.InetSocketAddress;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;

/**
 * What {@code exec}'s program learns from a PROXY protocol header beyond the addresses (which become
 * TCPREMOTEIP and the rest): {@code PROXY_SOURCE_IP}, the proxy's own address, and the v2 TLVs a proxy
 * commonly sends. Values are the sender's bytes: control characters are removed, so a value cannot
 * smuggle a newline into a program that logs or echoes it.
 */
final class ProxyEnvironment {

    private ProxyEnvironment() {
    }

    static void add(Map<String, String> env, RequestContext context) {
        Optional<ProxyHeader> found = context == null ? Optional.empty() : ProxyProtocol.header(context);
        if (found.isEmpty()) {
            return;
        }
        ProxyHeader header = found.get();
        if (context.peerAddress() instanceof InetSocketAddress proxy && proxy.getAddress() != null) {
            env.put("PROXY_SOURCE_IP", proxy.getAddress().getHostAddress());
        }
        header.alpn().ifPresent(v -> env.put("PROXY_TLV_ALPN", clean(v)));
        header.authority().ifPresent(v -> env.put("PROXY_TLV_AUTHORITY", clean(v)));
        // a unique ID is up to 128 opaque bytes (HAProxy's are text): text when printable, else hex
        header.uniqueId().ifPresent(v -> env.put("PROXY_TLV_UNIQUE_ID", printable(v) ? new String(v,
                java.nio.charset.StandardCharsets.US_ASCII) : HexFormat.of().formatHex(v)));
        header.sslVersion().ifPresent(v -> env.put("PROXY_TLV_SSL_VERSION", clean(v)));
        header.sslCommonName().ifPresent(v -> env.put("PROXY_TLV_SSL_CN", clean(v)));
    }

    /** The text without control characters (C0, DEL, C1), which an environment value must not carry. */
    static String clean(String value) {
        StringBuilder out = new StringBuilder(value.length());
        value.codePoints().filter(c -> !Character.isISOControl(c)).forEach(out::appendCodePoint);
        return out.toString();
    }

    private static boolean printable(byte[] bytes) {
        for (byte b : bytes) {
            if (b < 0x20 || b > 0x7e) {
                return false;
            }
        }
        return true;
    }
}
