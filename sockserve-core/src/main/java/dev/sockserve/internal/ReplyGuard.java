package dev.sockserve.internal;

import dev.sockserve.DatagramEndpoint;
import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * The socket a datagram server's handlers reply on, with two guards against reflection loops: it never
 * sends to the server's own address (a datagram whose source was forged to be the server itself would
 * otherwise echo for ever), and it keeps a reply budget per target address, a token bucket of
 * {@code perSecond} replies a second holding one second's worth, so that two servers answering each other
 * stop at the first reply over the budget. A refused reply is dropped as UDP may drop it: {@code send}
 * returns 0. Each is counted; the first for a target (until its bucket is full again) is logged, at most
 * one line a second.
 *
 * <p>The buckets are a fixed table of slots chosen by a seeded hash of the address, so memory is bounded
 * whatever the number of sources; two addresses that share a slot share its budget.
 */
public final class ReplyGuard implements DatagramEndpoint {

    // a power of two; 4096 slots (36 KiB) keep sharing rare among the sources active in any one second
    private static final int SLOTS = 4096;
    private static final long SECOND = 1_000_000_000L;

    private final DatagramTransport transport;
    private final Supplier<String> where;
    private final Function<SocketAddress, String> describe;
    private final LogLimiter ownAddressLog;
    private final LogLimiter budgetLog;
    private final int seed = ThreadLocalRandom.current().nextInt();
    private final long epoch = System.nanoTime();
    private final AtomicLong suppressed = new AtomicLong();
    private volatile SocketAddress own;
    private volatile int perSecond;

    // guarded by this: per slot, the time (nanos since epoch) at which its bucket is full again (GCRA's
    // theoretical arrival time), and whether its refusals were logged since it was last full
    private final long[] fullAt = new long[SLOTS];
    private final boolean[] logged = new boolean[SLOTS];

    /**
     * @param where the server, for messages ({@code udp 127.0.0.1:7007})
     * @param describe an address as messages show it (escaped: a client chooses it)
     * @param perSecond the budget per target address; 0 for none
     */
    public ReplyGuard(DatagramTransport transport, Logger logger, Supplier<String> where,
            Function<SocketAddress, String> describe, int perSecond) {
        this.transport = transport;
        this.where = where;
        this.describe = describe;
        this.ownAddressLog = new LogLimiter(logger, Duration.ofSeconds(1));
        this.budgetLog = new LogLimiter(logger, Duration.ofSeconds(1));
        budget(perSecond);
    }

    /**
     * The address the socket was bound to: replies to it (or, for a wildcard, to any address of this host
     * with its port) are refused.
     */
    public void bound(SocketAddress address) {
        this.own = address;
    }

    public int budget() {
        return perSecond;
    }

    public void budget(int repliesPerSecond) {
        if (repliesPerSecond < 0) {
            throw new IllegalArgumentException("the reply budget must be 0 (none) or more, was " + repliesPerSecond);
        }
        this.perSecond = repliesPerSecond;
    }

    /** Replies refused: to the server's own address, or over the budget. */
    public long suppressed() {
        return suppressed.get();
    }

    @Override
    public int send(ByteBuffer data, SocketAddress target) throws IOException {
        // logged before counted, so that whoever sees the count finds the line
        if (isOwn(target)) {
            ownAddressLog.log(Level.WARNING, () -> "not replying to " + describe.apply(target) + " on " + where.get()
                    + ": it is this server's own address (a forged or looped datagram)");
            suppressed.incrementAndGet();
            return 0;
        }
        int budget = perSecond;
        // an unbound Unix client has no address to reply to: the transport says so
        boolean unnamed = target instanceof UnixDomainSocketAddress u && u.getPath().toString().isEmpty();
        if (budget > 0 && !unnamed) {
            Boolean firstRefusal = spend(target, budget);
            if (firstRefusal != null) {
                if (firstRefusal) {
                    budgetLog.log(Level.WARNING, () -> "replies to " + describe.apply(target) + " on " + where.get()
                            + " exceed the budget of " + budget + " a second (another server answering this one?);"
                            + " dropping them until it slows down");
                }
                suppressed.incrementAndGet();
                return 0;
            }
        }
        return transport.send(data, target);
    }

