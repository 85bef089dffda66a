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

/**
 * The {@code sockserve} command: {@code sockserve SERVICE [--listen URL]... [options] [-- PROGRAM ARGS]}.
 * Exit codes: 0 after a clean stop (SIGTERM, SIGINT) or {@code --help}; 2 for a wrong flag, address,
 * rules file or program, with a one-line message naming it; 1 when a listener cannot be opened.
 */
@Command(name = "sockserve", mixinStandardHelpOptions = true, usageHelpWidth = 110, version = "sockserve 0.1.0",
        synopsisSubcommandLabel = "SERVICE",
        description = {"Serves the classic small services, or runs a program per connection (as inetd and "
                + "tcpserver do), on TCP, UDP and Unix sockets.", ""},
        footer = {"", "Services and their default addresses:",
            "  echo      RFC 862  tcp://127.0.0.1:7007",
            "  discard   RFC 863  tcp://127.0.0.1:7009",
            "  daytime   RFC 867  tcp://127.0.0.1:7013",
            "  qotd      RFC 865  tcp://127.0.0.1:7017",
            "  chargen   RFC 864  tcp://127.0.0.1:7019",
            "  time      RFC 868  tcp://127.0.0.1:7037",
            "  exec      PROGRAM per connection; needs --listen",
            "", "Examples:",
            "  sockserve echo",
            "  sockserve exec --listen tcp://0.0.0.0:2000 --rules access.rules -v -- ./greet.sh",
            "  sockserve daytime --listen tcp://[::1]:7013 --listen udp://127.0.0.1:7013 --listen unix:/tmp/daytime.sock",
            "", "'sockserve SERVICE --help' lists every option with its default."})
public final class Sockserve {

    /** A subcommand: turns its options into a running {@link Serving}. */
    interface Starter {
        Serving start(EventLog log);

        ServeOptions options();
    }

