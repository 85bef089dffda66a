package dev.sockserve.cli;

import dev.sockserve.internal.Posix;
import dev.sockserve.internal.SocketFd;
import dev.sockserve.internal.ChildReaper;

import dev.sockserve.BaseRequestHandler;
import dev.sockserve.DatagramRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.regex.Pattern;

/**
 * {@code sockserve exec}: runs a program per connection (or per datagram), the UCSPI way.
 *
 * <p>On a stream listener the program gets the accepted socket itself as its standard input and output
 * (started with {@code posix_spawn} through the core's native layer): no bytes pass through the server, which is
 * what makes it as fast as tcpserver. The client's end-of-file is the program's end of input; when the
 * program ends, the server shuts the connection down, so the client sees end-of-file even if a
 * grandchild still holds the socket. On a datagram listener the datagram is the program's input and
 * its output, up to the maximum packet size, is the reply.
 */
final class ExecProgram {

    /** Variables that describe a connection: removed from the inherited environment, never left stale. */
    private static final Pattern UCSPI_VARIABLE = Pattern.compile("PROTO|(TCP6?|UDP|UNIX)(LOCAL|REMOTE)[A-Z]*");

    private final List<String> argv;
    private final String executable;
    private final Map<String, String> baseEnvironment;
    private final String localName; // TCPLOCALHOST, if given with -l
    private final ChildReaper reaper;
    private final int maxPacketSize;

    ExecProgram(List<String> argv, Map<String, String> inherited, String localName, ChildReaper reaper,
            int maxPacketSize) {
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
        this.reaper = reaper;
        this.maxPacketSize = maxPacketSize;
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

    /** The program's environment for one request. */
    Map<String, String> environment(ListenAddress.Kind kind, Gatekeeper.Admitted request, Posix.PeerCredentials peer) {
        Map<String, String> env = new LinkedHashMap<>(baseEnvironment);
        String proto = switch (kind) {
            case TCP, TLS -> "TCP";
            case UDP -> "UDP";
            case UNIX, UNIX_DGRAM -> "UNIX";
        };
        env.put("PROTO", proto);
        if (kind == ListenAddress.Kind.TCP || kind == ListenAddress.Kind.UDP) {
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
        env.putAll(request.settings); // the rules' VAR=value, as tcpserver applies them: last
        return env;
    }

    private static List<String> asStrings(Map<String, String> env) {
        List<String> list = new ArrayList<>(env.size());
        env.forEach((name, value) -> list.add(name + "=" + value));
        return list;
    }

    /** The handler for stream listeners: one child per connection, holding the socket itself. */
    BaseRequestHandler<SocketChannel> streamHandler(ListenAddress.Kind kind) {
        return new BaseRequestHandler<>() {
            @Override
            protected void handle() throws Exception {
                Gatekeeper.Admitted request = Gatekeeper.admitted(context());
                Gatekeeper gatekeeper = request.gatekeeper;
                SocketChannel connection = request();
                int fd = SocketFd.of(connection);
                Posix.makeBlocking(fd);
                Posix.PeerCredentials peer = kind == ListenAddress.Kind.UNIX ? Posix.peerCredentials(fd) : null;
                int pid;
                try {
                    pid = Posix.spawnWithSocket(fd, true, executable, argv, asStrings(environment(kind, request, peer)));
                } catch (IOException e) {
                    gatekeeper.log().error(e.getMessage() + " for " + request.remote.display());
                    return;
                }
                ChildReaper.Child child = reaper.watch(pid);
                context().onCut(() -> {
                    try { // both directions: the child holds the same socket and must see the end too
                        connection.shutdownInput();
                        connection.shutdownOutput();
                    } catch (IOException alreadyClosed) {
                        // nothing left to cut
                    }
                    child.signal(Posix.SIGTERM);
                });
                EventLog log = gatekeeper.log();
                log.pid(pid, request.remote.ip().orElse(request.remote.display()));
                log.ok(pid, request.local, request.remote);
                int status = awaitExit(child);
                log.end(pid, status);
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
                ProcessBuilder builder = new ProcessBuilder(argv).redirectError(ProcessBuilder.Redirect.INHERIT);
                builder.environment().clear();
                builder.environment().putAll(environment(kind, request, null));
                Process process;
                try {
                    process = builder.start();
                } catch (IOException e) {
                    log.error("cannot run " + argv.get(0) + ": " + e.getMessage());
                    return;
                }
                context().onCut(process::destroyForcibly);
                log.pid(process.pid(), request.remote.ip().orElse(request.remote.display()));
                log.ok(process.pid(), request.local, request.remote);
                byte[] reply;
                try (OutputStream in = process.getOutputStream()) {
                    in.write(request().data());
                } catch (IOException programDidNotRead) {
                    // a program may answer without reading its input
                }
                try (InputStream out = process.getInputStream()) {
                    reply = out.readNBytes(maxPacketSize);
                    if (out.transferTo(OutputStream.nullOutputStream()) > 0) {
                        log.warning("the reply of " + argv.get(0) + " to " + request.remote.display()
                                + " is longer than the maximum packet size " + maxPacketSize + "; cut");
                    }
                }
                int exit = process.waitFor();
                // tcpserver logs the raw wait status; the JDK reports a signal as 128 + its number
                log.end(process.pid(), exit > 128 ? exit - 128 : exit << 8);
                if (reply.length > 0) {
                    request().socket().send(ByteBuffer.wrap(reply), clientAddress());
                }
            }
        };
    }
}
