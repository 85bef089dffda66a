package dev.sockserve;

import dev.sockserve.internal.UnixDatagramSocket;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * The transports the behavioural suite runs over, each with a server factory and a client: the test kit's
 * matrix, with {@link Policy}, reused by the command's tests. Servers are built with a gate and an
 * observer ({@link Hooks}), never by subclassing.
 */
public enum Transport {
    TCP4, TCP6, UDP4, UDP6, UNIX_STREAM, UNIX_DGRAM;

    private static final AtomicInteger CLIENTS = new AtomicInteger();

    public boolean stream() {
        return this == TCP4 || this == TCP6 || this == UNIX_STREAM;
    }

    /** The transport a bound address belongs to. */
    public static Transport of(SocketAddress address, boolean stream) {
        if (address instanceof UnixDomainSocketAddress) {
            return stream ? UNIX_STREAM : UNIX_DGRAM;
        }
        boolean v6 = ((InetSocketAddress) address).getAddress() instanceof java.net.Inet6Address;
        return stream ? (v6 ? TCP6 : TCP4) : (v6 ? UDP6 : UDP4);
    }

    /** A handler body that works for both kinds: the connection's or the datagram's streams. */
    @FunctionalInterface
    public interface Body {
        void run(InputStream in, OutputStream out) throws Exception;
    }

    /**
     * A body a child JVM can run too: it names public handler classes with public no-argument constructors,
     * which is what {@link Concurrency#processes(int)} needs. The suite generates the processes() rows only
     * for tests whose bodies are of this kind.
     */
    public interface ForkableBody extends Body {
        Class<? extends StreamRequestHandler> streamHandler();

        Class<? extends DatagramRequestHandler> datagramHandler();
    }

    /** Line echo for streams (one line per connection, as CPython's test), whole-datagram echo for datagrams. */
    public static final ForkableBody ECHO = new ForkableBody() {
        @Override
        public void run(InputStream in, OutputStream out) throws IOException {
            echo(in, out);
        }

        @Override
        public Class<? extends StreamRequestHandler> streamHandler() {
            return EchoStream.class;
        }

        @Override
        public Class<? extends DatagramRequestHandler> datagramHandler() {
            return EchoDatagram.class;
        }
    };