    @Command(mixinStandardHelpOptions = true, sortOptions = false, usageHelpWidth = 100)
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
        public Serving start(EventLog log) {
            List<ListenAddress> listen = options.listen.isEmpty()
                    ? List.of(ListenAddress.tcp("127.0.0.1", service.defaultPort())) : options.listen;
            return new Serving(new Serving.What.BuiltIn(service), listen, options, rules(options), log);
        }
    }

    @Command(name = "exec", mixinStandardHelpOptions = true, sortOptions = false, usageHelpWidth = 100,
            description = {"Runs PROGRAM per connection, as tcpserver does; needs --listen.", "",
                "The connection is PROGRAM's standard input and output (the socket itself); its standard error "
                    + "stays the server's. The environment "
                    + "says who connected: PROTO=TCP, TCPLOCALIP, TCPLOCALPORT, TCPREMOTEIP, TCPREMOTEPORT (UDP "
                    + "listeners: UDP...; Unix: PROTO=UNIX, UNIXLOCALPATH, UNIXREMOTEPID, UNIXREMOTEEUID, "
                    + "UNIXREMOTEEGID); inherited variables of these names are removed. On a datagram listener "
                    + "PROGRAM runs per datagram: the datagram is its input, its output is the reply.",
                "Each PROGRAM leads a process group of its own: when the grace period ends, or a second signal "
                    + "comes, the whole group is ended, so nothing it started is left behind.",
                "With -v, N in 'pid N', 'ok N' and 'end N status S' is the child's pid and S its raw wait status, "
                    + "as tcpserver logs them (256 x the exit code, or the signal's number). Default -c: 40.",
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
        Duration datagramTimeout = Duration.ofSeconds(5);

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
            if (options.listen.isEmpty()) {
                throw new IllegalArgumentException("exec needs --listen, for example --listen tcp://127.0.0.1:2000");
            }
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
            return new Serving(new Serving.What.Exec(program, localName, datagramTimeout), options.listen, options,
                    rules(options), log);
        }
    }

    private Sockserve() {
    }

    private static AccessRules rules(ServeOptions options) {
        return options.rules == null ? AccessRules.allowAll() : AccessRules.read(options.rules);
    }

    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(Sockserve.class);
        for (Service service : Service.values()) {
            CommandLine sub = new CommandLine(new ServiceCommand(service));
            sub.getCommandSpec().usageMessage().description(
                    service.command() + " (RFC " + service.rfc + "): " + service.summary + ".",
                    "Default address: tcp://127.0.0.1:" + service.defaultPort()
                            + " (7000 + its port " + service.port + ").");
            cli.addSubcommand(service.command(), sub);
        }
        cli.addSubcommand("exec", new ExecCommand());
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        return cli;
    }

    /** A parsed command line, ready to start; or the exit code when there is nothing to serve. */
    record Parsed(Starter starter, EventLog log, int exitCode) {
    }

    /** Parses; prints help or a one-line error. */
    static Parsed parse(String[] args, PrintStream out, PrintStream err) {
        CommandLine cli = commandLine();
        cli.setOut(new java.io.PrintWriter(out, true));
        ParseResult parsed;
        try {
            parsed = cli.parseArgs(args);
        } catch (ParameterException e) {
            String name = e.getCommandLine().getCommandSpec().qualifiedName();
            err.println(name + ": " + e.getMessage() + " (see '" + name + " --help')");
            return new Parsed(null, null, 2);
        }
        if (CommandLine.printHelpIfRequested(parsed)) {
            return new Parsed(null, null, 0);
        }
        if (!parsed.hasSubcommand()) {
            err.println("sockserve: which service? (see 'sockserve --help'; try 'sockserve echo')");
            return new Parsed(null, null, 2);
        }
        ParseResult sub = parsed.subcommand();
        Starter starter = (Starter) sub.commandSpec().userObject();
        ServeOptions o = starter.options();
        String name = sub.commandSpec().qualifiedName();
        String problem = null;
        if (o.limit != null && o.limit < 1) {
            problem = "-c must be at least 1, was " + o.limit;
        } else if (o.limit != null && o.concurrency == ServeOptions.ConcurrencyChoice.synchronous) {
            problem = "-c needs --concurrency threads or virtual: synchronous serves one request at a time";
        } else if (o.backlog < 1) {
            problem = "--backlog must be at least 1, was " + o.backlog;
        } else if (o.maxPacketSize < 1 || o.maxPacketSize > 65535) {
            problem = "--max-packet-size must be 1..65535, was " + o.maxPacketSize;
        } else if (o.grace.isNegative()) {
            problem = "--grace must not be negative";
        } else if (o.writeTimeout.isZero() || (o.readTimeout != null && o.readTimeout.isZero())) {
            problem = "--read-timeout and --write-timeout must be more than 0";
        } else if (o.readSpin.compareTo(java.time.Duration.ofSeconds(1)) > 0) {
            problem = "--read-spin must be at most 1s, was " + o.readSpin.toNanos() / 1000 + "us";
        }
        if (problem != null) {
            err.println(name + ": " + problem + " (see '" + name + " --help')");
            return new Parsed(null, null, 2);
        }
        return new Parsed(starter, new EventLog(err, o.logFormat, o.verbose), 0);
    }

    /** Starts what was parsed; on a refusal prints one line and returns null with the exit code set. */
    static Serving start(Parsed parsed, PrintStream err, int[] exitCode) {
        try {
            return parsed.starter().start(parsed.log());
        } catch (IllegalArgumentException e) {
            err.println("sockserve: " + e.getMessage());
            exitCode[0] = 2;
        } catch (UncheckedIOException | IllegalStateException e) {
            err.println("sockserve: " + e.getMessage());
            exitCode[0] = 1;
        }
        return null;
    }

    public static void main(String[] args) {
        Parsed parsed = parse(args, System.out, System.err);
        if (parsed.starter() == null) {
            System.exit(parsed.exitCode());
        }
        parsed.log().takeOverJavaLogging();
        int[] exitCode = {0};
        Serving serving = start(parsed, System.err, exitCode);
        if (serving == null) {
            System.exit(exitCode[0]);
        }
        ShutdownSignals.install(serving, parsed.log());
        parsed.log().info("serving " + String.join(", ", serving.boundAddresses()));
        try {
            serving.serve();
        } catch (RuntimeException e) {
            parsed.log().error("serving failed: " + e);
            System.exit(1);
        }
        System.exit(0);
    }
}
