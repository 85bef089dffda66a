package dev.sockserve.cli;

import dev.sockserve.Concurrency;
import dev.sockserve.ProxyProtocol;
import dev.sockserve.ServerOptions;
import dev.sockserve.Tls;
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
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The options every service and {@code exec} take, since they all run on the same core. */
final class ServeOptions {

    /** The core's defaults are the command's: one source for the numbers, shown in the help by {@link CoreDefaults}. */
    private static final ServerOptions CORE = ServerOptions.defaults();

    /** Exec's default -c, as tcpserver's. */
    static final int EXEC_LIMIT = 40;

    enum ConcurrencyChoice { synchronous, threads, virtual }

    @Option(names = "--listen", paramLabel = "URL", converter = ListenConverter.class,
            description = {"Where to listen: tcp://HOST:PORT, tls://HOST:PORT (TCP with TLS), "
                    + "udp://HOST:PORT (IPv6 hosts in brackets), unix:PATH or unix-dgram:PATH. Repeat it to serve several "
                    + "listeners from one process.",
                "Default: tcp://127.0.0.1:<7000 + the service's port>; exec has none."})
    List<ListenAddress> listen = new ArrayList<>();

    @Option(names = "--concurrency", paramLabel = "MODE",
            description = "How requests run: synchronous (one at a time), threads (a platform thread each) or "
                    + "virtual (a virtual thread each). Default: virtual; for the services' udp and unix-dgram "
                    + "listeners synchronous (each datagram answered at once, no thread per datagram) unless -c is given.")
    ConcurrencyChoice concurrency; // null: the default above

