package dev.sockserve.cli;

import dev.sockserve.internal.ChildProcesses;

import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The {@code sockserve} command: {@code sockserve SERVICE [--listen URL]... [options] [-- PROGRAM ARGS]}.
 * Exit codes (the README's table): 0 after a clean stop (SIGTERM, SIGINT) or {@code --help};
 * 2 for anything wrong on the command line (a flag, a value, an address's spelling, the rules file, the
 * program), with a one-line message naming it; 1 when the system refuses what was asked (a listener
 * cannot be opened: address in use, not available, permission denied) or serving fails; 128 + N when a
 * second signal N ends everything at once (143 for SIGTERM, 130 for SIGINT).
 */
@Command(name = "sockserve", mixinStandardHelpOptions = true, usageHelpWidth = 110, version = "sockserve 0.1.0",
        synopsisSubcommandLabel = "SERVICE",
        description = {"Serves the classic small services, or runs a program per connection (as inetd and "
                + "tcpserver do), on TCP, UDP and Unix sockets.", ""},
        footer = {"", "Examples:",
            "  sockserve echo",
            "  sockserve exec --listen tcp://0.0.0.0:2000 --rules access.rules -v -- ./greet.sh",
            "  sockserve daytime --listen tcp://[::1]:7013 --listen udp://127.0.0.1:7013 --listen unix:/tmp/daytime.sock",
            "", "'sockserve SERVICE --help' lists every option with its default."})
public final class Sockserve {

    /** A subcommand: turns its options into a running {@link Serving}. */
    interface Starter {
        Serving start(EventLog log);

        ServeOptions options();

        /** The listeners it serves: --listen, or a service's default. */
        default List<ListenAddress> listeners() {
            return options().listen;
        }
    }

    @Command(mixinStandardHelpOptions = true, sortOptions = false, usageHelpWidth = 100,
            defaultValueProvider = ServeOptions.CoreDefaults.class)
    static final class ServiceCommand implements Starter {
        private final Service service;

        @Mixin
        ServeOptions options;

        ServiceCommand(Service service) {
            this.service = service;
        }

        @Override
        public ServeOptions options() {
            return options;
        }

        @Override
        public List<ListenAddress> listeners() {
            List<ListenAddress> listen = SocketActivation.listeners(options.listen, options.ops.inetd);
            return listen.isEmpty() ? List.of(ListenAddress.tcp("127.0.0.1", service.defaultPort())) : listen;
        }

        @Override
        public Serving start(EventLog log) {
            return new Serving(new Serving.What.BuiltIn(service), listeners(), options, rules(options), log);
        }
    }

    @Command(name = "exec", mixinStandardHelpOptions = true, sortOptions = false, usageHelpWidth = 100,
            defaultValueProvider = ServeOptions.CoreDefaults.class,
            description = {"Runs PROGRAM per connection, as tcpserver does; needs --listen.", "",
                "The connection is PROGRAM's standard input and output (the socket itself); its standard error "
                    + "stays the server's. The environment "
                    + "says who connected: PROTO=TCP, TCPLOCALIP, TCPLOCALPORT, TCPREMOTEIP, TCPREMOTEPORT (UDP "
                    + "listeners: UDP...; Unix: PROTO=UNIX, UNIXLOCALPATH, UNIXREMOTEPID, UNIXREMOTEEUID, "
                    + "UNIXREMOTEEGID); inherited variables of these names are removed. Behind --proxy-protocol the "
                    + "TCP... addresses are the header's, PROXY_SOURCE_IP is the proxy's own, and PROXY_TLV_ALPN, "
                    + "PROXY_TLV_AUTHORITY, PROXY_TLV_UNIQUE_ID, PROXY_TLV_SSL_VERSION and PROXY_TLV_SSL_CN are set when "
                    + "the header carries them (control characters removed). On a datagram listener "
                    + "PROGRAM runs per datagram: the datagram is its input, its output is the reply.",
                "Each PROGRAM leads a process group of its own: when the grace period ends, or a second signal "
                    + "comes, the whole group is ended, so nothing it started is left behind.",
                "With -v, N in 'pid N', 'ok N' and 'end N status S' is the child's pid and S its raw wait status, "
                    + "as tcpserver logs them (256 x the exit code, or the signal's number). Default -c: " + ServeOptions.EXEC_LIMIT + ".",
                "--read-timeout, --write-timeout and --read-spin are the services' (PROGRAM reads and writes the "
                    + "socket itself) and are refused here."})
    static final class ExecCommand implements Starter {
        @Mixin
        ServeOptions options;

        @Option(names = "-l", paramLabel = "NAME",
                description = "TCPLOCALHOST for PROGRAM (tcpserver's -l; names are never looked up). Default: unset.")
        String localName = "";

        @Option(names = "--datagram-timeout", paramLabel = "DURATION", converter = ServeOptions.DurationConverter.class,
                description = "Datagram listeners: how long PROGRAM may run for one datagram; then it is killed with "
                        + "its process group and no reply is sent, so a program that never ends cannot hold its -c slot. "
                        + "Default: 5s.")
        Duration datagramTimeout = ExecProgram.DEFAULT_DATAGRAM_TIMEOUT;

        @Parameters(paramLabel = "PROGRAM", arity = "1..*", description = "The program and its arguments, after --.")
        List<String> program = new ArrayList<>();

        @Spec
        CommandSpec spec;

        @Override
        public ServeOptions options() {
            return options;
        }

        @Override
        public Serving start(EventLog log) {
            List<ListenAddress> listen = requiredListeners(options, "exec", "tcp://127.0.0.1:2000");
            // the program reads and writes the socket itself: the server could not apply these
            for (String serviceOnly : List.of("--read-timeout", "--write-timeout", "--read-spin")) {
                if (spec.commandLine().getParseResult().hasMatchedOption(serviceOnly)) {
                    throw new IllegalArgumentException(serviceOnly + " applies to the services, not to exec, whose "
                            + "program reads and writes the connection itself (for a time limit, run it under "
                            + "timeout(1))");
                }
            }
            if (datagramTimeout.isZero()) {
                throw new IllegalArgumentException("--datagram-timeout must be more than 0");
            }
            ExecProgram.resolve(program.get(0));
            try {
                ChildProcesses.requireSupported();
            } catch (UnsupportedOperationException | IllegalCallerException e) {
                throw new IllegalStateException(e.getMessage(), e);
            }
            return new Serving(new Serving.What.Exec(program, localName, datagramTimeout), listen, options,
                    rules(options), log);
        }
    }

    @Command(name = "forward", mixinStandardHelpOptions = true, sortOptions = false, usageHelpWidth = 100,
            defaultValueProvider = ServeOptions.CoreDefaults.class,
            description = {"Relays each connection to a new connection to --to, both ways, half-closes carried "
                + "through; needs --listen. With --listen tls:// it is a TLS terminator in front of a plain-text "
                + "server (as stunnel or hitch); with --send-proxy the upstream learns the client's address."})
    static final class ForwardCommand implements Starter {
        @Mixin
        ServeOptions options;

        @Option(names = "--to", paramLabel = "URL", required = true, converter = ServeOptions.ListenConverter.class,
                description = "The upstream: tcp://HOST:PORT, tls://HOST:PORT or unix:PATH.")
        ListenAddress to;

        @Option(names = "--to-tls-ca", paramLabel = "FILE",
                description = "A tls:// upstream's certificate must chain to one of these CAs (PEM). Default: the JDK's CAs.")
        java.nio.file.Path toTlsCa;

        @Option(names = "--send-proxy", paramLabel = "v1|v2",
                description = "Start each upstream connection with a PROXY protocol header: the client's address "
                    + "and the one it connected to. Default: none.")
        Forward.SendProxy sendProxy;

        @Override
        public ServeOptions options() {
            return options;
        }

        @Override
        public Serving start(EventLog log) {
            List<ListenAddress> listen = requiredListeners(options, "forward", "tls://0.0.0.0:8443");
            if (options.readTimeout != null) {
                throw new IllegalArgumentException("--read-timeout does not apply to forward: a relay waits on both "
                    + "sides; --write-timeout and --grace do");
            }
            Forward forward = new Forward(to, java.util.Optional.ofNullable(toTlsCa), java.util.Optional.ofNullable(sendProxy), log);
            return new Serving(new Serving.What.Relay(forward), listen, options, rules(options), log);
        }
    }

    private Sockserve() {
    }

    /** The listeners of a service that has no default address: --listen's, or the inherited sockets. */
    private static List<ListenAddress> requiredListeners(ServeOptions options, String service, String example) {
        List<ListenAddress> listen = SocketActivation.listeners(options.listen, options.ops.inetd);
        if (listen.isEmpty()) {
            throw new IllegalArgumentException(service + " needs --listen, for example --listen " + example);
        }
        return listen;
    }

    private static AccessRules rules(ServeOptions options) {
        return options.rules == null ? AccessRules.allowAll() : AccessRules.read(options.rules);
    }

    /** The services' names, as a user types them: {@code echo}, ..., {@code exec}. */
    static List<String> serviceNames() {
        List<String> names = new ArrayList<>();
        for (Service service : Service.values()) {
            names.add(service.command());
        }
        names.add("exec");
        names.add("forward");
        return names;
    }

    static CommandLine commandLine() {
        return commandLine(null);
    }

    /**
     * The command line; with {@code only}, the name of one subcommand, just that one is built: picocli
     * builds each subcommand's model by reflection, which was most of the start-up's time to the first echo
     * (RESULTS.md, "Start-up and footprint"). Help, errors and anything else get every subcommand.
     */
    static CommandLine commandLine(String only) {
        CommandLine cli = new CommandLine(Sockserve.class);
        List<String> footer = new ArrayList<>(List.of("", "Services and their default addresses:"));
        for (Service service : Service.values()) {
            String name = service.command();
            footer.add(String.format("  %-9s RFC %d  %s", name, service.rfc,
                    ListenAddress.tcp("127.0.0.1", service.defaultPort())));
            if (only != null && !only.equals(name)) {
                continue;
            }
            CommandLine sub = new CommandLine(new ServiceCommand(service));
            sub.getCommandSpec().usageMessage().description(
                    name + " (RFC " + service.rfc + "): " + service.summary + ".",
                    "Default address: " + ListenAddress.tcp("127.0.0.1", service.defaultPort())
                            + " (7000 + its port " + service.port + ").");
            cli.addSubcommand(name, sub);
        }
        footer.add("  exec      PROGRAM per connection; needs --listen");
        footer.add("  forward   each connection relayed to --to (a TLS terminator with tls://); needs --listen");
        footer.addAll(List.of(cli.getCommandSpec().usageMessage().footer()));
        cli.getCommandSpec().usageMessage().footer(footer.toArray(String[]::new));
        if (only == null || only.equals("exec")) {
            cli.addSubcommand("exec", new ExecCommand());
        }
        if (only == null || only.equals("forward")) {
            cli.addSubcommand("forward", new ForwardCommand());
        }
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        return cli;
    }

    /** A parsed command line, ready to start; or the exit code when there is nothing to serve. */
    record Parsed(Starter starter, EventLog log, int exitCode) {
    }

    /** Exit code: a clean stop, or help. */
    static final int EXIT_OK = 0;
    /** Exit code: the system refused what was asked (a listener could not be opened), or serving failed. */
    static final int EXIT_FAILED = 1;
    /** Exit code: something on the command line is wrong (a flag, a value, an address, the rules file, the program). */
    static final int EXIT_USAGE = 2;

    /** Parses; prints help or a one-line error. */
    static Parsed parse(String[] args, PrintStream out, PrintStream err) {
        // a known subcommand first: build only it; an error is reported by a parse with every subcommand
        return parse(args, out, err, args.length > 0 && serviceNames().contains(args[0]) ? args[0] : null);
    }

    private static Parsed parse(String[] args, PrintStream out, PrintStream err, String only) {
        CommandLine cli = commandLine(only);
        cli.setOut(new java.io.PrintWriter(out, true));
        ParseResult parsed;
        try {
            parsed = cli.parseArgs(args);
        } catch (ParameterException e) {
            if (only != null) {
                return parse(args, out, err, null);
            }
            String name = e.getCommandLine().getCommandSpec().qualifiedName();
            err.println(name + ": " + usageError(e) + " (see '" + name + " --help')");
            return new Parsed(null, null, EXIT_USAGE);
        }
        if (CommandLine.printHelpIfRequested(parsed)) {
            return new Parsed(null, null, EXIT_OK);
        }
        if (!parsed.hasSubcommand()) {
            err.println("sockserve: which service? The services are " + String.join(", ", serviceNames())
                    + " (see 'sockserve --help'; try 'sockserve echo')");
            return new Parsed(null, null, EXIT_USAGE);
        }
        ParseResult sub = parsed.subcommand();
        Starter starter = (Starter) sub.commandSpec().userObject();
        ServeOptions o = starter.options();
        String name = sub.commandSpec().qualifiedName();
        EventLog log = new EventLog(err, o.logFormat, o.verbose);
        if (starter instanceof ForwardCommand forward) { // --tls-engine sets up its TLS upstream too
            o.tlsUpstream = forward.to.kind() == ListenAddress.Kind.TLS;
        }
        try {
            o.serverOptions(starter instanceof ExecCommand); // the core checks every value, once
        } catch (IllegalArgumentException e) {
            log.refused(name + ": " + e.getMessage() + " (see '" + name + " --help')");
            return new Parsed(null, null, EXIT_USAGE);
        }
        return new Parsed(starter, log, EXIT_OK);
    }

    /** What is wrong, in the command's words: an unknown service or word names the services and the closest one. */
    private static String usageError(ParameterException e) {
        if (!(e instanceof UnmatchedArgumentException unmatched) || unmatched.getUnmatched().isEmpty()) {
            return Formats.escape(e.getMessage());
        }
        String word = unmatched.getUnmatched().get(0);
        String shown = "'" + Formats.escape(word) + "'";
        Object command = e.getCommandLine().getCommand();
        if (word.startsWith("-")) {
            if (command instanceof ExecCommand exec && !exec.program.isEmpty()) {
                return shown + " is not an option of exec; a program's arguments go after --, as in 'sockserve exec "
                        + "--listen URL -- " + exec.program.get(0) + " " + Formats.escape(word) + "'";
            }
            List<String> close = unmatched.getSuggestions();
            String where = command instanceof Sockserve ? "sockserve (options go after the service, as in "
                    + "'sockserve echo -v')" : e.getCommandLine().getCommandSpec().qualifiedName();
            return shown + " is not an option of " + where
                    + (close.isEmpty() ? "" : "; did you mean " + close.get(0) + "?");
        }
        String services = "the services are " + String.join(", ", serviceNames());
        String closest = closest(word, serviceNames());
        String suggestion = closest == null ? "" : "; did you mean '" + closest + "'?";
        if (command instanceof Sockserve) {
            return shown + " is not a service; " + services + suggestion;
        }
        if (serviceNames().contains(word)) {
            return "one service at a time: " + shown + " after " + e.getCommandLine().getCommandName()
                    + " (run one sockserve per service, or give several --listen to one)";
        }
        return "unexpected " + shown + ": " + e.getCommandLine().getCommandName() + " takes options only; " + services
                + suggestion;
    }

    /** The name closest to {@code word} by edit distance, if close enough to be a typing slip. */
    static String closest(String word, List<String> names) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        String lower = word.toLowerCase(java.util.Locale.ROOT);
        for (String name : names) {
            int d = distance(lower, name);
            if (d < bestDistance) {
                best = name;
                bestDistance = d;
            }
        }
        return bestDistance <= Math.max(1, Math.min(3, word.length() / 2)) ? best : null;
    }

    private static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                current[j] = Math.min(Math.min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }

    /**
     * Starts what was parsed; on a refusal prints one line and returns null with the exit code set: 2 for
     * what the command line got wrong, 1 for what the system refused (address in use, permission denied).
     */
    static Serving start(Parsed parsed, PrintStream err, int[] exitCode) {
        try {
            Serving serving = parsed.starter().start(parsed.log());
            ServeOptions options = parsed.starter().options();
            options.tls().ifPresent(tls -> parsed.log().info("tls: " + options.tlsEngine().describe(tls)));
            return serving;
        } catch (IllegalArgumentException e) {
            parsed.log().refused(e.getMessage());
            exitCode[0] = EXIT_USAGE;
        } catch (UncheckedIOException | IllegalStateException e) {
            parsed.log().refused(e.getMessage()); // the core's: "cannot listen on tcp 127.0.0.1:7: Address already in use"
            exitCode[0] = EXIT_FAILED;
        }
        return null;
    }

    /** What a worker of --workers prints on its standard output (a pipe to its supervisor) once it serves. */
    static final String WORKER_READY = "sockserve-worker-ready";

    /** {@code --inetd} on a connected socket: one request, then the program's status (exec) or 0. */
    private static void inetdNowait(Parsed parsed) {
        try {
            java.util.Optional<java.nio.channels.SocketChannel> connection = InetdOnce.connection();
            if (connection.isEmpty()) {
                return; // a listening socket: served as a listener
            }
            int status = parsed.starter() instanceof ExecCommand exec
                    ? InetdOnce.exec(connection.get(), exec.program, exec.localName, exec.options, parsed.log())
                    : InetdOnce.service(connection.get(), parsed.starter(), parsed.log());
            System.exit(status);
        } catch (Exception e) {
            parsed.log().error("--inetd: " + e.getMessage());
            System.exit(EXIT_FAILED);
        }
    }

    /**
     * The carriers to ask for: {@code SOCKSERVE_CARRIERS} when set; a carrier per CPU when TLS is served or
     * forwarded to (its record work is CPU-bound, and one carrier left the server waiting: every TLS row of
     * RESULTS-TLS.md gained with two on two cores); else null, the recommended one fewer than the CPUs.
     */
    static String carriers(String[] args, String fromEnvironment) {
        if (fromEnvironment != null) {
            return fromEnvironment;
        }
        boolean tls = java.util.Arrays.stream(args).anyMatch(a -> a.startsWith("tls://") || a.contains("=tls://"));
        return tls ? Integer.toString(Runtime.getRuntime().availableProcessors()) : null;
    }

    public static void main(String[] args) {
        // before any virtual thread exists: the scheduler and the pollers read these once
        dev.sockserve.internal.Carriers.applyRecommended(carriers(args, System.getenv("SOCKSERVE_CARRIERS")));
        Parsed parsed = parse(args, System.out, System.err);
        if (parsed.starter() == null) {
            System.exit(parsed.exitCode());
        }
        parsed.log().takeOverJavaLogging();
        if (parsed.starter().options().ops.inetd) {
            inetdNowait(parsed); // exits when descriptor 0 is a connected socket
        }
        ScaleOptions scale = parsed.starter().options().scale;
        if (scale.supervises()) {
            if (parsed.starter().options().ops.inetd || !SocketActivation.listeners(List.of(), false).isEmpty()) {
                parsed.log().refused("--workers binds its own sockets; socket activation and --inetd hand over "
                        + "sockets already bound: use one or the other");
                System.exit(EXIT_USAGE);
            }
            if (parsed.starter().options().ops.metrics != null) {
                parsed.log().refused("--metrics with --workers is not built yet: every worker would bind the same "
                        + "address; run without --workers, or scrape each worker's own process another way");
                System.exit(EXIT_USAGE);
            }
            System.exit(Supervisor.run(args, parsed.starter().listeners(), scale, parsed.log()));
        }
        if (scale.isWorker()) {
            parsed.starter().options().listen = new ArrayList<>(scale.workerListeners(parsed.starter().listeners()));
        }
        int[] exitCode = {EXIT_OK};
        Serving serving = start(parsed, System.err, exitCode);
        if (serving == null) {
            System.exit(exitCode[0]);
        }
        serving.adoptOrphans();
        Health health = null;
        if (scale.health != null && !scale.isWorker()) {
            try {
                health = Health.start(scale.health, scale.reusePort);
            } catch (UncheckedIOException e) {
                parsed.log().refused(e.getMessage());
                serving.close();
                System.exit(EXIT_FAILED);
            }
        }
        Health checks = health;
        ShutdownSignals.install(serving, parsed.log(), () -> {
            if (checks != null) {
                checks.close(); // refused from now on: a load balancer sends new clients elsewhere
            }
        }, scale.isWorker());
        if (scale.isWorker()) {
            // a supervisor that is gone (even killed) stops its workers, gracefully
            ProcessHandle.current().parent().ifPresent(parent -> parent.onExit().thenRun(serving::stop));
            parsed.log().info("worker " + scale.worker + " (pid " + ProcessHandle.current().pid() + ") serving "
                    + String.join(", ", serving.boundAddresses()));
            System.out.println(WORKER_READY);
            System.out.flush();
        } else {
            if (checks != null) {
                parsed.log().info("health checks on " + checks.address());
            }
            parsed.log().info("serving " + String.join(", ", serving.boundAddresses()));
        }
        try {
            serving.serve();
        } catch (RuntimeException e) {
            parsed.log().error("serving failed: " + e, e);
            serving.close();
            System.exit(EXIT_FAILED);
        }
        System.exit(EXIT_OK);
    }
}
