package dev.sockserve.cli;

import dev.sockserve.internal.Addresses;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.util.Optional;

/** One end of a connection or datagram, as logs and the program's environment show it. */
record Peer(SocketAddress address, String hostName) {

    static Peer of(SocketAddress address) {
        return new Peer(address, "");
    }

    /** The IP address as text, without brackets or zone, IPv6 in its short form ({@code ::1}); empty for Unix. */
    Optional<String> ip() {
        if (address instanceof InetSocketAddress inet && inet.getAddress() != null) {
            return Optional.of(Addresses.ip(inet.getAddress()));
        }
        return Optional.empty();
    }

    Optional<Integer> port() {
        return address instanceof InetSocketAddress inet ? Optional.of(inet.getPort()) : Optional.empty();
    }

    /** The socket file's path; empty for an unnamed Unix client or an IP address. */
    Optional<String> path() {
        if (address instanceof UnixDomainSocketAddress unix && !unix.getPath().toString().isEmpty()) {
            return Optional.of(unix.getPath().toString());
        }
        return Optional.empty();
    }

    /** {@code 127.0.0.1:7007}, {@code [::1]:7007}, or a path. */
    String display() {
        if (ip().isPresent()) {
            String ip = ip().get();
            return (ip.contains(":") ? "[" + ip + "]" : ip) + ":" + port().orElseThrow();
        }
        return "unix:" + path().orElse("(unnamed)");
    }

    /** A key for per-client limits: the IP address, or one key for all Unix clients. */
    String clientKey() {
        return ip().orElse("unix");
    }

    /** tcpserver's local form {@code HOST:IP:PORT}. */
    String tcpserverLocal() {
        return ip().isPresent() ? hostName + ":" + ip().get() + ":" + port().orElseThrow() : display();
    }

    /** tcpserver's remote form {@code HOST:IP:INFO:PORT} (host and info are never looked up). */
    String tcpserverRemote() {
        return ip().isPresent() ? ":" + ip().get() + "::" + port().orElseThrow() : display();
    }
}
