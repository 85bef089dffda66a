package dev.sockserve.cli;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;

/**
 * A {@code --listen} value: {@code tcp://HOST:PORT}, {@code udp://HOST:PORT} (IPv6 hosts in brackets),
 * {@code unix:PATH} or {@code unix-dgram:PATH}.
 */
record ListenAddress(Kind kind, SocketAddress address) {

    enum Kind {
        TCP("tcp://"), UDP("udp://"), UNIX("unix:"), UNIX_DGRAM("unix-dgram:");

        final String prefix;

        Kind(String prefix) {
            this.prefix = prefix;
        }
    }

    static final String FORMS = "tcp://HOST:PORT, udp://HOST:PORT, unix:PATH or unix-dgram:PATH";

    static ListenAddress tcp(String host, int port) {
        return new ListenAddress(Kind.TCP, new InetSocketAddress(host, port));
    }

    /** Parses a {@code --listen} value; the exception's message says what is wrong with it. */
    static ListenAddress parse(String text) {
        for (Kind kind : new Kind[] {Kind.TCP, Kind.UDP, Kind.UNIX_DGRAM, Kind.UNIX}) {
            if (text.startsWith(kind.prefix)) {
                String rest = text.substring(kind.prefix.length());
                if (kind == Kind.UNIX || kind == Kind.UNIX_DGRAM) {
                    if (rest.isEmpty()) {
                        throw new IllegalArgumentException("'" + text + "' has no socket path");
                    }
                    return new ListenAddress(kind, UnixDomainSocketAddress.of(Path.of(rest)));
                }
                return new ListenAddress(kind, inet(text, rest));
            }
        }
        throw new IllegalArgumentException("'" + text + "' is not an address to listen on; use " + FORMS);
    }

    private static InetSocketAddress inet(String text, String hostPort) {
        String host;
        String port;
        if (hostPort.startsWith("[")) {
            int close = hostPort.indexOf(']');
            if (close < 0 || close + 1 >= hostPort.length() || hostPort.charAt(close + 1) != ':') {
                throw new IllegalArgumentException("'" + text + "': write an IPv6 host in brackets, then the port, as in "
                        + "tcp://[::1]:7007");
            }
            host = hostPort.substring(1, close);
            port = hostPort.substring(close + 2);
        } else {
            int colon = hostPort.lastIndexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException("'" + text + "' has no port; write HOST:PORT, as in tcp://127.0.0.1:7007");
            }
            host = hostPort.substring(0, colon);
            port = hostPort.substring(colon + 1);
            if (host.contains(":")) {
                throw new IllegalArgumentException("'" + text + "': write an IPv6 host in brackets, as in tcp://[::1]:7007");
            }
        }
        if (host.isEmpty()) {
            throw new IllegalArgumentException("'" + text + "' has no host; use 127.0.0.1, [::1], 0.0.0.0 or a name");
        }
        int number;
        try {
            number = Integer.parseInt(port);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "': port '" + port + "' is not a number");
        }
        if (number < 0 || number > 65535) {
            throw new IllegalArgumentException("'" + text + "': port " + number + " is not in 0..65535");
        }
        try {
            return new InetSocketAddress(InetAddress.getByName(host), number);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("'" + text + "': unknown host '" + host + "'");
        }
    }

    /** The address as a user writes it; with the real port once bound. */
    static String describe(Kind kind, SocketAddress address) {
        if (address instanceof UnixDomainSocketAddress unix) {
            return kind.prefix + unix.getPath();
        }
        return kind.prefix + Peer.of(address).display();
    }

    @Override
    public String toString() {
        return describe(kind, address);
    }
}
