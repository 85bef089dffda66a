package dev.sockserve;

import dev.sockserve.internal.Addresses;
import dev.sockserve.internal.ChildReaper;
import dev.sockserve.internal.Posix;
import dev.sockserve.internal.SocketFd;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.lang.reflect.Modifier;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * The parent side of {@link Concurrency#processes(int)}: starts a child JVM per request and ends the
 * request when the child exits. A connection is handed over itself (its descriptor becomes the child's
 * standard input, through {@code posix_spawn}), so no byte passes through the server; a datagram goes
 * through the child's standard input and the reply comes back on its standard output. Children are
 * reaped by one platform thread as they end, and only this server's own.
 */
final class ChildProcessDispatch implements AutoCloseable {

    private static final System.Logger LOG = BaseServer.LOG;

    private final BaseServer<?> server;
    private final List<String> command;
    private final ChildReaper reaper;
    private final Map<Object, ChildReaper.Child> streamChildren = new ConcurrentHashMap<>();
    private final Map<Object, Process> datagramChildren = new ConcurrentHashMap<>();

    ChildProcessDispatch(BaseServer<?> server, Class<?> handlerClass, List<String> jvmOptions) throws IOException {
        this.server = server;
        checkInstantiable(handlerClass);
        if (server.socketType() == SocketType.STREAM) {
            SocketFd.check();
        }
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
        this.command = List.copyOf(argv);
        this.reaper = server.socketType() == SocketType.STREAM ? new ChildReaper("children") : null;
    }

    private static void checkInstantiable(Class<?> type) {
        boolean ok = Modifier.isPublic(type.getModifiers()) && !type.isAnonymousClass() && !type.isLocalClass()
                && (type.getEnclosingClass() == null || Modifier.isStatic(type.getModifiers()));
        try {
            ok = ok && Modifier.isPublic(type.getConstructor().getModifiers());
        } catch (NoSuchMethodException e) {
            ok = false;
        }
        if (!ok) {
            throw new IllegalArgumentException("the processes() policy runs the handler in a new JVM, so "
                    + type.getName() + " must be a public top-level or static nested class with a public "
                    + "no-argument constructor (a lambda handler cannot be used)");
        }
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

    private List<String> argv(SocketAddress client, boolean truncated) {
        List<String> argv = new ArrayList<>(command);
        argv.add(Addresses.encode(server.serverAddress()));
        argv.add(Addresses.encode(client));
        argv.add(Integer.toString(server.options().maxPacketSize()));
        argv.add(Long.toString(server.options().writeTimeout().map(Duration::toMillis).orElse(-1L)));
        argv.add(Boolean.toString(truncated));
        return argv;
    }

    /** Starts the child for a connection; {@code onEnd} runs (on the reaper's thread) when it exits. */
    void startStream(SocketChannel connection, SocketAddress client, Consumer<SocketChannel> onEnd)
            throws IOException {
        int fd = SocketFd.of(connection);
        Posix.makeBlocking(fd); // the child's JVM expects a blocking socket, as after accept(2)
        List<String> environment = System.getenv().entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                .toList();
        List<String> argv = argv(client, false);
        int pid = Posix.spawnWithSocket(fd, false, argv.get(0), argv, environment);
        ChildReaper.Child child = reaper.watch(pid);
        streamChildren.put(connection, child);
        child.exit().whenComplete((status, error) -> {
            streamChildren.remove(connection);
            logExit(pid, client, status == null ? -1 : status);
            onEnd.accept(connection);
        });
    }

    /** Runs the child for a datagram on the calling (virtual) thread and sends its output back. */
    void runDatagram(DatagramRequest request, SocketAddress client) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(argv(client, request.truncated()))
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        datagramChildren.put(request, process);
        try {
            try (OutputStream in = process.getOutputStream()) {
                in.write(request.data());
            } catch (IOException childGone) {
                // the handler did not read its datagram: its exit status tells the rest
            }
            byte[] reply;
            try (InputStream out = process.getInputStream()) {
                reply = out.readNBytes(server.options().maxPacketSize() + 1);
                out.transferTo(OutputStream.nullOutputStream());
            }
            int status = process.waitFor();
            logExit(process.pid(), client, status << 8);
            if (reply.length > server.options().maxPacketSize()) {
                LOG.log(Level.WARNING, "the reply to " + Addresses.describe(client) + " is longer than maxPacketSize "
                        + server.options().maxPacketSize() + "; not sent");
            } else if (reply.length > 0 || server.options().sendEmptyReplies()) {
                request.socket().send(ByteBuffer.wrap(reply), client);
            }
        } finally {
            datagramChildren.remove(request);
        }
    }

    private void logExit(long pid, SocketAddress client, int waitStatus) {
        if (waitStatus != 0) {
            String how = (waitStatus & 0x7f) != 0 ? "was killed by signal " + (waitStatus & 0x7f)
                    : "exited with status " + ((waitStatus >> 8) & 0xff);
            LOG.log(Level.WARNING, "child " + pid + " for " + Addresses.describe(client) + " on " + server.where()
                    + " " + how);
        }
    }

    int running() {
        return streamChildren.size() + datagramChildren.size();
    }

    /** Ends every child still running: SIGTERM, then SIGKILL after a short while. */
    void endAll() {
        datagramChildren.values().forEach(Process::destroyForcibly);
        if (reaper != null) {
            reaper.endAll(Duration.ofSeconds(1));
        }
    }

    @Override
    public void close() {
        endAll();
        if (reaper != null) {
            reaper.close();
        }
    }
}
