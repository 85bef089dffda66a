package dev.sockserve.cli;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Decides, for one listener, whether a request is served ({@code verifyRequest}), and keeps what the
 * server knows about the requests it admitted until they end ({@code shutdownRequest}): the UDP loop
 * guard, {@code --rules}, the per-client limit {@code -C}, and the {@code -v} log lines.
 */
final class Gatekeeper {

    /** The inetd loop guard: a datagram from one of these ports may be another service's reply. */
    static final Set<Integer> SERVICE_PORTS = Set.of(7, 9, 13, 17, 19, 37, 7007, 7009, 7013, 7017, 7019, 7037);

    private static final AtomicLong SERIALS = new AtomicLong();

    /** A request admitted and not yet ended. */
    static final class Admitted {
        final long serial;
        final Peer local;
        final Peer remote;
        final Map<String, String> settings;
        /** Ends the request's work at once (its child, for exec), when the grace period ran out. */
        volatile Runnable forceEnd;

        Admitted(long serial, Peer local, Peer remote, Map<String, String> settings) {
            this.serial = serial;
            this.local = local;
            this.remote = remote;
            this.settings = settings;
        }
    }

    /** {@code -C N[:MSG]}: the most requests in flight from one client address, and what to tell the next. */
    record PerClientLimit(int max, Optional<String> message) {
    }

    private final EventLog log;
    private final AccessRules rules;
    private final Optional<PerClientLimit> perClient;
    private final int limit; // for the status line; 0: none
    private final boolean logsEachRequest; // exec logs pid, ok and end itself, with the child's pid
    private final boolean loopGuard;
    private final String localName;
    private final Map<Object, Admitted> admitted = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> perClientCounts = new ConcurrentHashMap<>();

    Gatekeeper(EventLog log, AccessRules rules, Optional<PerClientLimit> perClient, int limit, boolean logsEachRequest,
            boolean loopGuard, String localName) {
        this.log = log;
        this.rules = rules;
        this.perClient = perClient;
        this.limit = limit;
        this.logsEachRequest = logsEachRequest;
        this.loopGuard = loopGuard;
        this.localName = localName;
    }

    EventLog log() {
        return log;
    }

    /**
     * Whether to serve a request. {@code connection} is the stream connection (to tell a client beyond
     * its limit why it is closed), or null for a datagram.
     */
    boolean admit(Object request, SocketAddress client, SocketAddress localAddress, SocketChannel connection) {
        long serial = SERIALS.incrementAndGet();
        Peer local = new Peer(localAddress, localName);
        Peer remote = Peer.of(client);
        if (loopGuard && client instanceof InetSocketAddress inet && SERVICE_PORTS.contains(inet.getPort())) {
            log.deny(serial, local, remote, "loop guard: source port " + inet.getPort() + " is a service port");
            return false;
        }
        AccessRules.Decision decision = rules.decide(client instanceof InetSocketAddress inet
                ? Optional.ofNullable(inet.getAddress()) : Optional.empty());
        if (!decision.allow()) {
            log.deny(serial, local, remote, "rules");
            return false;
        }
        String key = remote.clientKey();
        if (perClient.isPresent()) {
            AtomicInteger count = perClientCounts.computeIfAbsent(key, k -> new AtomicInteger());
            if (count.incrementAndGet() > perClient.get().max()) {
                releaseClient(key);
                log.deny(serial, local, remote, "per-client limit " + perClient.get().max());
                perClient.get().message().ifPresent(message -> tell(connection, message));
                return false;
            }
        }
        admitted.put(request, new Admitted(serial, local, remote, decision.settings()));
        log.status(admitted.size(), limit);
        if (logsEachRequest) {
            log.ok(serial, local, remote);
        }
        return true;
    }

    private static void tell(SocketChannel connection, String message) {
        if (connection == null) {
            return;
        }
        try {
            // short and on a fresh connection: it fits the send buffer, so this never waits
            connection.write(ByteBuffer.wrap(message.getBytes(StandardCharsets.UTF_8)));
        } catch (IOException clientGone) {
            // nothing to tell
        }
    }

    private void releaseClient(String key) {
        perClientCounts.computeIfPresent(key, (k, count) -> count.decrementAndGet() <= 0 ? null : count);
    }

    Admitted admitted(Object request) {
        return admitted.get(request);
    }

    /** The request ended (called once, from {@code shutdownRequest}). */
    void end(Object request) {
        Admitted a = admitted.remove(request);
        if (a == null) {
            return; // a request that was never admitted
        }
        if (perClient.isPresent()) {
            releaseClient(a.remote.clientKey());
        }
        if (logsEachRequest) {
            log.end(a.serial, 0);
        }
        log.status(admitted.size(), limit);
    }

    /** The server is closing this request under its handler: end the work it started. */
    void forceEnd(Object request) {
        Admitted a = admitted.get(request);
        Runnable force = a == null ? null : a.forceEnd;
        if (force != null) {
            force.run();
        }
    }
}
