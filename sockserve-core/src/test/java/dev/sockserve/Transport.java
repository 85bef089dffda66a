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
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/** The transports the behavioural suite runs over, each with a server factory and a client. */
enum Transport {
    TCP4, TCP6, UDP4, UDP6, UNIX_STREAM, UNIX_DGRAM;

    private static final AtomicInteger CLIENTS = new AtomicInteger();

    boolean stream() {
        return this == TCP4 || this == TCP6 || this == UNIX_STREAM;
    }

    /** A handler body that works for both kinds: the connection's or the datagram's streams. */
    @FunctionalInterface
    interface Body {
        void run(InputStream in, OutputStream out) throws Exception;
    }

    /** Line echo for streams (one line per connection, as CPython's test), whole-datagram echo for datagrams. */
    static final Body ECHO = (in, out) -> {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            line.write(b);
            if (b == '\n') {
                break;
            }
        }
        out.write(line.toByteArray());
    };

    /**
     * What the tests observe of a server through its options (a gate and an observer, no subclass);
     * override {@link #verify} to refuse clients.
     */
    static class Hooks implements RequestObserver {
        final AtomicInteger shutdownRequests = new AtomicInteger();
        final AtomicInteger handledErrors = new AtomicInteger();
        volatile Throwable lastError;

        boolean verify(SocketAddress client) {
            return true;
        }

        ServerOptions addTo(ServerOptions options) {
            return options.gate(request -> verify(request.clientAddress()) ? Optional.empty() : Optional.of("test"))
                    .observer(this);
        }

        @Override
        public void ended(RequestContext request, RequestEnd end) {
            end.error().filter(Exception.class::isInstance).ifPresent(error -> {
                lastError = error;
                handledErrors.incrementAndGet();
            });
            shutdownRequests.incrementAndGet();
        }
    }

    SocketAddress address(Path dir) {
        return switch (this) {
            case TCP4, UDP4 -> new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
            case TCP6, UDP6 -> new InetSocketAddress("::1", 0);
            case UNIX_STREAM, UNIX_DGRAM -> UnixDomainSocketAddress.of(dir.resolve("server.sock"));
        };
    }

    BaseServer<?> server(Path dir, Body body, ServerOptions options) {
        return server(dir, body, options, new Hooks());
    }

    BaseServer<?> server(Path dir, Body body, ServerOptions options, Hooks hooks) {
        return server(address(dir), body, options, hooks);
    }

    BaseServer<?> server(SocketAddress address, Body body, ServerOptions options, Hooks hooks) {
        var streamHandler = StreamRequestHandler.of(h -> body.run(h.rfile(), h.wfile()));
        var datagramHandler = DatagramRequestHandler.of(h -> body.run(h.rfile(), h.wfile()));
        ServerOptions observed = hooks.addTo(options);
        return switch (this) {
            case TCP4, TCP6 -> new TcpServer((InetSocketAddress) address, streamHandler, observed);
            case UNIX_STREAM -> new UnixStreamServer((UnixDomainSocketAddress) address, streamHandler, observed);
            case UDP4, UDP6 -> new UdpServer((InetSocketAddress) address, datagramHandler, observed);
            case UNIX_DGRAM -> new UnixDatagramServer((UnixDomainSocketAddress) address, datagramHandler, observed);
        };
    }

    /** A client of this transport. */
    interface Client extends AutoCloseable {
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

    Client client(BaseServer<?> server, Path dir) throws IOException {
        SocketAddress target = server.serverAddress();
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
    byte[] roundTrip(BaseServer<?> server, Path dir, byte[] message) throws IOException {
        try (Client c = client(server, dir)) {
            c.send(message);
            c.finishSending();
            return c.receive();
        }
    }
}