    @Option(names = "-c", paramLabel = "N",
            description = "At most N requests at once on each listener, in each worker process; at the limit the server stops accepting "
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

    enum ClientAuthChoice { required, optional }

    @Option(names = "--tls-cert", paramLabel = "FILE",
            description = "tls:// listeners: a certificate chain (PEM, leaf first, intermediates sent). Repeat it with "
                    + "--tls-key in pairs: the pair whose certificate names the client's SNI name serves it; the first "
                    + "serves the rest. Default: none.")
    List<Path> tlsCerts = new ArrayList<>();

    @Option(names = "--tls-key", paramLabel = "FILE",
            description = "The private key of the --tls-cert at the same position (PEM, unencrypted PKCS#8; RSA, EC or "
                    + "Ed25519). Default: none.")
    List<Path> tlsKeys = new ArrayList<>();

    @Option(names = "--tls-client-ca", paramLabel = "FILE",
            description = "Clients must present a certificate that chains to one of these CAs (PEM). Default: none asked.")
    Path tlsClientCa;

    @Option(names = "--tls-client-auth", paramLabel = "MODE",
            description = "required or optional, with --tls-client-ca. Default: required.")
    ClientAuthChoice tlsClientAuth;

    @Option(names = "--tls-protocols", paramLabel = "LIST", split = ",",
            description = "The TLS versions offered. Default: TLSv1.3,TLSv1.2.")
    List<String> tlsProtocols = new ArrayList<>(Tls.DEFAULT_PROTOCOLS);

    @Option(names = "--tls-alpn", paramLabel = "LIST", split = ",",
            description = "The ALPN protocols accepted, in order of preference. Default: none.")
    List<String> tlsAlpn = new ArrayList<>();

    @Option(names = "--tls-handshake-timeout", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "A TLS handshake not finished by then is closed. Default: 10s.")
    Duration tlsHandshakeTimeout = Tls.DEFAULT_HANDSHAKE_TIMEOUT;

    @Option(names = "--tls-engine", paramLabel = "ENGINE", converter = TlsEngine.Converter.class,
            description = "jdk (the JDK's TLS, its X25519 computed by BoringSSL where Conscrypt's library loads), jdk-only "
                    + "(nothing native) or boringssl (Conscrypt's engine: the least CPU, but a client's close_notify ends "
                    + "both directions even over TLS 1.3). Default: jdk.")
    TlsEngine tlsEngine;

    @picocli.CommandLine.Mixin
    ScaleOptions scale = new ScaleOptions();

    @Option(names = "--proxy-protocol",
            description = "Stream listeners: every connection starts with a PROXY protocol header (v1 or v2), from "
                    + "--trusted-proxies only; the client's address is the one it carries. Default: off.")
    boolean proxyProtocol;

    @Option(names = "--trusted-proxies", paramLabel = "CIDR[,CIDR...]", split = ",",
            description = "The networks PROXY protocol headers are accepted from (10.0.0.0/8, 127.0.0.1, [::1]/128); "
                    + "required with --proxy-protocol. Default: none.")
    List<String> trustedProxies = new ArrayList<>();

    @Option(names = "--proxy-timeout", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "A PROXY header not complete by then is closed. Default: 5s.")
    Duration proxyTimeout = ProxyProtocol.DEFAULT_TIMEOUT;

    @Mixin
    OpsOptions ops = new OpsOptions(); // issue 14's flags: rates, banner, metrics, socket activation, privileges

    TlsEngine tlsEngine() {
        return tlsEngine != null ? tlsEngine : TlsEngine.JDK;
    }

    /** Set by forward before anything reads the options: its --to is tls://, a TLS client that --tls-engine also sets up. */
    boolean tlsUpstream;

    private Optional<Tls> tls; // made once: the files are read at start-up and on SIGHUP

    /**
     * The TLS settings, the files read once; empty without --tls-cert. A file that cannot be used is an
     * {@link IllegalArgumentException} naming it and why (exit 2).
     */
    Optional<Tls> tls() {
        if (tls != null) {
            return tls;
        }
        if (tlsCerts.size() != tlsKeys.size()) {
            throw new IllegalArgumentException("--tls-cert and --tls-key go in pairs; got " + tlsCerts.size()
                    + " certificate(s) and " + tlsKeys.size() + " key(s)");
        }
        if (tlsCerts.isEmpty()) {
            if (tlsClientCa != null || tlsClientAuth != null || !tlsAlpn.isEmpty() || (tlsEngine != null && !tlsUpstream)) {
                throw new IllegalArgumentException("--tls-client-ca, --tls-client-auth, --tls-alpn and --tls-engine need "
                        + "--tls-cert and --tls-key");
            }
            if (tlsUpstream) {
                tlsEngine().forClients();
            }
            tls = Optional.empty();
            return tls;
        }
        if (tlsClientAuth != null && tlsClientCa == null) {
            throw new IllegalArgumentException("--tls-client-auth needs --tls-client-ca, the CAs client certificates chain to");
        }
        Tls t;
        try {
            t = Tls.fromPem(tlsCerts.get(0), tlsKeys.get(0));
            for (int i = 1; i < tlsCerts.size(); i++) {
                t = t.withPair(tlsCerts.get(i), tlsKeys.get(i));
            }
            t = tlsEngine().apply(t); // boringssl: refused with the reason when it does not load
            if (tlsUpstream) {
                tlsEngine().forClients();
            }
            if (tlsClientCa != null) {
                t = t.clientCa(tlsClientCa);
                if (tlsClientAuth == ClientAuthChoice.optional) {
                    t = t.clientAuth(Tls.ClientAuth.OPTIONAL);
                }
            }
        } catch (java.io.UncheckedIOException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        Tls chosen = t;
        t = checked("--tls-protocols", String.join(",", tlsProtocols), () -> chosen.protocols(tlsProtocols.toArray(String[]::new)));
        t = t.alpn(tlsAlpn.toArray(String[]::new));
        Tls withAlpn = t;
        t = checked("--tls-handshake-timeout", Formats.duration(tlsHandshakeTimeout),
                () -> withAlpn.handshakeTimeout(tlsHandshakeTimeout));
        tls = Optional.of(t);
        return tls;
    }

    /** The PROXY protocol settings; empty without --proxy-protocol. */
    Optional<ProxyProtocol> proxy() {
        if (!proxyProtocol) {
            if (!trustedProxies.isEmpty()) {
                throw new IllegalArgumentException("--trusted-proxies applies with --proxy-protocol");
            }
            return Optional.empty();
        }
        if (trustedProxies.isEmpty()) {
            throw new IllegalArgumentException("--proxy-protocol needs --trusted-proxies, the networks its headers "
                    + "may come from (for example --trusted-proxies 127.0.0.1)");
        }
        ProxyProtocol p = checked("--trusted-proxies", String.join(",", trustedProxies),
                () -> ProxyProtocol.trusting(trustedProxies.toArray(String[]::new)));
        return Optional.of(checked("--proxy-timeout", Formats.duration(proxyTimeout), () -> p.timeout(proxyTimeout)));
    }

    /** Refuses flags that none of the listeners can use: TLS without tls://, the PROXY protocol without a stream. */
    void checkListeners(List<ListenAddress> listeners) {
        boolean anyTls = listeners.stream().anyMatch(l -> l.kind() == ListenAddress.Kind.TLS);
        if (anyTls && tls().isEmpty()) {
            throw new IllegalArgumentException("a tls:// listener needs --tls-cert FILE and --tls-key FILE");
        }
        if (!anyTls && tls().isPresent()) {
            throw new IllegalArgumentException("--tls-cert applies to tls:// listeners, and none is given");
        }
        if (proxy().isPresent() && listeners.stream().noneMatch(l -> l.kind().stream())) {
            throw new IllegalArgumentException("--proxy-protocol applies to stream listeners (tcp://, tls://, unix:), "
                    + "and none is given");
        }
    }

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
        ConcurrencyChoice concurrency = this.concurrency != null ? this.concurrency : ConcurrencyChoice.virtual;
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
        scale.check();
        tls(); // the files are read here, so a bad one is refused before anything listens
        proxy();
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
                case "--tls-handshake-timeout" -> Formats.duration(Tls.DEFAULT_HANDSHAKE_TIMEOUT);
                case "--proxy-timeout" -> Formats.duration(ProxyProtocol.DEFAULT_TIMEOUT);
                default -> null;
            };
        }
    }

    static final class ListenConverter implements ITypeConverter<ListenAddress> {
        @Override
        public ListenAddress convert(String value) {
            try {
                return value.startsWith("fd:") ? SocketActivation.named(value.substring(3)) : ListenAddress.parse(value);
            } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
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
            Optional<String> message = colon < 0 ? Optional.empty() : Optional.of(OpsOptions.Escapes.unescape(value.substring(colon + 1)));
            return new Gatekeeper.PerClientLimit(max, message);
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
