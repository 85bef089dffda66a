package dev.sockserve.internal;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;

/**
 * Addresses as messages, thread names, the command's log and its programs' environment show them:
 * {@code 127.0.0.1:7007}, {@code [::1]:7007} (IPv6 in RFC 5952's short form), a path. The one place that
 * formats an address.
 */
public final class Addresses {

    private Addresses() {
    }

    /** A form that {@link #decode} reads back: {@code inet:HOST:PORT} or {@code unix:PATH}. */
    public static String encode(SocketAddress address) {
        if (address instanceof InetSocketAddress inet) {
            return "inet:" + inet.getAddress().getHostAddress() + ":" + inet.getPort();
        }
        if (address instanceof UnixDomainSocketAddress unix) {
            return "unix:" + unix.getPath();
        }
        throw new IllegalArgumentException("unsupported address " + address);
    }

    public static SocketAddress decode(String text) {
        if (text.startsWith("unix:")) {
            return UnixDomainSocketAddress.of(text.substring(5));
        }
        if (text.startsWith("inet:")) {
            int colon = text.lastIndexOf(':');
            return new InetSocketAddress(text.substring(5, colon), Integer.parseInt(text.substring(colon + 1)));
        }
        throw new IllegalArgumentException("not an encoded address: " + text);
    }

    public static String describe(SocketAddress address) {
        if (address instanceof InetSocketAddress inet) {
            String host = inet.getAddress() != null ? ip(inet.getAddress()) : inet.getHostString();
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + inet.getPort();
        }
        if (address instanceof UnixDomainSocketAddress unix) {
            String path = unix.getPath().toString();
            return path.isEmpty() ? "(unnamed)" : path;
        }
        return String.valueOf(address);
    }

    /** The IP address as text, without brackets or zone; IPv6 in RFC 5952's short form ({@code ::1}). */
    public static String ip(InetAddress address) {
        byte[] bytes = address.getAddress();
        return bytes.length == 16 ? ipv6(bytes) : address.getHostAddress();
    }

    /** RFC 5952: lower-case hex groups, the longest run of two or more zero groups as {@code ::}. */
    static String ipv6(byte[] bytes) {
        int[] groups = new int[8];
        for (int i = 0; i < 8; i++) {
            groups[i] = ((bytes[2 * i] & 0xff) << 8) | (bytes[2 * i + 1] & 0xff);
        }
        int bestStart = -1;
        int bestLength = 1;
        for (int i = 0; i < 8; ) {
            int j = i;
            while (j < 8 && groups[j] == 0) {
                j++;
            }
            if (j - i > bestLength) {
                bestStart = i;
                bestLength = j - i;
            }
            i = j == i ? i + 1 : j;
        }
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                out.append("::");
                i += bestLength - 1;
                continue;
            }
            if (out.length() > 0 && out.charAt(out.length() - 1) != ':') {
                out.append(':');
            }
            out.append(Integer.toHexString(groups[i]));
        }
        return out.toString();
    }
}
