package dev.sockserve.cli;

import dev.sockserve.internal.InheritedSockets;
import dev.sockserve.internal.UnixDatagramSocket;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channel;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * systemd socket activation ({@code sd_listen_fds(3)}): when {@code LISTEN_PID} is this process, the
 * {@code LISTEN_FDS} sockets from descriptor 3 on, named by {@code LISTEN_FDNAMES}, are the listeners and
 * nothing else is bound. With {@code --inetd}, the listening socket on descriptor 0 (inetd's {@code wait}).
 * Read once, when first asked.
 */
final class SocketActivation {

    /**
     * An inherited listening socket, as the command names it; {@code channel} is null for a Unix datagram
     * socket, which no JDK channel takes ({@link dev.sockserve.UnixDatagramServer} serves it by {@code fd}).
     */
    record Inherited(int fd, String name, ListenAddress address, Channel channel) {
    }

    static final List<String> VARIABLES = List.of("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES");

    private static List<Inherited> inherited;

    private SocketActivation() {
    }

    /** The sockets systemd passed to this process; empty when it passed none (or passed them to another). */
    static synchronized List<Inherited> inherited() {
        if (inherited == null) {
            inherited = load(System.getenv(), ProcessHandle.current().pid());
        }
        return inherited;
    }

    static List<Inherited> load(Map<String, String> env, long pid) {
        String listenPid = env.get("LISTEN_PID");
        String listenFds = env.get("LISTEN_FDS");
        if (listenPid == null || listenFds == null || !listenPid.strip().equals(String.valueOf(pid))) {
            return List.of(); // not for us: a parent's, passed on by mistake
        }
        int count;
        try {
            count = Integer.parseInt(listenFds.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("LISTEN_FDS is not a number: " + Formats.escape(listenFds));
        }
        String[] names = env.getOrDefault("LISTEN_FDNAMES", "").split(":", -1);
        List<Inherited> sockets = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int fd = 3 + i;
            String name = i < names.length && !names[i].isEmpty() ? names[i] : "unknown";
            sockets.add(wrap(fd, name));
        }
        return List.copyOf(sockets);
    }

    /**
     * {@code --inetd}: the socket on descriptor 0, a stream socket through the JDK's own
     * {@link System#inheritedChannel()}; a datagram socket as socket activation serves one (the JDK's
     * channel would take a UDP socket for IPv6, and has none for a Unix datagram socket).
     */
    static synchronized List<Inherited> inetd() {
        if (inherited == null || inherited.isEmpty()) {
            InheritedSockets.Kind kind = InheritedSockets.kind(0);
            if (kind.type() == 2) { // SOCK_DGRAM
                inherited = List.of(wrap(0, "stdin"));
                return inherited;
            }
            Channel channel;
            try {
                channel = System.inheritedChannel();
            } catch (IOException e) {
                throw new UncheckedIOException("--inetd: cannot use descriptor 0: " + e.getMessage(), e);
            }
            if (channel == null) {
                throw new IllegalArgumentException("--inetd: descriptor 0 is not a socket");
            }
            inherited = List.of(describe(0, "stdin", channel));
        }
        return inherited;
    }

    private static Inherited wrap(int fd, String name) {
        try {
            if (InheritedSockets.kind(fd).unixDatagram()) {
                return new Inherited(fd, name, new ListenAddress(ListenAddress.Kind.UNIX_DGRAM,
                        UnixDatagramSocket.boundAddress(fd)), null);
            }
            return describe(fd, name, InheritedSockets.channel(fd));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve inherited descriptor " + fd + " (" + name + "): "
                    + e.getMessage(), e);
        }
    }

    private static Inherited describe(int fd, String name, Channel channel) {
        try {
            SocketAddress local;
            ListenAddress.Kind kind;
            if (channel instanceof ServerSocketChannel listening) {
                local = listening.getLocalAddress();
                kind = local instanceof UnixDomainSocketAddress ? ListenAddress.Kind.UNIX : ListenAddress.Kind.TCP;
            } else if (channel instanceof DatagramChannel datagram) {
                local = datagram.getLocalAddress();
                kind = ListenAddress.Kind.UDP;
            } else {
                throw new IllegalArgumentException("inherited descriptor " + fd + " (" + name + ") is a connected "
                        + "socket; a listening or datagram socket is needed (systemd: Accept=no; inetd: wait)");
            }
            if (!(local instanceof InetSocketAddress || local instanceof UnixDomainSocketAddress)) {
                throw new IllegalArgumentException("inherited descriptor " + fd + " (" + name + ") is not bound");
            }
            return new Inherited(fd, name, new ListenAddress(kind, local), channel);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the address of inherited descriptor " + fd + ": "
                    + e.getMessage(), e);
        }
    }

    /** {@code --listen fd:NAME}: the inherited socket LISTEN_FDNAMES names NAME. */
    static ListenAddress named(String name) {
        List<Inherited> all = inherited();
        if (all.isEmpty()) {
            throw new IllegalArgumentException("fd:" + name + " needs socket activation: no LISTEN_FDS were "
                    + "passed to this process");
        }
        return all.stream().filter(i -> i.name().equals(name)).findFirst().map(Inherited::address)
                .orElseThrow(() -> new IllegalArgumentException("no inherited socket is named " + name
                        + " (LISTEN_FDNAMES: " + String.join(", ", all.stream().map(Inherited::name).toList()) + ")"));
    }

    /**
     * The listeners to serve: without activation {@code given}; with it, every inherited socket when no
     * --listen is given, else those --listen fd:NAME picked (any other address is refused: nothing else is bound).
     */
    static List<ListenAddress> listeners(List<ListenAddress> given, boolean inetd) {
        List<Inherited> all = inetd ? inetd() : inherited();
        if (all.isEmpty()) {
            return given;
        }
        if (given.isEmpty()) {
            return all.stream().map(Inherited::address).toList();
        }
        for (ListenAddress l : given) {
            if (inheritedFor(l).isEmpty()) {
                throw new IllegalArgumentException("with socket activation nothing else is bound: --listen " + l
                        + " is not an inherited socket (use --listen fd:NAME)");
            }
        }
        return given;
    }

    /** The inherited socket serving {@code listen}, if it is one. */
    static Optional<Inherited> inheritedFor(ListenAddress listen) {
        List<Inherited> all = inherited == null ? List.of() : inherited;
        return all.stream().filter(i -> i.address().equals(listen)).findFirst();
    }

    /** The environment for exec's programs: without the activation variables, which are not theirs. */
    static Map<String, String> withoutVariables(Map<String, String> env) {
        Map<String, String> copy = new HashMap<>(env);
        VARIABLES.forEach(copy::remove);
        return copy;
    }
}
