package dev.sockserve;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;

/** Addresses as messages and thread names show them: {@code 127.0.0.1:7007}, {@code [::1]:7007}, a path. */
final class Addresses {

    private Addresses() {
    }

    /** A form that {@link #decode} reads back: {@code inet:HOST:PORT} or {@code unix:PATH}. */
    static String encode(SocketAddress address) {
        if (address instanceof InetSocketAddress inet) {
            return "inet:" + inet.getAddress().getHostAddress() + ":" + inet.getPort();
        }
        if (address instanceof UnixDomainSocketAddress unix) {
            return "unix:" + unix.getPath();
        }
        throw new IllegalArgumentException("unsupported address " + address);
    }

    static SocketAddress decode(String text) {
        if (text.startsWith("unix:")) {
            return UnixDomainSocketAddress.of(text.substring(5));
        }
        if (text.startsWith("inet:")) {
            int colon = text.lastIndexOf(':');
            return new InetSocketAddress(text.substring(5, colon), Integer.parseInt(text.substring(colon + 1)));
        }
        throw new IllegalArgumentException("not an encoded address: " + text);
    }

    static String describe(SocketAddress address) {
        if (address instanceof InetSocketAddress inet) {
            String host = inet.getAddress() != null ? inet.getAddress().getHostAddress() : inet.getHostString();
            int zone = host.indexOf('%');
            if (zone >= 0 && inet.getAddress() != null && inet.getAddress().isLoopbackAddress()) {
                host = host.substring(0, zone);
            }
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + inet.getPort();
        }
        if (address instanceof UnixDomainSocketAddress unix) {
            String path = unix.getPath().toString();
            return path.isEmpty() ? "(unnamed)" : path;
        }
        return String.valueOf(address);
    }
}
