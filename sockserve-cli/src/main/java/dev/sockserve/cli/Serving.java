package dev.sockserve.cli;

import dev.sockserve.internal.ChildReaper;

import dev.sockserve.BaseRequestHandler;
import dev.sockserve.BaseServer;
import dev.sockserve.Concurrency;
import dev.sockserve.DatagramRequest;
import dev.sockserve.ServerGroup;
import dev.sockserve.ServerOptions;
import dev.sockserve.TcpServer;
import dev.sockserve.UdpServer;
import dev.sockserve.UnixDatagramServer;
import dev.sockserve.UnixStreamServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * The running command: its listeners (one core server each, all served from one thread by a
 * {@link ServerGroup}), their gatekeepers, and for {@code exec} the child reaper. {@link #serve()} runs
 * until {@link #stop()}, then closes every listener at once, lets running requests finish for the grace
 * period and ends the rest.
 */
final class Serving implements AutoCloseable {

    /** What to serve: a built-in service, or a program. */
    sealed interface What permits What.BuiltIn, What.Exec {
        record BuiltIn(Service service) implements What {
        }

        record Exec(List<String> argv, String localName) implements What {
        }
    }

    private final List<BaseServer<?>> servers = new ArrayList<>();
    private final List<ListenAddress.Kind> kinds = new ArrayList<>();
    private final ServerGroup group;
    private final ChildReaper reaper; // exec only
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final AtomicBoolean served = new AtomicBoolean();
    private volatile boolean stopRequested;

    /** Binds every listener; on a failure closes those already bound and throws. */
    Serving(What what, List<ListenAddress> listeners, ServeOptions options, AccessRules rules, EventLog log) {
        boolean exec = what instanceof What.Exec;
        int limit = options.limit != null ? options.limit : exec ? 40 : 0;
        ServeOptions.ConcurrencyChoice streams = options.concurrency != null ? options.concurrency
                : ServeOptions.ConcurrencyChoice.virtual;
        // a service answers a datagram at once: on the serving thread, not on a thread of its own, unless
        // the user chose a mode or a limit (exec's datagrams run a program each: they keep threads)
        ServeOptions.ConcurrencyChoice datagrams = exec || options.concurrency != null || options.limit != null ? streams
                : ServeOptions.ConcurrencyChoice.synchronous;
        ServerOptions serverOptions = ServerOptions.defaults()
                .allowReuseAddress(true) // a restarted server must not wait out TIME_WAIT
                .requestQueueSize(options.backlog)
                .maxPacketSize(options.maxPacketSize)
                .closeGracePeriod(options.grace)
                .writeTimeout(options.writeTimeout)
                .readSpin(options.readSpin);
        ChildReaper childReaper = null;
        try {
            if (exec) {
                childReaper = new ChildReaper("exec");
            }
            this.reaper = childReaper;
            for (ListenAddress listen : listeners) {
                String localName = what instanceof What.Exec e ? e.localName() : "";
                boolean isDatagram = listen.kind() == ListenAddress.Kind.UDP || listen.kind() == ListenAddress.Kind.UNIX_DGRAM;
                ServeOptions.ConcurrencyChoice choice = isDatagram ? datagrams : streams;
                Gatekeeper gatekeeper = new Gatekeeper(log, rules, Optional.ofNullable(options.perClient),
                        choice == ServeOptions.ConcurrencyChoice.synchronous ? 1 : limit, !exec,
                        !exec && listen.kind() == ListenAddress.Kind.UDP, localName);
                Supplier<? extends BaseRequestHandler<SocketChannel>> stream;
                Supplier<? extends BaseRequestHandler<DatagramRequest>> datagram;
                if (what instanceof What.Exec e) {
                    ExecProgram program = new ExecProgram(e.argv(), System.getenv(), e.localName(), childReaper,
                            options.maxPacketSize);
                    stream = () -> program.streamHandler(listen.kind());
                    datagram = () -> program.datagramHandler(listen.kind());
                } else {
                    Service service = ((What.BuiltIn) what).service();
                    stream = service.streamHandlers(options.readTimeout());
                    datagram = service.datagramHandlers();
                }
                servers.add(open(listen, stream, datagram, serverOptions.concurrency(concurrency(choice, limit))
                        .gate(gatekeeper).observer(gatekeeper)));
                kinds.add(listen.kind());
            }
            group = new ServerGroup(servers);
        } catch (RuntimeException | Error e) {
            closeAll();
            throw e;
        } catch (IOException e) {
            closeAll();
            throw new UncheckedIOException(e);
        }
    }

    private static Concurrency concurrency(ServeOptions.ConcurrencyChoice choice, int limit) {
        Concurrency concurrency = switch (choice) {
            case synchronous -> Concurrency.synchronous();
            case threads -> Concurrency.threads();
            case virtual -> Concurrency.virtualThreads();
        };
        return limit > 0 && choice != ServeOptions.ConcurrencyChoice.synchronous ? concurrency.limit(limit) : concurrency;
    }

    private static BaseServer<?> open(ListenAddress listen, Supplier<? extends BaseRequestHandler<SocketChannel>> stream,
            Supplier<? extends BaseRequestHandler<DatagramRequest>> datagram, ServerOptions options) {
        return switch (listen.kind()) {
            case TCP -> new TcpServer((InetSocketAddress) listen.address(), stream, options);
            case UNIX -> new UnixStreamServer((UnixDomainSocketAddress) listen.address(), stream, options);
            case UDP -> new UdpServer((InetSocketAddress) listen.address(), datagram, options);
            case UNIX_DGRAM -> new UnixDatagramServer((UnixDomainSocketAddress) listen.address(), datagram, options);
        };
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

    /** Stops accepting, from any thread; {@link #serve()} then lets running requests finish and returns. */
    void stop() {
        stopRequested = true;
        group.shutdown();
    }

    /** The second signal: ends every child at once. */
    void killChildren() {
        if (reaper != null) {
            reaper.killAll();
        }
    }

    /**
     * Closes every listener: the group refuses new clients at once on all of them, then lets their
     * requests finish side by side, so the grace period is paid once, not once per listener.
     */
    private void closeAll() {
        if (group != null) {
            group.close();
        }
        if (reaper != null) {
            reaper.close(); // children still running after the grace period: SIGTERM, then SIGKILL
        }
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
