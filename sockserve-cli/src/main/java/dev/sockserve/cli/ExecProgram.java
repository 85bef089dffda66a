package dev.sockserve.cli;

import dev.sockserve.BaseRequestHandler;
import dev.sockserve.DatagramRequest;
import dev.sockserve.RequestContext;
import dev.sockserve.Tls;
import dev.sockserve.internal.ChildProcesses;
import dev.sockserve.internal.ChildReaper;
import dev.sockserve.internal.Durations;
import dev.sockserve.internal.Posix;
import dev.sockserve.internal.Relay;
import dev.sockserve.internal.SocketFd;
import dev.sockserve.internal.SocketPair;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.regex.Pattern;

/**
 * {@code sockserve exec}: runs a program per connection (or per datagram), the UCSPI way, through the
 * core's {@link ChildProcesses}, which the {@code processes()} policy shares.
 *
 * <p>On a stream listener the program gets the accepted socket itself as its standard input and output
 * ({@code posix_spawn}): no bytes pass through the server, which is what makes it as fast as tcpserver.
 * The client's end-of-file is the program's end of input; when the program ends, the server shuts the
 * connection down, so the client sees end-of-file even if a grandchild still holds the socket. On a
 * datagram listener the datagram is the program's input and its output is the reply, cut to the maximum
 * packet size (logged); a run that takes longer than {@code --datagram-timeout} is killed with its process
 * group and sends nothing. Each program leads a process group of its own, which is signalled as a whole
 * when the grace period ends or a second signal comes.
 */
final class ExecProgram {

    /** Variables that describe a connection: removed from the inherited environment, never left stale. */
    /** What the command sets for a program, so none is left stale from the parent: UCSPI's, mod_ssl's, PROXY_*. */
    private static final Pattern UCSPI_VARIABLE = Pattern.compile(
            "PROTO|(TCP6?|UDP|UNIX|SSL)(LOCAL|REMOTE)[A-Z]*|SSL_(PROTOCOL|CIPHER|TLS_SNI|CLIENT_[A-Z_]+)|PROXY_[A-Z_]*");

    private final List<String> argv;
    private final String executable;
    private final Map<String, String> baseEnvironment;
    private final String localName; // TCPLOCALHOST, if given with -l
    private final ChildProcesses children;
    private final int maxPacketSize;
    /** How long a program may run for one datagram unless --datagram-timeout says otherwise. */
    static final Duration DEFAULT_DATAGRAM_TIMEOUT = Duration.ofSeconds(5);

    private final Duration datagramTimeout;

    ExecProgram(List<String> argv, Map<String, String> inherited, String localName, ChildProcesses children,
            int maxPacketSize, Duration datagramTimeout) {
        this.argv = List.copyOf(argv);
        this.executable = resolve(argv.get(0));
        Map<String, String> base = new LinkedHashMap<>();
        inherited.forEach((name, value) -> {
            if (!UCSPI_VARIABLE.matcher(name).matches()) {
                base.put(name, value);
            }
        });
        this.baseEnvironment = base;
        this.localName = localName;
        this.children = children;
        this.maxPacketSize = maxPacketSize;
        this.datagramTimeout = datagramTimeout;
    }

    /**
     * Finds the program once, at start-up: a missing one is refused with a message naming it (rather than
     * one failure per client), and no connection pays for a search of the PATH.
     */
    static String resolve(String program) {
        if (program.contains("/")) {
            if (!Files.isExecutable(Path.of(program)) || Files.isDirectory(Path.of(program))) {
                throw new IllegalArgumentException("program '" + program + "' is not an executable file");
            }
            return program;
        }
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
        for (String dir : path.split(":")) {
            Path candidate = Path.of(dir.isEmpty() ? "." : dir, program);
            if (Files.isExecutable(candidate) && !Files.isDirectory(candidate)) {
                return candidate.toString();
            }
        }
        throw new IllegalArgumentException("program '" + program + "' is not on the PATH");
    }

    /** The program's environment for a connection that came without a request context (--inetd). */
    Map<String, String> environment(ListenAddress.Kind kind, Gatekeeper.Admitted request, Posix.PeerCredentials peer) {
        return environment(kind, request, peer, null);
    }

