package dev.sockserve.cli;

import dev.sockserve.Concurrency;
import dev.sockserve.ServerOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;
import picocli.CommandLine.Option;

/** The options every service and {@code exec} take, since they all run on the same core. */
final class ServeOptions {

    /** The core's defaults are the command's: one source for the numbers, shown in the help by {@link CoreDefaults}. */
    private static final ServerOptions CORE = ServerOptions.defaults();

    /** Exec's default -c, as tcpserver's. */
    static final int EXEC_LIMIT = 40;

    enum ConcurrencyChoice { synchronous, threads, virtual }

    @Option(names = "--listen", paramLabel = "URL", converter = ListenConverter.class,
            description = {"Where to listen: tcp://HOST:PORT, udp://HOST:PORT (IPv6 hosts in brackets), unix:PATH or "
                    + "unix-dgram:PATH. Repeat it to serve several listeners from one process.",
                "Default: tcp://127.0.0.1:<7000 + the service's port>; exec has none."})
    List<ListenAddress> listen = new ArrayList<>();

    @Option(names = "--concurrency", paramLabel = "MODE",
            description = "How requests run: synchronous (one at a time), threads (a platform thread each) or "
                    + "virtual (a virtual thread each). Default: ${DEFAULT-VALUE}.")
    ConcurrencyChoice concurrency = ConcurrencyChoice.virtual;

    @Option(names = "-c", paramLabel = "N",
            description = "At most N requests at once on each listener; at the limit the server stops accepting "
                    + "and the backlog holds new clients. Default: 40 for exec, no limit for the services.")
    Integer limit;

    @Option(names = "-C", paramLabel = "N[:MSG]", converter = PerClientConverter.class,
            description = "At most N requests at once from one client address (all Unix-socket clients count as "
                    + "one); beyond it a connection is accepted, sent MSG if given (\\n, \\r and \\t are understood), "
                    + "closed and logged, and a datagram is dropped and logged. Default: no limit.")
    Gatekeeper.PerClientLimit perClient;

    @Option(names = "--rules", paramLabel = "FILE",
            description = {"Access rules in tcprules' text form, plus CIDR: one per line, ADDRESS:allow or ADDRESS:deny, "
                    + "then ,VAR=value settings for the program; the most specific address wins (exact, then shorter "
                    + "prefixes such as 10.1. or 10.0.0.0/8, then the default ':'). Default: allow everyone."})
    Path rules;

    @Option(names = "-v", description = "Log every connection on standard error, in tcpserver's form "
            + "(status, pid, ok, end, deny). Default: quiet apart from errors.")
    boolean verbose;

    @Option(names = "--log-format", paramLabel = "FORMAT",
            description = "text, or json for one JSON object per line. Default: text.")
    EventLog.Format logFormat = EventLog.Format.TEXT;

    @Option(names = "--grace", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "On SIGTERM or SIGINT, how long running connections may go on before they are ended. "
                    + "Default: ${DEFAULT-VALUE}.")
    Duration grace = CORE.closeGracePeriod();

