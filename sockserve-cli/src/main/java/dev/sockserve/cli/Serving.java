package dev.sockserve.cli;

import dev.sockserve.internal.ChildProcesses;

import dev.sockserve.BaseRequestHandler;
import dev.sockserve.BaseServer;
import dev.sockserve.Concurrency;
import dev.sockserve.DatagramRequest;
import dev.sockserve.ServerGroup;
import dev.sockserve.ServerOptions;
import dev.sockserve.TcpServer;
import dev.sockserve.Tls;
import dev.sockserve.UdpServer;
import dev.sockserve.UnixDatagramServer;
import dev.sockserve.UnixStreamServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.LinkedHashMap;
import java.util.Map;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * The running command: its listeners (one core server each, all served from one thread by a
 * {@link ServerGroup}), their gatekeepers, and for {@code exec} the child reaper. {@link #serve()} runs
 * until {@link #stop()}, which stops new clients at once; then it serves the clients already queued, closes
 * every listener, lets running requests finish for the grace period and ends the rest.
 */
final class Serving implements AutoCloseable {

    /** What to serve: a built-in service, or a program. */
    sealed interface What permits What.BuiltIn, What.Exec, What.Relay {
        record BuiltIn(Service service) implements What {
        }

        /** {@code forward}: each connection relayed to an upstream. */
        record Relay(Forward forward) implements What {
        }

        record Exec(List<String> argv, String localName, Duration datagramTimeout) implements What {
        }
    }

    private final List<BaseServer<?>> servers = new ArrayList<>();
    private final List<ListenAddress.Kind> kinds = new ArrayList<>();
    private final ServerGroup group;
    private final ChildProcesses children; // exec only
    private final Operations ops;
    private final AccessRules rules;
    private final Optional<Tls> tls;
    private final EventLog log;
    private final Map<Path, Object> socketFiles = new LinkedHashMap<>(); // path -> device and inode, as created
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final AtomicBoolean served = new AtomicBoolean();
    private volatile boolean stopRequested;

    /**
     * Binds every listener; on a failure closes those already bound (removing their socket files) and
     * throws. The options were checked by {@link ServeOptions#serverOptions}.
     */
    Serving(What what, List<ListenAddress> listeners, ServeOptions options, AccessRules rules, EventLog log) {
        boolean exec = what instanceof What.Exec;
        this.rules = rules;
        this.log = log;
        this.tls = options.tls();
        options.checkListeners(listeners);
        ServerOptions serverOptions = options.serverOptions(exec);
        int limit = options.limit != null ? options.limit : exec ? ServeOptions.EXEC_LIMIT : 0;
        // a service answers a datagram at once: on the serving thread, not on a thread of its own, unless
        // the user chose a mode or a limit (exec's datagrams run a program each: they keep threads)
        boolean datagramsOnServingThread = what instanceof What.BuiltIn && options.concurrency == null && options.limit == null;
        ChildProcesses execChildren = null;
        this.ops = new Operations(options.ops, log);
        List<Operations.Refusals> refusals = new ArrayList<>();
        try {
            if (exec) {
                execChildren = new ChildProcesses("exec");
            }
            this.children = execChildren;
            for (ListenAddress listen : listeners) {
                String localName = what instanceof What.Exec e ? e.localName() : "";
                java.util.concurrent.atomic.AtomicReference<String> name = new java.util.concurrent.atomic.AtomicReference<>(
                        listen.toString()); // the address as bound once the server is open (port 0)
                boolean synchronous = options.concurrency == ServeOptions.ConcurrencyChoice.synchronous
                        || datagramsOnServingThread && !listen.kind().stream();
                Gatekeeper gatekeeper = new Gatekeeper(log.forListener(name::get), rules, Optional.ofNullable(options.perClient),
                        synchronous ? 1 : limit, !exec,
                        !exec && listen.kind() == ListenAddress.Kind.UDP, localName);
                Supplier<? extends BaseRequestHandler<SocketChannel>> stream;
                Supplier<? extends BaseRequestHandler<DatagramRequest>> datagram;
                if (what instanceof What.Exec e) {
                    ExecProgram program = new ExecProgram(e.argv(), SocketActivation.withoutVariables(System.getenv()),
                            e.localName(), execChildren, options.maxPacketSize, e.datagramTimeout());
                    stream = () -> program.streamHandler(listen.kind());
                    datagram = () -> program.datagramHandler(listen.kind());
                } else if (what instanceof What.Relay relay) {
                    if (!listen.kind().stream()) {
                        throw new IllegalArgumentException("forward relays connections; " + listen + " is a datagram "
                                + "listener");
                    }
                    stream = relay.forward()::handler;
                    datagram = () -> {
                        throw new IllegalStateException("forward has no datagram handler");
                    };
                } else {
                    Service service = ((What.BuiltIn) what).service();
                    stream = service.streamHandlers(options.readTimeout());
                    datagram = service.datagramHandlers();
                }
                Operations.Refusals counts = new Operations.Refusals();
                refusals.add(counts);
                ServerOptions listenerOptions = ops.listener(serverOptions, listen, counts).gate(gatekeeper)
                        .observer(gatekeeper);
                if (synchronous) {
                    listenerOptions = listenerOptions.concurrency(Concurrency.synchronous());
                }
                if (listen.kind() == ListenAddress.Kind.TLS) {
                    listenerOptions = listenerOptions.tls(options.tls().orElseThrow());
                }
                if (listen.kind() == ListenAddress.Kind.UDP) {
                    // SO_REUSEADDR (good for TCP's TIME_WAIT) would let a second server share a UDP port unnoticed
                    listenerOptions = listenerOptions.allowReuseAddress(false);
                }
                if ((options.scale.reusePort || options.scale.isWorker()) && listen.address() instanceof InetSocketAddress) {
                    listenerOptions = listenerOptions.allowReusePort(true); // --workers: the kernel spreads clients
                }
                if (listen.kind().stream() && options.proxy().isPresent()) {
                    listenerOptions = listenerOptions.proxyProtocol(options.proxy().get());
                }
                BaseServer<?> server = open(listen, stream, datagram, listenerOptions);
                servers.add(server);
                kinds.add(listen.kind());
                name.set(ListenAddress.describe(listen.kind(), server.serverAddress()));
                if (server.serverAddress() instanceof UnixDomainSocketAddress unix
                        && SocketActivation.inheritedFor(listen).isEmpty()) { // an inherited socket's file is not ours
                    socketFiles.put(unix.getPath(), fileKey(unix.getPath()));
                }
            }
            group = new ServerGroup(servers);
            ops.bound(servers, boundAddresses(), refusals);
        } catch (RuntimeException | Error e) {
            closeOpened();
            throw e;
        } catch (IOException e) {
            closeOpened();
            throw new UncheckedIOException(e);
        }
    }

    private static BaseServer<?> open(ListenAddress listen, Supplier<? extends BaseRequestHandler<SocketChannel>> stream,
            Supplier<? extends BaseRequestHandler<DatagramRequest>> datagram, ServerOptions options) {
        SocketActivation.Inherited inherited = SocketActivation.inheritedFor(listen).orElse(null);
        if (inherited != null) {
            return switch (inherited.channel()) {
                case java.nio.channels.ServerSocketChannel listening -> new TcpServer(listening, stream, options);
                case java.nio.channels.DatagramChannel bound -> new UdpServer(bound, datagram, options);
                case null -> new UnixDatagramServer(inherited.fd(), datagram, options);
                default -> throw new IllegalStateException("inherited " + inherited.channel());
            };
        }
        return switch (listen.kind()) {
            case TCP, TLS -> new TcpServer((InetSocketAddress) listen.address(), stream, options);
            case UNIX -> new UnixStreamServer((UnixDomainSocketAddress) listen.address(), stream, options);
            case UDP -> new UdpServer((InetSocketAddress) listen.address(), datagram, options);
            case UNIX_DGRAM -> new UnixDatagramServer((UnixDomainSocketAddress) listen.address(), datagram, options);
        };
    }

    private static Object fileKey(Path path) {
        try {
            return Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        } catch (IOException e) {
            return null;
        }
    }

    /** A start-up that failed part-way: every listener opened so far closes and removes its socket file. */
    private void closeOpened() {
        for (BaseServer<?> server : servers) {
            try {
                server.serverClose();
            } catch (RuntimeException e) {
                log.warning("closing " + server.serverAddress() + " after a failed start: " + e.getMessage());
            }
        }
        removeSocketFiles();
        if (children != null) {
            children.close();
        }
        ops.close();
    }

    /**
     * Removes the Unix socket files this command created and that are still the same files (same device
     * and inode): the path of the second signal, which cannot wait for the servers to close.
     */
    void removeSocketFiles() {
        socketFiles.forEach((path, key) -> {
            if (key != null && key.equals(fileKey(path))) {
                try {
                    Files.deleteIfExists(path);
                } catch (IOException e) {
                    log.warning("cannot remove " + path + ": " + Formats.reason(e));
                }
            }
        });
    }

    /**
     * SIGHUP: reads the rules file and the TLS certificate, key and CA files again; a file that fails to
     * load leaves what was loaded before (one line names the file and the reason). Open connections keep
     * what they started with.
     */
    void reload() {
        if (rules.file().isEmpty() && tls.isEmpty()) {
            log.warning("SIGHUP: there is no --rules file and no TLS file to read again");
            return;
        }
        rules.file().ifPresent(file -> {
            try {
                rules.reload();
                log.info("SIGHUP: read the rules in " + file + " again");
            } catch (IllegalArgumentException e) {
                log.warning("SIGHUP: kept the rules as they were: " + e.getMessage());
            }
        });
        tls.ifPresent(t -> {
            try {
                t.reload();
                log.info("SIGHUP: read the TLS certificates and keys again");
            } catch (IOException e) {
                log.warning("SIGHUP: kept the TLS certificates and keys as they were: " + e.getMessage());
            }
        });
    }

    /** The operator's side: the metrics endpoint's address. */
    Operations ops() {
        return ops;
    }

    /** The addresses as bound, with their real ports: {@code tcp://127.0.0.1:7007}. */
    List<String> boundAddresses() {
        List<String> bound = new ArrayList<>();
        for (int i = 0; i < servers.size(); i++) {
            bound.add(ListenAddress.describe(kinds.get(i), servers.get(i).serverAddress()));
        }
        return bound;
    }

    /** Serves until {@link #stop()}, then closes gracefully; returns when everything has ended. */
    /**
     * For the command's own process only (it starts no other children): what exec's programs leave running
     * is re-parented to it and ends with it, rather than living on under PID 1 ({@link ChildProcesses#adoptOrphans}).
     */
    void adoptOrphans() {
        if (children != null) {
            try {
                children.adoptOrphans();
            } catch (IOException | RuntimeException e) {
                log.warning("processes the programs leave running will outlive the command: " + e.getMessage());
            }
        }
    }

    void serve() {
        if (!served.compareAndSet(false, true)) {
            throw new IllegalStateException("already served");
        }
        try {
            if (!stopRequested) {
                group.serveForever();
            }
        } finally {
            closeAll();
            stopped.countDown();
        }
    }

    /**
     * Stops accepting, from any thread: new clients stop reaching the listeners at once; {@link #serve()}
     * then takes every client already queued, lets running requests finish and returns.
     */
    void stop() {
        stopRequested = true;
        group.stopArrivals();
        group.shutdown();
    }

    /** The second signal: ends every child, with its process group, at once. */
    void killChildren() {
        if (children != null) {
            children.killAll();
        }
    }

    /**
     * Closes every listener: the group refuses new clients at once on all of them, then lets their
     * requests finish side by side, so the grace period is paid once, not once per listener.
     */
    private void closeAll() {
        if (group != null) {
            group.drain(); // closing a listener would reset the clients in its queue: they are served first
        }
        if (children != null) {
            children.close(); // children still running after the grace period: SIGTERM, then SIGKILL, to each group
        }
        removeSocketFiles(); // the servers removed theirs; this catches one whose close failed
        ops.close();
        log.flushRepeats();
    }

    /** Stops and waits until everything has ended (gracefully, as {@link #serve()} does). */
    @Override
    public void close() {
        stop();
        if (served.compareAndSet(false, true)) {
            closeAll();
            stopped.countDown();
            return;
        }
        boolean interrupted = false;
        while (stopped.getCount() > 0) {
            try {
                stopped.await();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