    /**
     * The program's environment for one request; with its context (null outside a server), the PROXY
     * protocol's variables, and over TLS {@code sslserver -e -s}'s names and mod_ssl's beside TCP's.
     */
    Map<String, String> environment(ListenAddress.Kind kind, Gatekeeper.Admitted request, Posix.PeerCredentials peer,
            RequestContext context) {
        Optional<Tls.Session> tls = context == null ? Optional.empty() : Tls.session(context);        Map<String, String> env = new LinkedHashMap<>(baseEnvironment);
        String proto = switch (kind) {
            case TCP, TLS -> "TCP";
            case UDP -> "UDP";
            case UNIX, UNIX_DGRAM -> "UNIX";
        };
        env.put("PROTO", proto);
        if (kind == ListenAddress.Kind.TLS) {
            env.put("PROTO", "SSL");
            for (String p : List.of("SSL", "TCP")) {
                env.put(p + "LOCALIP", request.local.ip().orElse(""));
                env.put(p + "LOCALPORT", String.valueOf(request.local.port().orElse(0)));
                env.put(p + "REMOTEIP", request.remote.ip().orElse(""));
                env.put(p + "REMOTEPORT", String.valueOf(request.remote.port().orElse(0)));
            }
            tls.ifPresent(session -> putTls(env, session));
        } else if (kind == ListenAddress.Kind.TCP || kind == ListenAddress.Kind.UDP) {
            if (kind == ListenAddress.Kind.TCP && !localName.isEmpty()) {
                env.put("TCPLOCALHOST", localName);
            }
            env.put(proto + "LOCALIP", request.local.ip().orElse(""));
            env.put(proto + "LOCALPORT", String.valueOf(request.local.port().orElse(0)));
            env.put(proto + "REMOTEIP", request.remote.ip().orElse(""));
            env.put(proto + "REMOTEPORT", String.valueOf(request.remote.port().orElse(0)));
        } else {
            request.local.path().ifPresent(p -> env.put("UNIXLOCALPATH", p));
            request.remote.path().ifPresent(p -> env.put("UNIXREMOTEPATH", p));
            if (peer != null) { // ucspi-unix's names
                env.put("UNIXREMOTEPID", String.valueOf(peer.pid()));
                env.put("UNIXREMOTEEUID", String.valueOf(peer.uid()));
                env.put("UNIXREMOTEEGID", String.valueOf(peer.gid()));
            }
        }
        ProxyEnvironment.add(env, context); // behind a PROXY header: PROXY_SOURCE_IP and the TLVs
        env.putAll(request.settings); // the rules' VAR=value, as tcpserver applies them: last
        return env;
    }

