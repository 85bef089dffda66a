package dev.sockserve.cli;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;
import picocli.CommandLine.Option;

/** The options every service and {@code exec} take, since they all run on the same core. */
final class ServeOptions {

    enum ConcurrencyChoice { synchronous, threads, virtual }

    @Option(names = "--listen", paramLabel = "URL", converter = ListenConverter.class,
            description = {"Where to listen: tcp://HOST:PORT, udp://HOST:PORT (IPv6 hosts in brackets), unix:PATH or "
                    + "unix-dgram:PATH. Repeat it to serve several listeners from one process.",
                "Default: tcp://127.0.0.1:<7000 + the service's port>; exec has none."})
    List<ListenAddress> listen = new ArrayList<>();

    @Option(names = "--concurrency", paramLabel = "MODE",
            description = "How requests run: synchronous (one at a time), threads (a platform thread each) or "
                    + "virtual (a virtual thread each). Default: virtual; for the services' udp and unix-dgram "
                    + "listeners synchronous (each datagram answered at once, no thread per datagram) unless -c is given.")
    ConcurrencyChoice concurrency; // null: the default above

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
                    + "Default: 10s.")
    Duration grace = Duration.ofSeconds(10);

    @Option(names = "--read-timeout", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Services: close a connection whose client sent nothing for this long. Default: none.")
    Duration readTimeout;

    @Option(names = "--write-timeout", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Services: close a connection on which a write made no progress for this long. Default: 60s.")
    Duration writeTimeout = Duration.ofSeconds(60);

    @Option(names = "--read-spin", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Services: how long a connection about to wait for its client first looks for bytes on the spot, "
                    + "while connections do not outnumber the CPUs (at most 1s; 0 turns it off). Default: 50us.")
    Duration readSpin = Duration.ofNanos(50_000);

    @Option(names = "--backlog", paramLabel = "N",
            description = "The listen backlog: connections the kernel holds until they are accepted. Default: ${DEFAULT-VALUE}.")
    int backlog = 1024;

    @Option(names = "--max-packet-size", paramLabel = "BYTES",
            description = "The longest datagram taken whole (and, for exec, the longest reply). Default: ${DEFAULT-VALUE}.")
    int maxPacketSize = 8192;

    Optional<Duration> readTimeout() {
        return Optional.ofNullable(readTimeout);
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

    /** {@code 10s}, {@code 500ms}, {@code 50us}, {@code 2m}, {@code 1h}, or a number of seconds. */
    static final class DurationConverter implements ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            var m = java.util.regex.Pattern.compile("(\\d+(?:\\.\\d+)?)(us|ms|s|m|h)?").matcher(value.strip());
            if (!m.matches()) {
                throw new TypeConversionException("'" + value + "' is not a duration; write 10s, 500ms, 50us, 2m or 1h");
            }
            double amount = Double.parseDouble(m.group(1));
            String unit = m.group(2) == null ? "s" : m.group(2);
            double nanos = amount * switch (unit) {
                case "us" -> 1e3;
                case "ms" -> 1e6;
                case "s" -> 1e9;
                case "m" -> 60e9;
                default -> 3600e9;
            };
            return Duration.ofNanos(Math.round(nanos));
        }
    }
}
