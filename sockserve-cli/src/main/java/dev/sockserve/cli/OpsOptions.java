package dev.sockserve.cli;

import dev.sockserve.RequestContext;
import dev.sockserve.RequestGate;
import dev.sockserve.RequestObserver;
import dev.sockserve.ServerOptions;
import dev.sockserve.internal.TokenBucket;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/**
 * The operator's flags of issue 14 (rates, banner), kept apart from {@link ServeOptions} so that the two
 * grow without touching each other; {@link ServeOptions} mixes them in.
 */
final class OpsOptions {

    @Option(names = "--rate", paramLabel = "N/s[:BURST][:MSG]", converter = RateConverter.class,
            description = "At most N new requests a second from one client address (all Unix-socket clients count "
                    + "as one), BURST at once after a quiet time (default BURST: N, at least 1): a token bucket. Above "
                    + "it a connection is accepted, sent MSG if given (as -C's), closed and logged; a datagram is "
                    + "dropped. Other addresses are served as usual. Default: no limit.")
    Rate rate;

    @Option(names = "--max-rate", paramLabel = "N/s[:BURST]", converter = RateConverter.class,
            description = "At most N new requests a second on each listener, BURST at once (default: N): above it "
                    + "the listener stops accepting until the rate allows one more, and clients wait in the backlog "
                    + "(nobody is refused). Default: no limit.")
    Rate maxRate;

    @Option(names = "-B", paramLabel = "TEXT",
            description = "A banner written to each client of a stream listener before the service or program runs "
                    + "(tcpserver's -B; \\n, \\r and \\t are understood). Default: none.")
    String banner;

    @Option(names = "--metrics", paramLabel = "tcp://HOST:PORT", converter = ServeOptions.ListenConverter.class,
            description = "Serve the listeners' counters in Prometheus' text format at http://HOST:PORT/metrics, and "
                    + "register a JMX MBean per listener. Default: off.")
    ListenAddress metrics;

    @Option(names = "--inetd",
            description = "Serve the listening socket on descriptor 0, as inetd's 'wait' services do; nothing is "
                    + "bound. Default: off.")
    boolean inetd;

    @Option(names = "--user", paramLabel = "NAME|UID",
            description = "Once every listener is bound, run as this user (tcpserver's -u), with its primary group "
                    + "unless --group says otherwise and no supplementary group; exit 2 if the switch fails. Default: "
                    + "stay as started.")
    String user;

    @Option(names = "--group", paramLabel = "NAME|GID",
            description = "Once every listener is bound, run with this group (tcpserver's -g), no supplementary "
                    + "group. Default: --user's primary group, or stay as started.")
    String group;

    /** {@code N/s[:BURST][:MSG]}: a token bucket's rate, its burst, and what a refused client is told. */
    record Rate(double perSecond, int burst, Optional<String> message) {
        @Override
        public String toString() {
            return (perSecond == Math.rint(perSecond) ? String.valueOf((long) perSecond) : String.valueOf(perSecond))
                    + "/s:" + burst;
        }
    }

    /** {@code --rate}: one token bucket per client address; buckets full again are forgotten. */
    static final class AddressRate implements RequestGate {
        private static final int SWEEP_EVERY = 1024;
        private final Rate rate;
        private final Map<String, TokenBucket> buckets = new ConcurrentHashMap<>();
        private final AtomicInteger untilSweep = new AtomicInteger(SWEEP_EVERY);

        AddressRate(Rate rate) {
            this.rate = rate;
        }

        @Override
        public Optional<String> refuse(RequestContext request) {
            String key = Peer.of(request.clientAddress()).clientKey();
            if (untilSweep.decrementAndGet() <= 0) {
                untilSweep.set(SWEEP_EVERY);
                buckets.values().removeIf(TokenBucket::full); // nothing grows with the addresses ever seen
            }
            if (buckets.computeIfAbsent(key, k -> new TokenBucket(rate.perSecond(), rate.burst())).tryTake()) {
                return Optional.empty();
            }
            rate.message().ifPresent(message -> tell(request, message));
            return Optional.of("rate " + rate);
        }

        int addresses() {
            return buckets.size();
        }
    }

    /** {@code -B}: written once the request is let through, before the service or program. */
    record Banner(String text) implements RequestObserver {
        @Override
        public void verified(RequestContext request) {
            tell(request, text);
        }
    }

    /** Writes a short text to a new connection (through TLS when it is wrapped); a gone client is ignored. */
    static void tell(RequestContext request, String text) {
        Optional<ByteChannel> channel = request.channel();
        if (channel.isEmpty()) {
            return; // a datagram
        }
        ByteBuffer bytes = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        try {
            // short and on a fresh connection: it fits the send buffer, so this does not wait
            while (bytes.hasRemaining()) {
                channel.get().write(bytes);
            }
        } catch (IOException clientGone) {
            // nothing to tell
        }
    }

    static final class RateConverter implements ITypeConverter<Rate> {
        private static final Pattern FORM = Pattern.compile("(\\d+(?:\\.\\d+)?)/s(?::(\\d+))?(?::(.*))?", Pattern.DOTALL);

        @Override
        public Rate convert(String value) {
            Matcher m = FORM.matcher(value);
            if (!m.matches()) {
                throw new TypeConversionException("'" + Formats.escape(value) + "': expected N/s, N/s:BURST or "
                        + "N/s:BURST:MESSAGE, for example 10/s or 10/s:20");
            }
            double perSecond = Double.parseDouble(m.group(1));
            if (!(perSecond > 0)) {
                throw new TypeConversionException("'" + Formats.escape(value) + "': N must be more than 0");
            }
            int burst;
            try {
                burst = m.group(2) != null ? Integer.parseInt(m.group(2)) : Math.max(1, (int) Math.ceil(perSecond));
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + Formats.escape(value) + "': BURST is too large");
            }
            if (burst < 1) {
                throw new TypeConversionException("'" + Formats.escape(value) + "': BURST must be at least 1");
            }
            return new Rate(perSecond, burst, Optional.ofNullable(m.group(3)).map(Escapes::unescape));
        }
    }

    /** -C's and -B's escapes: {@code \n}, {@code \r}, {@code \t}; a backslash before anything else keeps it. */
    static final class Escapes {
        private Escapes() {
        }

        static String unescape(String s) {
            StringBuilder out = new StringBuilder();
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c == '\\' && i + 1 < s.length()) {
                    char e = s.charAt(++i);
                    out.append(switch (e) {
                        case 'n' -> '\n';
                        case 'r' -> '\r';
                        case 't' -> '\t';
                        default -> e;
                    });
                } else {
                    out.append(c);
                }
            }
            return out.toString();
        }
    }
}