    @Override
    public SocketAddress localAddress() {
        return transport.localAddress();
    }

    /** Takes one token for {@code target}: null when there was one, else whether this is the first refusal. */
    private synchronized Boolean spend(SocketAddress target, int budget) {
        int slot = slot(target);
        long now = System.nanoTime() - epoch;
        long interval = SECOND / budget;
        long full = fullAt[slot];
        if (full - now > SECOND - interval) {
            boolean first = !logged[slot];
            logged[slot] = true;
            return first;
        }
        if (full <= now) {
            logged[slot] = false; // the source had slowed down: a later episode is logged again
            full = now;
        }
        fullAt[slot] = full + interval;
        return null;
    }

    private int slot(SocketAddress target) {
        int h = seed;
        if (target instanceof InetSocketAddress inet && inet.getAddress() instanceof Inet4Address v4) {
            h = mix(mix(h ^ v4.hashCode()) ^ inet.getPort()); // an IPv4 address's hash is the address
        } else if (target instanceof InetSocketAddress inet && inet.getAddress() != null) {
            byte[] a = inet.getAddress().getAddress();
            for (int i = 0; i < a.length; i += 4) {
                int word = (a[i] & 0xff) << 24 | (a[i + 1] & 0xff) << 16 | (a[i + 2] & 0xff) << 8 | (a[i + 3] & 0xff);
                h = mix(h ^ word);
            }
            h = mix(h ^ inet.getPort());
        } else {
            h = mix(h ^ target.hashCode());
        }
        return h & (SLOTS - 1);
    }

    private static int mix(int h) { // MurmurHash3's finaliser
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        h *= 0xc2b2ae35;
        return h ^ (h >>> 16);
    }

    private boolean isOwn(SocketAddress target) {
        SocketAddress self = own;
        if (target instanceof UnixDomainSocketAddress t) {
            if (!(self instanceof UnixDomainSocketAddress s) || t.getPath().toString().isEmpty()) {
                return false;
            }
            Path mine = s.getPath();
            Path theirs = t.getPath();
            // the same file under another spelling (relative, with dots) ends with the same name
            return theirs.equals(mine) || theirs.toString().endsWith(String.valueOf(mine.getFileName()))
                    && theirs.toAbsolutePath().normalize().equals(mine.toAbsolutePath().normalize());
        }
        if (!(target instanceof InetSocketAddress t) || !(self instanceof InetSocketAddress s)
                || t.getPort() != s.getPort() || t.getAddress() == null || s.getAddress() == null) {
            return false;
        }
        InetAddress a = t.getAddress();
        // a datagram sent to the wildcard address reaches this host, so this socket too
        if (a.isAnyLocalAddress() || a.equals(s.getAddress())) {
            return true;
        }
        return s.getAddress().isAnyLocalAddress() && LocalAddresses.isLocal(a);
    }

    /** This host's addresses, read again at most every five seconds, since interfaces come and go. */
    static final class LocalAddresses {
        private static final long REFRESH_NANOS = Duration.ofSeconds(5).toNanos();
        private static volatile Set<InetAddress> addresses;
        private static volatile long readAt;

        static boolean isLocal(InetAddress address) {
            if (address.isLoopbackAddress()) {
                return true;
            }
            Set<InetAddress> known = addresses;
            if (known == null || System.nanoTime() - readAt > REFRESH_NANOS) {
                known = read();
            }
            return known.contains(address);
        }

        private static Set<InetAddress> read() {
            Set<InetAddress> read;
            try {
                read = NetworkInterface.networkInterfaces().flatMap(NetworkInterface::inetAddresses)
                        .collect(Collectors.toUnmodifiableSet());
            } catch (SocketException e) {
                read = addresses != null ? addresses : Set.of();
            }
            addresses = read;
            readAt = System.nanoTime();
            return read;
        }
    }
}