    private static void echo(InputStream in, OutputStream out) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            line.write(b);
            if (b == '\n') {
                break;
            }
        }
        out.write(line.toByteArray());
    }

    /** {@link #ECHO} as a handler class, for a child JVM. */
    public static final class EchoStream extends StreamRequestHandler {
        @Override
        protected void handle() throws IOException {
            echo(rfile(), wfile());
        }
    }

    /** {@link #ECHO} as a datagram handler class, for a child JVM. */
    public static final class EchoDatagram extends DatagramRequestHandler {
        @Override
        protected void handle() throws IOException {
            echo(rfile(), wfile());
        }
    }

    /**
     * What the tests observe of a server through its options (a gate and an observer, no subclass);
     * override {@link #verify} to refuse clients.
     */
    public static class Hooks implements RequestObserver {
        public final AtomicInteger accepted = new AtomicInteger();
        public final AtomicInteger verified = new AtomicInteger();
        public final AtomicInteger refused = new AtomicInteger();
        /** Requests ended (after {@code shutdownRequest}), whatever the reason. */
        public final AtomicInteger shutdownRequests = new AtomicInteger();
        /** Requests that ended with an {@link Exception} from the handler (what {@code handleError} gets). */
        public final AtomicInteger handledErrors = new AtomicInteger();
        public final Map<RequestEnd.Reason, AtomicInteger> endedBy = new ConcurrentHashMap<>();
        public volatile Throwable lastError;

        public boolean verify(SocketAddress client) {
            return true;
        }

        public ServerOptions addTo(ServerOptions options) {
            return options.gate(request -> verify(request.clientAddress()) ? Optional.empty() : Optional.of("test"))
                    .observer(this);
        }

        public int endedBy(RequestEnd.Reason reason) {
            AtomicInteger n = endedBy.get(reason);
            return n == null ? 0 : n.get();
        }

        @Override
        public void accepted(RequestContext request) {
            accepted.incrementAndGet();
        }

        @Override
        public void verified(RequestContext request) {
            verified.incrementAndGet();
        }

        @Override
        public void refused(RequestContext request, String reason) {
            refused.incrementAndGet();
        }

        @Override
        public void ended(RequestContext request, RequestEnd end) {
            end.error().filter(Exception.class::isInstance).ifPresent(error -> {
                lastError = error;
                handledErrors.incrementAndGet();
            });
            endedBy.computeIfAbsent(end.reason(), r -> new AtomicInteger()).incrementAndGet();
            shutdownRequests.incrementAndGet();
        }
    }

    /** Loopback port 0, or {@code server.sock} in {@code dir}. */
    public SocketAddress address(Path dir) {
        return switch (this) {
            case TCP4, UDP4 -> new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
            case TCP6, UDP6 -> new InetSocketAddress("::1", 0);
            case UNIX_STREAM, UNIX_DGRAM -> UnixDomainSocketAddress.of(dir.resolve("server.sock"));
        };
    }

    public BaseServer<?> server(Path dir, Body body, ServerOptions options) {
        return server(dir, body, options, new Hooks());
    }

    public BaseServer<?> server(Path dir, Body body, ServerOptions options, Hooks hooks) {
        return server(address(dir), body, options, hooks);
    }

    /**
     * A server of this transport running {@code body} under the options' policy. Under processes() the
     * body must be a {@link ForkableBody}, whose handler classes the child JVM runs.
     */
    public BaseServer<?> server(SocketAddress address, Body body, ServerOptions options, Hooks hooks) {
        ServerOptions observed = hooks.addTo(options);
        if (options.concurrency().map(c -> c.mode() == Concurrency.Mode.PROCESSES).orElse(false)) {
            if (!(body instanceof ForkableBody forkable)) {
                throw new IllegalArgumentException("processes() runs the handler in a child JVM: give a ForkableBody");
            }
            return switch (this) { // the Forking servers take the handler's class: the child JVM makes it
                case TCP4, TCP6 -> new ForkingTcpServer((InetSocketAddress) address, forkable.streamHandler(), observed);
                case UNIX_STREAM -> new ForkingUnixStreamServer((UnixDomainSocketAddress) address, forkable.streamHandler(),
                        observed);
                case UDP4, UDP6 -> new ForkingUdpServer((InetSocketAddress) address, forkable.datagramHandler(), observed);
                case UNIX_DGRAM -> new ForkingUnixDatagramServer((UnixDomainSocketAddress) address,
                        forkable.datagramHandler(), observed);
            };
        }
        Supplier<? extends StreamRequestHandler> streamHandler = StreamRequestHandler.of(h -> body.run(h.rfile(), h.wfile()));
        Supplier<? extends DatagramRequestHandler> datagramHandler =
                DatagramRequestHandler.of(h -> body.run(h.rfile(), h.wfile()));
        return switch (this) {
            case TCP4, TCP6 -> new TcpServer((InetSocketAddress) address, streamHandler, observed);
            case UNIX_STREAM -> new UnixStreamServer((UnixDomainSocketAddress) address, streamHandler, observed);
            case UDP4, UDP6 -> new UdpServer((InetSocketAddress) address, datagramHandler, observed);
            case UNIX_DGRAM -> new UnixDatagramServer((UnixDomainSocketAddress) address, datagramHandler, observed);
        };
    }

    /** A client of this transport. */
    public interface Client extends AutoCloseable {
        void send(byte[] data) throws IOException;

        /** Stream: reads until end-of-file. Datagram: one datagram. */
        byte[] receive() throws IOException;

        /** Sends, accepting that the server may already have ended the connection (it rejects at once). */
        default void sendMaybeEnded(byte[] data) throws IOException {
            try {
                send(data);
                finishSending();
            } catch (IOException e) {
                String m = String.valueOf(e.getMessage());
                if (!m.contains("Broken pipe") && !m.contains("Connection reset")) {
                    throw e;
                }
            }
        }

        /**
         * Stream: true when the server ended the connection without a reply (end-of-file, or a reset when
         * it closed with our bytes unread, as TCP does). Datagram: not used.
         */
        default boolean endedWithoutReply() throws IOException {
            try {
                return receive().length == 0;
            } catch (java.net.SocketException e) {
                if (String.valueOf(e.getMessage()).contains("Connection reset")) {
                    return true;
                }
                throw e;
            }
        }

        /** Stream: closes the write side so the server reads end-of-file; nothing for datagrams. */
        default void finishSending() throws IOException {
        }

        @Override
        void close() throws IOException;
    }

    public Client client(BaseServer<?> server, Path dir) throws IOException {
        return client(server.serverAddress(), dir);
    }

    /** A client of the server at {@code target}; a Unix datagram client binds its own socket in {@code dir}. */
    public Client client(SocketAddress target, Path dir) throws IOException {
        return switch (this) {
            case TCP4, TCP6, UNIX_STREAM -> {
                SocketChannel c = SocketChannel.open(target);
                yield new Client() {
                    @Override
                    public void send(byte[] data) throws IOException {
                        ByteBuffer b = ByteBuffer.wrap(data);
                        while (b.hasRemaining()) {
                            c.write(b);
                        }
                    }

                    @Override
                    public byte[] receive() throws IOException {
                        ByteArrayOutputStream all = new ByteArrayOutputStream();
                        ByteBuffer b = ByteBuffer.allocate(65536);
                        while (c.read(b.clear()) >= 0) {
                            all.write(b.array(), 0, b.position());
                        }
                        return all.toByteArray();
                    }

                    @Override
                    public void finishSending() throws IOException {
                        c.shutdownOutput();
                    }

                    @Override
                    public void close() throws IOException {
                        c.close();
                    }
                };
            }
            case UDP4, UDP6 -> {
                DatagramChannel c = DatagramChannel.open(this == UDP4 ? StandardProtocolFamily.INET
                        : StandardProtocolFamily.INET6);
                c.bind(new InetSocketAddress(((InetSocketAddress) target).getAddress(), 0));
                c.connect(target);
                yield new Client() {
                    @Override
                    public void send(byte[] data) throws IOException {
                        c.write(ByteBuffer.wrap(data));
                    }

                    @Override
                    public byte[] receive() throws IOException {
                        ByteBuffer b = ByteBuffer.allocate(65536);
                        c.read(b);
                        return Arrays.copyOf(b.array(), b.position());
                    }

                    @Override
                    public void close() throws IOException {
                        c.close();
                    }
                };
            }
            case UNIX_DGRAM -> {
                UnixDatagramSocket c = UnixDatagramSocket.open();
                c.bind(UnixDomainSocketAddress.of(dir.resolve("client-" + CLIENTS.incrementAndGet() + ".sock")));
                yield new Client() {
                    @Override
                    public void send(byte[] data) throws IOException {
                        c.send(ByteBuffer.wrap(data), (UnixDomainSocketAddress) target);
                    }

                    @Override
                    public byte[] receive() throws IOException {
                        ByteBuffer b = ByteBuffer.allocate(65536);
                        if (c.receive(b, Duration.ofSeconds(20)) == null) {
                            throw new IOException("no datagram within 20 s");
                        }
                        return Arrays.copyOf(b.array(), b.position());
                    }

                    @Override
                    public void close() throws IOException {
                        c.close();
                        java.nio.file.Files.deleteIfExists(c.localAddress().map(UnixDomainSocketAddress::getPath)
                                .orElse(dir.resolve("none")));
                    }
                };
            }
        };
    }

    /** Sends one message and returns the whole reply. */
    public byte[] roundTrip(BaseServer<?> server, Path dir, byte[] message) throws IOException {
        return roundTrip(server.serverAddress(), dir, message);
    }

    /** Sends one message to the server at {@code target} and returns the whole reply. */
    public byte[] roundTrip(SocketAddress target, Path dir, byte[] message) throws IOException {
        try (Client c = client(target, dir)) {
            c.send(message);
            c.finishSending();
            return c.receive();
        }
    }
}
