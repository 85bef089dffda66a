package dev.sockserve.cli;

import dev.sockserve.BaseServer;
import dev.sockserve.RequestContext;
import dev.sockserve.RequestEnd;
import java.net.SocketTimeoutException;
import dev.sockserve.RequestObserver;
import dev.sockserve.ServerOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import dev.sockserve.internal.Identity;
import java.util.List;
import java.util.Optional;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * The running side of {@link OpsOptions}: what each listener gets (rates, banner, refusal counts), and
 * what starts once every listener is bound (the metrics endpoint). {@link Serving} calls it at those two
 * points and closes it last.
 */
final class Operations implements AutoCloseable {

    private final OpsOptions flags;
    private final EventLog log;
    private final Map<BaseServer<?>, Refusals> refusals = new ConcurrentHashMap<>();
    private MetricsEndpoint endpoint;
    private final Optional<int[]> identity; // --user/--group: {uid or -1, gid}

    /** --user and --group as numbers, looked up before anything is bound, so a wrong name is exit 2 at once. */
    private static Optional<int[]> identity(OpsOptions flags) {
        if (flags.user == null && flags.group == null) {
            return Optional.empty();
        }
        int uid = -1;
        int gid = -1;
        if (flags.user != null) {
            Identity.User u = Identity.user(flags.user)
                    .orElseThrow(() -> new IllegalArgumentException("--user " + flags.user + ": no such user"));
            uid = u.uid();
            gid = u.gid();
        }
        if (flags.group != null) {
            gid = Identity.group(flags.group)
                    .orElseThrow(() -> new IllegalArgumentException("--group " + flags.group + ": no such group"));
        }
        return Optional.of(new int[] {uid, gid});
    }

    Operations(OpsOptions flags, EventLog log) {
        this.flags = flags;
        this.log = log;
        this.identity = identity(flags);
        if (flags.maxRate != null && flags.maxRate.message().isPresent()) {
            throw new IllegalArgumentException("--max-rate takes N/s[:BURST]: its clients wait, nobody is told anything");
        }
    }

    /** One listener's options with these flags: the accept rate, the per-address gate, the banner, the counts. */
    ServerOptions listener(ServerOptions options, ListenAddress listen, Refusals counts) {
        ServerOptions o = options.observer(counts).observer(new CutLog(log, listen.kind()));
        if (flags.metrics != null) {
            o = o.registerMBean(true);
        }
        if (flags.maxRate != null) {
            o = o.acceptRate(flags.maxRate.perSecond(), flags.maxRate.burst());
        }
        if (flags.rate != null) {
            o = o.gate(new OpsOptions.AddressRate(flags.rate));
        }
        if (flags.banner != null && listen.kind().stream()) {
            o = o.observer(new OpsOptions.Banner(OpsOptions.Escapes.unescape(flags.banner)));
        }
        return o;
    }

    /** Every listener is bound, none accepts yet: the metrics endpoint starts, then --user/--group apply. */
    void bound(List<BaseServer<?>> servers, List<String> names, List<Refusals> counts) {
        startMetrics(servers, names, counts);
        identity.ifPresent(ids -> {
            int uid = ids[0] >= 0 ? ids[0] : (int) currentId("Uid");
            try {
                Identity.become(uid, ids[1]);
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot run as " + (flags.user != null ? "user " + flags.user : "")
                        + (flags.group != null ? " group " + flags.group : "") + ": " + e.getMessage(), e);
            }
            log.info("running as uid " + uid + " gid " + ids[1]);
        });
    }

    /** The process's real uid (or gid), from /proc/self/status. */
    private static long currentId(String which) {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith(which + ":")) {
                    return Long.parseLong(line.split("\\s+")[1]);
                }
            }
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("cannot read this process's " + which + ": " + e.getMessage(), e);
        }
        throw new IllegalStateException("no " + which + " line in /proc/self/status");
    }

    private void startMetrics(List<BaseServer<?>> servers, List<String> names, List<Refusals> counts) {
        if (flags.metrics == null) {
            return;
        }
        if (flags.metrics.kind() != ListenAddress.Kind.TCP) {
            throw new IllegalArgumentException("--metrics takes tcp://HOST:PORT, was " + flags.metrics);
        }
        try {
            endpoint = new MetricsEndpoint(flags.metrics, servers, names, counts);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve --metrics on " + flags.metrics + ": " + e.getMessage(), e);
        }
        log.info("metrics at http://" + endpoint.address() + "/metrics");
    }

    /** The metrics endpoint's address as bound ({@code 127.0.0.1:9100}); empty without --metrics. */
    java.util.Optional<String> metricsAddress() {
        return java.util.Optional.ofNullable(endpoint).map(MetricsEndpoint::address);
    }

    @Override
    public void close() {
        if (endpoint != null) {
            endpoint.close();
            endpoint = null;
        }
    }

    /**
     * Logs every connection the server ended rather than its client or handler: {@code grace} (cut when
     * the grace period ran out), {@code read-timeout}, {@code write-timeout}. The id is the one of the
     * request's ok line when it has one.
     */
    record CutLog(EventLog log, ListenAddress.Kind kind) implements RequestObserver {
        @Override
        public void ended(RequestContext request, RequestEnd end) {
            String reason = switch (end.reason()) {
                case CUT -> "grace";
                case FAILED -> end.error().filter(e -> e instanceof SocketTimeoutException)
                        .map(e -> String.valueOf(e.getMessage()).startsWith("write") ? "write-timeout" : "read-timeout")
                        .orElse(null);
                default -> null;
            };
            if (reason != null) {
                long id = request.attribute(Gatekeeper.ADMITTED).map(a -> a.serial).orElse(request.id());
                log.cut(id, reason, ListenAddress.describe(kind, request.server().serverAddress()));
            }
        }
    }

    /** A listener's refusals by kind: rules, per-client-limit, rate, loop-guard, tls, proxy, verify, other. */
    static final class Refusals implements RequestObserver {
        final Map<String, LongAdder> byReason = new ConcurrentHashMap<>();

        @Override
        public void refused(RequestContext request, String reason) {
            byReason.computeIfAbsent(kind(reason), k -> new LongAdder()).increment();
        }

        static String kind(String reason) {
            if (reason.equals("rules")) {
                return "rules";
            }
            for (String prefix : List.of("per-client", "rate", "loop guard", "tls", "proxy", "verifyRequest")) {
                if (reason.startsWith(prefix)) {
                    return switch (prefix) {
                        case "per-client" -> "per-client-limit";
                        case "loop guard" -> "loop-guard";
                        case "verifyRequest" -> "verify";
                        default -> prefix;
                    };
                }
            }
            return "other";
        }
    }
}
