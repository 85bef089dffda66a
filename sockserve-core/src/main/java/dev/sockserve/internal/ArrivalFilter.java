package dev.sockserve.internal;

import java.io.IOException;
import java.nio.channels.SelectableChannel;
import java.util.List;

/**
 * The socket filters a drain attaches so that new clients stop reaching a socket at once while what the
 * kernel already queued stays to be taken. Closing a listening socket instead resets the connections in
 * its accept queue, which a load balancer does not retry.
 */
public final class ArrivalFilter {

    // classic BPF: ldb [13] (the TCP flags); jset #SYN -> ret 0 (drop), else ret -1 (keep it whole)
    private static final List<Posix.Bpf> DROP_SYN = List.of(new Posix.Bpf(0x30, 0, 0, 13),
            new Posix.Bpf(0x45, 0, 1, 0x02), new Posix.Bpf(0x06, 0, 0, 0), new Posix.Bpf(0x06, 0, 0, -1));
    private static final List<Posix.Bpf> DROP_ALL = List.of(new Posix.Bpf(0x06, 0, 0, 0));

    private ArrivalFilter() {
    }

    /**
     * A listening TCP socket: drops every SYN, so no new connection starts, while the handshakes already
     * under way complete (their ACKs pass) and join the queue. A dropped SYN is retried by the client's
     * kernel after about a second, by when the drained socket is closed (refused) or, in a
     * {@code SO_REUSEPORT} group, another socket takes it.
     */
    public static void dropNewConnections(SelectableChannel listening) throws IOException {
        Posix.attachFilter(SocketFd.of(listening), DROP_SYN);
    }

    /** A UDP socket: drops every new datagram; those already in its receive buffer stay to be read. */
    public static void dropNewDatagrams(SelectableChannel socket) throws IOException {
        Posix.attachFilter(SocketFd.of(socket), DROP_ALL);
    }
}