    @Option(names = "--read-timeout", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Services: close a connection whose client sent nothing for this long. Default: none.")
    Duration readTimeout;

    @Option(names = "--write-timeout", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Services: close a connection on which a write made no progress for this long. "
                    + "Default: ${DEFAULT-VALUE}.")
    Duration writeTimeout = CORE.writeTimeout().orElse(null);

    @Option(names = "--read-spin", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Services: how long a connection about to wait for its client first looks for bytes on the spot, "
                    + "while connections do not outnumber the CPUs (at most 1s; 0 turns it off). Default: ${DEFAULT-VALUE}.")
    Duration readSpin = CORE.readSpin();

    @Option(names = "--backlog", paramLabel = "N",
            description = "The listen backlog: connections the kernel holds until they are accepted. Default: ${DEFAULT-VALUE}.")
    int backlog = CORE.requestQueueSize();

    @Option(names = "--max-packet-size", paramLabel = "BYTES",
            description = "The longest datagram taken whole (and, for exec, the longest reply). Default: ${DEFAULT-VALUE}.")
    int maxPacketSize = CORE.maxPacketSize();

    Optional<Duration> readTimeout() {
        return Optional.ofNullable(readTimeout);
    }

    /**
     * The core's options for these flags. The core checks every value; its refusal comes back as an
     * {@link IllegalArgumentException} naming the flag and the value as it was written, for example
     * {@code --backlog must be at least 1, was 0}.
     */
    ServerOptions serverOptions(boolean exec) {
        if (limit != null && concurrency == ConcurrencyChoice.synchronous) {
            throw new IllegalArgumentException("-c needs --concurrency threads or virtual: synchronous serves one "
                    + "request at a time");
        }
        Concurrency unlimited = switch (concurrency) {
            case synchronous -> Concurrency.synchronous();
            case threads -> Concurrency.threads();
            case virtual -> Concurrency.virtualThreads();
        };
        int max = limit != null ? limit : EXEC_LIMIT;
        Concurrency chosen = concurrency == ConcurrencyChoice.synchronous || (limit == null && !exec) ? unlimited
                : checked("-c", String.valueOf(max), () -> unlimited.limit(max));
        if (readTimeout != null && readTimeout.isZero()) {
            throw new IllegalArgumentException("--read-timeout must be more than 0");
        }
        ServerOptions o = CORE.allowReuseAddress(true); // a restarted server must not wait out TIME_WAIT
        o = set(o, "--backlog", String.valueOf(backlog), x -> x.requestQueueSize(backlog));
        o = set(o, "--max-packet-size", String.valueOf(maxPacketSize), x -> x.maxPacketSize(maxPacketSize));
        o = set(o, "--grace", Formats.duration(grace), x -> x.closeGracePeriod(grace));
        o = set(o, "--write-timeout", writeTimeout == null ? "none" : Formats.duration(writeTimeout),
                x -> x.writeTimeout(writeTimeout));
        o = set(o, "--read-spin", Formats.duration(readSpin), x -> x.readSpin(readSpin));
        return o.concurrency(chosen);
    }

    private static ServerOptions set(ServerOptions options, String flag, String value, UnaryOperator<ServerOptions> setter) {
        return checked(flag, value, () -> setter.apply(options));
    }

    /** The core's refusal with the flag for the core's name and the value as the user writes it. */
    private static <T> T checked(String flag, String value, Supplier<T> set) {
        try {
            return set.get();
        } catch (IllegalArgumentException e) {
            String reason = e.getMessage() == null ? "is not allowed" : e.getMessage();
            int was = reason.lastIndexOf(", was ");
            if (was >= 0) {
                reason = reason.substring(0, was);
            }
            // "requestQueueSize must be ...", "a concurrency limit must be ...": keep what follows the name
            int must = reason.indexOf(" must ");
            reason = must >= 0 ? reason.substring(must + 1) : "is refused: " + reason;
            throw new IllegalArgumentException(flag + " " + reason + ", was " + value, e);
        }
    }

    /** Shows the core's defaults in the help as the flags are written ({@code 10s}, not {@code PT10S}). */
    static final class CoreDefaults implements IDefaultValueProvider {
        @Override
        public String defaultValue(ArgSpec arg) {
            if (!(arg instanceof OptionSpec option)) {
                return null;
            }
            return switch (option.longestName()) {
                case "--grace" -> Formats.duration(CORE.closeGracePeriod());
                case "--write-timeout" -> CORE.writeTimeout().map(Formats::duration).orElse(null);
                case "--read-spin" -> Formats.duration(CORE.readSpin());
                case "--backlog" -> String.valueOf(CORE.requestQueueSize());
                case "--max-packet-size" -> String.valueOf(CORE.maxPacketSize());
                default -> null;
            };
        }
    }

    static final class ListenConverter implements ITypeConverter<ListenAddress> {
        @Override
        public ListenAddress convert(String value) {
            try {
                return ListenAddress.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    static final class PerClientConverter implements ITypeConverter<Gatekeeper.PerClientLimit> {
        @Override
        public Gatekeeper.PerClientLimit convert(String value) {
            int colon = value.indexOf(':');
            String number = colon < 0 ? value : value.substring(0, colon);
            int max;
            try {
                max = Integer.parseInt(number);
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + value + "': expected N or N:MESSAGE with N a number");
            }
            if (max < 1) {
                throw new TypeConversionException("'" + value + "': N must be at least 1");
            }
            Optional<String> message = colon < 0 ? Optional.empty() : Optional.of(unescape(value.substring(colon + 1)));
            return new Gatekeeper.PerClientLimit(max, message);
        }

        private static String unescape(String s) {
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

    /**
     * {@code 10s}, {@code 500ms}, {@code 50us}, {@code 2m}, {@code 1h}, {@code 1m30s}, {@code 1.5s}, or a
     * number of seconds: what {@link Formats#duration} writes reads back.
     */
    static final class DurationConverter implements ITypeConverter<Duration> {
        private static final Pattern PART = Pattern.compile("(\\d+(?:\\.\\d+)?)(h|ms|m|us|ns|s)");
        private static final Pattern SECONDS = Pattern.compile("\\d+(?:\\.\\d+)?");

        @Override
        public Duration convert(String value) {
            String text = value.strip();
            if (SECONDS.matcher(text).matches()) {
                return Duration.ofNanos(Math.round(Double.parseDouble(text) * 1e9));
            }
            Matcher m = PART.matcher(text);
            double nanos = 0;
            int at = 0;
            while (at < text.length() && m.find(at) && m.start() == at) {
                nanos += Double.parseDouble(m.group(1)) * switch (m.group(2)) {
                    case "ns" -> 1;
                    case "us" -> 1e3;
                    case "ms" -> 1e6;
                    case "s" -> 1e9;
                    case "m" -> 60e9;
                    default -> 3600e9;
                };
                at = m.end();
            }
            if (at == 0 || at < text.length()) {
                throw new TypeConversionException("'" + Formats.escape(value)
                        + "' is not a duration; write 10s, 500ms, 50us, 2m, 1h or 1m30s");
            }
            return Duration.ofNanos(Math.round(nanos));
        }
    }
}