    /** mod_ssl's names: the protocol, the cipher's IANA name, SNI, and the client's certificate when it sent one. */
    private static void putTls(Map<String, String> env, Tls.Session session) {
        env.put("SSL_PROTOCOL", session.protocol());
        env.put("SSL_CIPHER", session.cipherSuite());
        session.serverName().ifPresent(name -> env.put("SSL_TLS_SNI", Formats.escape(name)));
        var chain = session.peerCertificates();
        env.put("SSL_CLIENT_VERIFY", chain.isEmpty() ? "NONE" : "SUCCESS");
        if (!chain.isEmpty()) {
            var leaf = chain.get(0);
            env.put("SSL_CLIENT_S_DN", leaf.getSubjectX500Principal().getName(javax.security.auth.x500.X500Principal.RFC2253));
            env.put("SSL_CLIENT_I_DN", leaf.getIssuerX500Principal().getName(javax.security.auth.x500.X500Principal.RFC2253));
            try {
                env.put("SSL_CLIENT_CERT", "-----BEGIN CERTIFICATE-----\n"
                        + java.util.Base64.getMimeEncoder(64, "\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII))
                                .encodeToString(leaf.getEncoded())
                        + "\n-----END CERTIFICATE-----\n");
            } catch (java.security.cert.CertificateEncodingException e) {
                // a certificate the handshake accepted encodes: nothing to add otherwise
            }
        }
    }

    private ChildProcesses.Program program(Map<String, String> env) {
        List<String> list = new ArrayList<>(env.size());
        env.forEach((name, value) -> list.add(name + "=" + value));
        return new ChildProcesses.Program(executable, argv, list);
    }

    /** The handler for stream listeners: one child per connection, holding the socket itself. */
    BaseRequestHandler<SocketChannel> streamHandler(ListenAddress.Kind kind) {
        return new BaseRequestHandler<>() {
            @Override
            protected void handle() throws Exception {
                Gatekeeper.Admitted request = Gatekeeper.admitted(context());
                Gatekeeper gatekeeper = request.gatekeeper;
                SocketChannel connection = request();
                Posix.PeerCredentials peer = kind == ListenAddress.Kind.UNIX
                        ? Posix.peerCredentials(SocketFd.of(connection)) : null;
                if (context().channelWrapped()) {
                    overTls(gatekeeper, request);
                    return;
                }
                ChildReaper.Child child;
                try {
                    child = children.startWithConnection(connection, true,
                            program(environment(kind, request, peer, context())));
                } catch (IOException e) {
                    gatekeeper.log().error(e.getMessage() + " for " + request.remote.display());
                    return;
                }
                context().onCut(() -> {
                    // the group first: once the connection ends, the child may end and be reaped, and its
                    // group can no longer be signalled safely
                    child.signal(Posix.SIGTERM);
                    try { // both directions: the child holds the same socket and must see the end too
                        connection.shutdownInput();
                        connection.shutdownOutput();
                    } catch (IOException alreadyClosed) {
                        // nothing left to cut
                    }
                });
                EventLog log = gatekeeper.log();
                log.pid(child.pid(), request.remote.ip().orElse(request.remote.display()));
                log.ok(child.pid(), request.local, request.remote);
                int status;
                try {
                    status = awaitExit(child);
                } finally {
                    countTcpBytes(kind, connection);
                }
                log.end(child.pid(), status);
            }

            /**
             * The program moved the bytes on the socket itself: over TCP the kernel's count for the whole
             * connection ({@code TCP_INFO}) is the request's; a Unix socket keeps no such count.
             */
            private void countTcpBytes(ListenAddress.Kind kind, SocketChannel connection) {
                if (kind != ListenAddress.Kind.TCP) {
                    return;
                }
                try {
                    Posix.TcpBytes bytes = Posix.tcpBytes(SocketFd.of(connection));
                    context().countBytes(bytes.received(), bytes.sent());
                } catch (IOException | RuntimeException e) {
                    // a socket already closed by a cut: its bytes go uncounted
                }
            }

            /**
             * Over TLS the program gets one end of a socket pair and reads and writes plain text, as with
             * ucspi-ssl's sslserver; this thread relays its output to the client until it ends, a virtual
             * thread the client's input to it, which ends with the request.
             */
            private void overTls(Gatekeeper gatekeeper, Gatekeeper.Admitted request) throws Exception {
                var tls = context().channel().orElseThrow();
                try (SocketPair pair = SocketPair.open()) {
                    ChildReaper.Child child;
                    try {
                        child = children.startWithConnection(pair.right(), true,
                                program(environment(ListenAddress.Kind.TLS, request, null, context())));
                    } catch (IOException e) {
                        gatekeeper.log().error(e.getMessage() + " for " + request.remote.display());
                        return;
                    }
                    pair.right().close(); // the program holds its own copy
                    context().onCut(() -> {
                        child.signal(Posix.SIGTERM);
                        try {
                            pair.left().close();
                        } catch (IOException alreadyClosed) {
                            // nothing left to cut
                        }
                    });
                    EventLog log = gatekeeper.log();
                    log.pid(child.pid(), request.remote.ip().orElse(request.remote.display()));
                    log.ok(child.pid(), request.local, request.remote, Gatekeeper.tlsDetail(context()));
                    Relay.Side client = new Relay.Side(tls, tls::close, request());
                    Relay.Side program = new Relay.Side(pair.left(), pair.left()::shutdownOutput, pair.left());
                    Thread.ofVirtual().name("sockserve-exec-tls-input").start(
                            () -> Relay.fromClient(client, program, context()));
                    Relay.toClient(program, client, context());
                    log.end(child.pid(), awaitExit(child));
                }
            }
        };
    }

    private static int awaitExit(ChildReaper.Child child) throws InterruptedException {
        try {
            return child.exit().get();
        } catch (ExecutionException e) {
            throw new IllegalStateException("child " + child.pid() + ": " + e.getCause(), e.getCause());
        }
    }

    /** The handler for datagram listeners: one child per datagram; its output is the reply. */
    BaseRequestHandler<DatagramRequest> datagramHandler(ListenAddress.Kind kind) {
        return new BaseRequestHandler<>() {
            @Override
            protected void handle() throws Exception {
                Gatekeeper.Admitted request = Gatekeeper.admitted(context());
                EventLog log = request.gatekeeper.log();
                context().countBytes(request().data().length, 0);
                ChildProcesses.DatagramRun run;
                try {
                    run = children.runDatagram(program(environment(kind, request, null, context())), request().data(),
                            maxPacketSize, Optional.of(datagramTimeout), child -> {
                                context().onCut(() -> child.signal(Posix.SIGKILL));
                                log.pid(child.pid(), request.remote.ip().orElse(request.remote.display()));
                                log.ok(child.pid(), request.local, request.remote);
                            });
                } catch (IOException e) {
                    log.error(e.getMessage() + " for " + request.remote.display());
                    return;
                }
                log.end(run.pid(), run.waitStatus()); // the raw wait status, as tcpserver logs it
                if (run.timedOut()) {
                    log.warning(argv.get(0) + " for " + request.remote.display() + " did not end within --datagram-timeout "
                            + Durations.format(datagramTimeout) + ": killed with its process group; no reply sent");
                    return;
                }
                if (run.cut()) {
                    log.warning("the reply of " + argv.get(0) + " to " + request.remote.display()
                            + " is longer than the maximum packet size " + maxPacketSize + "; cut");
                }
                if (run.reply().length > 0) {
                    request().socket().send(ByteBuffer.wrap(run.reply()), clientAddress());
                    context().countBytes(0, run.reply().length);
                }
            }
        };
    }
}
