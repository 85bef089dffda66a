package dev.sockserve;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;

/** Addresses as messages and thread names show them: {@code 127.0.0.1:7007}, {@code [::1]:7007}, a path. */
final class Addresses {

    private Addresses() {
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
