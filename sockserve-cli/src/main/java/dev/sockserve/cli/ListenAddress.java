package dev.sockserve.cli;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * A {@code --listen} value: {@code tcp://HOST:PORT}, {@code tls://HOST:PORT} (TCP with TLS),
 * {@code udp://HOST:PORT} (IPv6 hosts in brackets), {@code unix:PATH} or {@code unix-dgram:PATH}.
 */
record ListenAddress(Kind kind, SocketAddress address) {

    enum Kind {
        TCP("tcp://"), TLS("tls://"), UDP("udp://"), UNIX("unix:"), UNIX_DGRAM("unix-dgram:");

        final String prefix;

        Kind(String prefix) {
            this.prefix = prefix;
        }

        /** Whether connections (rather than datagrams) come in: TCP, TLS or a Unix stream. */
        boolean stream() {
            return this == TCP || this == TLS || this == UNIX;
        }
    }

    static final String FORMS = "tcp://HOST:PORT, tls://HOST:PORT, udp://HOST:PORT, unix:PATH or unix-dgram:PATH";

    static ListenAddress tcp(String host, int port) {
        return new ListenAddress(Kind.TCP, new InetSocketAddress(host, port));
    }

    /** Turns a host name into an address; the fuzzer gives one that never asks DNS. */
    @FunctionalInterface
    interface Resolver {
        InetAddress resolve(String host) throws UnknownHostException;
    }

    /** The kernel's limit on a Unix socket path: 108 bytes with the terminating NUL. */
    static final int MAX_UNIX_PATH_BYTES = 107;

    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
    private static final Pattern HOST_NAME = Pattern.compile(
            "(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\\.?");
    private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?");
    private static final Pattern PORT = Pattern.compile("\\d{1,5}");

    /** Parses a {@code --listen} value; the {@link IllegalArgumentException}'s message says what is wrong with it. */
    static ListenAddress parse(String text) {
        return parse(text, InetAddress::getByName);
    }

    static ListenAddress parse(String text, Resolver resolver) {
        for (Kind kind : new Kind[] {Kind.TCP, Kind.TLS, Kind.UDP, Kind.UNIX_DGRAM, Kind.UNIX}) {
            if (text.startsWith(kind.prefix)) {
                String rest = text.substring(kind.prefix.length());
                if (kind == Kind.UNIX || kind == Kind.UNIX_DGRAM) {
                    return new ListenAddress(kind, unix(text, rest));
                }
                return new ListenAddress(kind, inet(text, rest, resolver));
            }
        }
        throw new IllegalArgumentException("'" + Formats.escape(text) + "' is not an address to listen on; use " + FORMS);
    }

    private static UnixDomainSocketAddress unix(String text, String path) {
        if (path.isEmpty()) {
            throw new IllegalArgumentException("'" + Formats.escape(text) + "' has no socket path");
        }
        if (path.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("'" + Formats.escape(text) + "': a socket path cannot hold a NUL character");
        }
        int bytes = path.getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_UNIX_PATH_BYTES) {
            throw new IllegalArgumentException("'" + Formats.escape(text) + "': the socket path is " + bytes
                    + " bytes, more than the kernel's " + MAX_UNIX_PATH_BYTES);
        }
        try {
            return UnixDomainSocketAddress.of(Path.of(path));
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException("'" + Formats.escape(text) + "': " + e.getReason());
        }
    }

    private static InetSocketAddress inet(String text, String hostPort, Resolver resolver) {
        String shown = Formats.escape(text);
        String host;
        String port;
        boolean bracketed = hostPort.startsWith("[");
        if (bracketed) {
            int close = hostPort.indexOf(']');
            if (close < 0 || close + 1 >= hostPort.length() || hostPort.charAt(close + 1) != ':') {
                throw new IllegalArgumentException("'" + shown + "': write an IPv6 host in brackets, then the port, as in "
                        + "tcp://[::1]:7007");
            }
            host = hostPort.substring(1, close);
            port = hostPort.substring(close + 2);
        } else {
            int colon = hostPort.lastIndexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException("'" + shown + "' has no port; write HOST:PORT, as in tcp://127.0.0.1:7007");
            }
            host = hostPort.substring(0, colon);
            port = hostPort.substring(colon + 1);
            if (host.contains(":")) {
                throw new IllegalArgumentException("'" + shown + "': write an IPv6 host in brackets, as in tcp://[::1]:7007");
            }
        }
        if (host.isEmpty()) {
            throw new IllegalArgumentException("'" + shown + "' has no host; use 127.0.0.1, [::1], 0.0.0.0 or a name");
        }
        if (!PORT.matcher(port).matches()) {
            throw new IllegalArgumentException("'" + shown + "': port '" + Formats.escape(port) + "' is not a number");
        }
        int number = Integer.parseInt(port);
        if (number > 65535) {
            throw new IllegalArgumentException("'" + shown + "': port " + number + " is not in 0..65535");
        }
        return new InetSocketAddress(host(shown, host, bracketed, resolver), number);
    }

    /** An IP literal, read strictly (no {@code 1.2} for 1.0.0.2), or a host name looked up once. */
    private static InetAddress host(String shown, String host, boolean bracketed, Resolver resolver) {
        String problem;
        if (bracketed) {
            problem = IPV6.matcher(host).matches() && host.contains(":") ? null : "is not an IPv6 address";
        } else if (IPV4.matcher(host).matches()) {
            problem = null;
            for (String part : host.split("\\.")) {
                if (Integer.parseInt(part) > 255) {
                    problem = "is not an IPv4 address";
                }
            }
        } else if (host.chars().allMatch(c -> c == '.' || c >= '0' && c <= '9')) {
            problem = "is not an IPv4 address; write all four numbers, as in 127.0.0.1";
        } else {
            problem = HOST_NAME.matcher(host).matches() ? null : "is neither an IP address nor a host name";
        }
        if (problem != null) {
            throw new IllegalArgumentException("'" + shown + "': host '" + Formats.escape(host) + "' " + problem);
        }
        if (!bracketed && IPV4.matcher(host).matches()) {
            return InetAddress.ofLiteral(host);
        }
        try {
            return resolver.resolve(host);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("'" + shown + "': unknown host '" + host + "'");
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
