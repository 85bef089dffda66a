package dev.sockserve;

import dev.sockserve.internal.Addresses;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.Channel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * The child side of {@link Concurrency#processes(int)}: the main class of the JVM that runs one request.
 * A stream connection arrives as the child's standard input (inetd-style, so
 * {@link System#inheritedChannel()} is the client's socket itself); a datagram arrives on standard
 * input and what the handler sends is written to standard output for the parent to send. A handler
 * that throws, exits or runs out of memory ends only this process.
 *
 * <p>Arguments: {@code stream|datagram}, handler class, protocol family, server address, client
 * address, max packet size, write timeout in milliseconds (or -1), truncated (true|false).
 */
final class ForkedRequest {

    private ForkedRequest() {
    }

    static final String STREAM = "stream";
    static final String DATAGRAM = "datagram";

    public static void main(String[] args) {
        int status = 0;
        try {
            run(args);
        } catch (Throwable t) {
            System.err.println("sockserve: the handler in child process " + ProcessHandle.current().pid() + " for "
                    + (args.length > 4 ? args[4] : "?") + " failed: " + t);
            t.printStackTrace();
            status = 1;
        }
        System.out.flush();
        System.exit(status);
    }

    private static void run(String[] args) throws Exception {
        String kind = args[0];
        Class<?> type = Class.forName(args[1]);
        Supplier<BaseRequestHandler<Object>> factory = () -> {
            try {
                @SuppressWarnings("unchecked")
                var handler = (BaseRequestHandler<Object>) type.getConstructor().newInstance();
                return handler;
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(type.getName() + " needs a public no-argument constructor for "
                        + "the processes() policy", e);
            }
        };
        ProtocolFamily family = StandardProtocolFamily.valueOf(args[2]);
        SocketAddress server = Addresses.decode(args[3]);
        SocketAddress client = Addresses.decode(args[4]);
        ServerOptions options = ServerOptions.defaults().maxPacketSize(Integer.parseInt(args[5]));
        long writeTimeout = Long.parseLong(args[6]);
        options = options.writeTimeout(writeTimeout < 0 ? null : Duration.ofMillis(writeTimeout));
        if (kind.equals(STREAM)) {
            if (!(System.inheritedChannel() instanceof SocketChannel connection)) {
                throw new IllegalStateException("standard input is not a connected socket");
            }
            var view = new ParentView<Object>(server, factory, options, family, SocketType.STREAM);
            try {
                view.finishRequest(connection, client);
            } finally {
                try {
                    connection.shutdownOutput();
                } catch (IOException alreadyGone) {
                    // the client went away first
                }
                connection.close();
            }
        } else {
            byte[] data = System.in.readAllBytes();
            OutputStream reply = new FileOutputStream(FileDescriptor.out);
            System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.err), true)); // prints are not the reply
            DatagramEndpoint endpoint = new DatagramEndpoint() {
                @Override
                public int send(ByteBuffer buffer, SocketAddress target) throws IOException {
                    int n = buffer.remaining();
                    byte[] bytes = new byte[n];
                    buffer.get(bytes);
                    reply.write(bytes);
                    return n;
                }

                @Override
                public SocketAddress localAddress() {
                    return server;
                }
            };
            var view = new ParentView<Object>(server, factory, options, family, SocketType.DATAGRAM);
            view.finishRequest(new DatagramRequest(data, Boolean.parseBoolean(args[7]), endpoint), client);
            reply.flush();
        }
    }

    /** What a handler in the child sees as its server: the parent's address and options, no socket. */
    private static final class ParentView<R> extends BaseServer<R> {
        private final SocketAddress address;
        private final ProtocolFamily family;
        private final SocketType type;

        ParentView(SocketAddress address, Supplier<? extends BaseRequestHandler<R>> factory, ServerOptions options,
                ProtocolFamily family, SocketType type) {
            super(address, factory, options, Concurrency.synchronous());
            this.address = address;
            this.family = family;
            this.type = type;
        }

        @Override
        public ProtocolFamily addressFamily() {
            return family;
        }

        @Override
        public SocketType socketType() {
            return type;
        }

        @Override
        public SocketAddress serverAddress() {
            return address;
        }

        @Override
        public Channel socket() {
            return new Channel() {
                @Override
                public boolean isOpen() {
                    return false; // the listening socket stays in the parent
                }

                @Override
                public void close() {
                }
            };
        }

        @Override
        java.nio.channels.SelectableChannel readiness() {
            throw new IllegalStateException("a child process does not serve");
        }

        @Override
        int readinessOps() {
            return 0;
        }

        @Override
        void closeSocket() {
        }

        @Override
        String transportName() {
            return "child";
        }

        @Override
        protected Optional<Incoming<R>> getRequest() {
            return Optional.empty();
        }
    }
}
