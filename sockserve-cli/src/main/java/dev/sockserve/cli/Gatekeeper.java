package dev.sockserve.cli;

import dev.sockserve.RequestContext;
import dev.sockserve.RequestEnd;
import dev.sockserve.RequestGate;
import dev.sockserve.RequestObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Decides, for one listener, whether a request is served (a {@link RequestGate}), and keeps what the
 * server knows about the requests it admitted until they end (a {@link RequestObserver}): the UDP loop
 * guard, {@code --rules}, the per-client limit {@code -C}, and the {@code -v} log lines. What it knows of
 * an admitted request travels with the request ({@link #ADMITTED}).
 */
final class Gatekeeper implements RequestGate, RequestObserver {

    /** What the gatekeeper attached to a request it admitted. */
    static final RequestContext.Key<Admitted> ADMITTED = new RequestContext.Key<>("sockserve-cli.admitted");

    /** The inetd loop guard: a datagram from one of these ports may be another service's reply. */
    static final Set<Integer> SERVICE_PORTS = Arrays.stream(Service.values())
            .flatMap(s -> Stream.of(s.port, s.defaultPort())).collect(Collectors.toUnmodifiableSet());

    private static final AtomicLong SERIALS = new AtomicLong();

    /** A request admitted and not yet ended. */
    static final class Admitted {
        final Gatekeeper gatekeeper;
        final long serial;
        final Peer local;
        final Peer remote;
        final Map<String, String> settings;
        Admitted(Gatekeeper gatekeeper, long serial, Peer local, Peer remote, Map<String, String> settings) {
            this.gatekeeper = gatekeeper;
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
    private final AtomicInteger active = new AtomicInteger();
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

    /** The admitted request's record, as the handler sees it through its context. */
    static Admitted admitted(RequestContext request) {
        return request.attribute(ADMITTED).orElseThrow(() -> new IllegalStateException(request + " was not admitted"));
    }

    /** Marks a request this gatekeeper refused (and logged), so {@link #refused} does not log it twice. */
    private static final RequestContext.Key<Boolean> DENIED = new RequestContext.Key<>("sockserve-cli.denied");

    /** Whether to serve a request; on a refusal, the reason (already logged as a {@code deny} line). */
    @Override
    public Optional<String> refuse(RequestContext request) {
        Optional<String> refusal = decide(request);
        if (refusal.isPresent()) {
            request.attribute(DENIED, Boolean.TRUE);
        }
        return refusal;
    }

    /** A request refused before the gate (a failed TLS handshake, a bad PROXY header): one deny line with why. */
    @Override
    public void refused(RequestContext request, String reason) {
        if (request.attribute(DENIED).isEmpty()) {
            long serial = SERIALS.incrementAndGet();
            log.deny(serial, new Peer(request.localAddress(), localName), Peer.of(request.clientAddress()), reason);
            if (request.connection().isPresent() && Operations.Refusals.kind(reason).equals("rate")) {
                log.cut(serial, "limit"); // --rate closed a connection it accepted
            }
        }
    }

    private Optional<String> decide(RequestContext request) {
        long serial = SERIALS.incrementAndGet();
        SocketAddress client = request.clientAddress();
        Peer local = new Peer(request.localAddress(), localName);
        Peer remote = Peer.of(client);
        if (loopGuard && client instanceof InetSocketAddress inet && SERVICE_PORTS.contains(inet.getPort())) {
            return deny(serial, local, remote, "loop guard: source port " + inet.getPort() + " is a service port");
        }
        AccessRules.Decision decision = rules.decide(client instanceof InetSocketAddress inet
                ? Optional.ofNullable(inet.getAddress()) : Optional.empty());
        if (!decision.allow()) {
            return deny(serial, local, remote, "rules");
        }
        String key = remote.clientKey();
        if (perClient.isPresent()) {
            AtomicInteger count = perClientCounts.computeIfAbsent(key, k -> new AtomicInteger());
            if (count.incrementAndGet() > perClient.get().max()) {
                releaseClient(key);
                perClient.get().message().ifPresent(message -> tell(request.connection().orElse(null), message));
                Optional<String> refusal = deny(serial, local, remote, "per-client limit " + perClient.get().max());
                if (request.connection().isPresent()) {
                    log.cut(serial, "limit"); // closed after accept
                }
                return refusal;
            }
        }
        request.attribute(ADMITTED, new Admitted(this, serial, local, remote, decision.settings()));
        log.status(active.incrementAndGet(), limit);
        if (logsEachRequest) {
            log.ok(serial, local, remote, tlsDetail(request));
        }
        return Optional.empty();
    }

    /** For TLS connections, " TLSv1.3 TLS_AES_128_GCM_SHA256" after the ok line's addresses; else nothing. */
    static String tlsDetail(RequestContext request) {
        return dev.sockserve.Tls.session(request).map(s -> " " + s.protocol() + " " + s.cipherSuite()).orElse("");
    }

    private Optional<String> deny(long serial, Peer local, Peer remote, String reason) {
        log.deny(serial, local, remote, reason);
        return Optional.of(reason);
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

    /** The request ended: frees its per-client count and logs it, once, for a request it admitted. */
    @Override
    public void ended(RequestContext request, RequestEnd end) {
        Admitted a = request.attribute(ADMITTED).orElse(null);
        if (a == null) {
            return; // refused: never counted
        }
        if (perClient.isPresent()) {
            releaseClient(a.remote.clientKey());
        }
        if (logsEachRequest) {
            log.end(a.serial, 0);
        }
        log.status(active.decrementAndGet(), limit);
    }
}
