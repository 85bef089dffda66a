package dev.sockserve;

import dev.sockserve.internal.Addresses;
import dev.sockserve.internal.ChildProcesses;
import dev.sockserve.internal.ChildReaper;
import java.io.File;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The parent side of {@link Concurrency#processes(int)}: runs a child JVM ({@link ForkedRequest}) per
 * request through {@link ChildProcesses}, the path {@code sockserve exec} shares. A connection is handed
 * over itself (its descriptor becomes the child's standard input), so no byte passes through the
 * server; a datagram is the child's standard input and its standard output is the reply, cut to
 * {@link ServerOptions#maxPacketSize()}. The child's exit status tells how the request went
 * ({@link ForkedRequest}'s codes); anything but success is logged with it.
 */
final class ChildProcessDispatch implements AutoCloseable {

    private static final System.Logger LOG = BaseServer.LOG;

    private final BaseServer<?> server;
    private final List<String> command;
    private final List<String> environment;
    private final ChildProcesses children;

    /**
     * @param handlerFactory the server's factory, which must know its handler's class (the
     *     {@code Forking*} servers' constructors make such a one): the child makes the handler from it
     */
    ChildProcessDispatch(BaseServer<?> server, Supplier<?> handlerFactory, List<String> jvmOptions) throws IOException {
        if (!(handlerFactory instanceof HandlerClass<?> handler)) {
            throw new IllegalArgumentException("the processes() policy makes each handler in a child JVM from its "
                    + "class, so give the class rather than a factory: for example new ForkingTcpServer(address, "
                    + "MyHandler.class, options)");
        }
        this.server = server;
        Class<?> handlerClass = handler.type();
        List<String> argv = new ArrayList<>();
        argv.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        argv.add("--enable-native-access=ALL-UNNAMED");
        argv.addAll(jvmOptions);
        argv.add("-cp");
        argv.add(classPath(handlerClass));
        argv.add(ForkedRequest.class.getName());
        argv.add(server.socketType() == SocketType.STREAM ? ForkedRequest.STREAM : ForkedRequest.DATAGRAM);
        argv.add(handlerClass.getName());
        argv.add(server.addressFamily().toString());
        argv.add(server.transportName());
        this.command = List.copyOf(argv);
        this.environment = System.getenv().entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList();
        this.children = new ChildProcesses("children");
    }

    /** Everything this JVM loads classes from, so the child finds the handler and the library. */
    private static String classPath(Class<?> handlerClass) {
        Set<String> entries = new LinkedHashSet<>();
        for (Class<?> c : List.of(handlerClass, ForkedRequest.class)) {
            var source = c.getProtectionDomain().getCodeSource();
            if (source != null) {
                entries.add(Path.of(java.net.URI.create(source.getLocation().toString())).toString());
            }
        }
        for (String property : List.of("java.class.path", "jdk.module.path")) {
            String value = System.getProperty(property, "");
            for (String entry : value.split(File.pathSeparator)) {
                if (!entry.isBlank()) {
                    entries.add(entry);
                }
            }
        }
        return String.join(File.pathSeparator, entries);
    }

    private ChildProcesses.Program program(SocketAddress client, boolean truncated) {
        List<String> argv = new ArrayList<>(command);
        argv.add(Addresses.encode(server.serverAddress()));
        argv.add(Addresses.encode(client));
        argv.add(Integer.toString(server.options().maxPacketSize()));
        argv.add(Long.toString(server.options().writeTimeout().map(Duration::toMillis).orElse(-1L)));
        argv.add(Boolean.toString(truncated));
        return new ChildProcesses.Program(argv.get(0), argv, environment);
    }

    /** Starts the child for a connection; {@code onEnd} runs (on the reaper's thread) when it exits. */
    void startStream(SocketChannel connection, SocketAddress client, Consumer<SocketChannel> onEnd)
            throws IOException {
        ChildReaper.Child child = children.startWithConnection(connection, false, program(client, false));
        child.exit().whenComplete((status, error) -> {
            logExit(child.pid(), client, status == null ? -1 : status);
            onEnd.accept(connection);
        });
    }

    /** Runs the child for a datagram on the calling (virtual) thread and sends its output back. */
    void runDatagram(DatagramRequest request, SocketAddress client) throws IOException, InterruptedException {
        int max = server.options().maxPacketSize();
        ChildProcesses.DatagramRun run = children.runDatagram(program(client, request.truncated()), request.data(),
                max, Optional.empty(), child -> { });
        logExit(run.pid(), client, run.waitStatus());
        if (run.cut()) {
            LOG.log(Level.WARNING, "the reply of child " + run.pid() + " to " + Addresses.describe(client) + " on "
                    + server.where() + " was longer than maxPacketSize " + max + " bytes: cut to " + max);
        }
        if (run.reply().length > 0 || server.options().sendEmptyReplies()) {
            request.socket().send(ByteBuffer.wrap(run.reply()), client);
        }
    }

    private void logExit(long pid, SocketAddress client, int waitStatus) {
        if (waitStatus == 0) {
            return;
        }
        String what = "child " + pid + " for " + Addresses.describe(client) + " on " + server.where() + ": ";
        if (waitStatus == ForkedRequest.EXIT_EXCEPTION << 8) { // the child's handleError has reported it
            LOG.log(Level.DEBUG, () -> what + "the handler threw an exception (exit 1)");
            return;
        }
        String how = switch (waitStatus == -1 ? -1 : waitStatus & 0x7f) {
            case -1 -> "its end could not be learnt";
            case 0 -> switch ((waitStatus >> 8) & 0xff) {
                case ForkedRequest.EXIT_ERROR -> "the handler threw an Error (exit 2)";
                case ForkedRequest.EXIT_CANNOT_RUN -> "the child could not run the request (exit 4)";
                default -> "it ended with " + ChildProcesses.describe(waitStatus);
            };
            default -> "it was ended by " + ChildProcesses.describe(waitStatus);
        };
        LOG.log(Level.WARNING, what + how);
    }

    @Override
    public void close() {
        children.close();
    }
}
