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
 * <p>As in Python's {@code ForkingMixIn}, an exception from the handler goes to the server's
 * {@link BaseServer#handleError} run here in the child (it logs it with the client's address), and
 * the exit status tells the parent how the request went: {@value #EXIT_HANDLED} handled,
 * {@value #EXIT_EXCEPTION} the handler threw an exception (given to {@code handleError}),
 * {@value #EXIT_ERROR} it threw an {@link Error}, {@value #EXIT_CANNOT_RUN} the request could not be
 * started (no such handler class, standard input not a socket). Any other status is the JVM's or the
 * handler's own: 3 is the JVM's exit on {@link OutOfMemoryError} ({@code -XX:+ExitOnOutOfMemoryError}, a
 * default child option), 143 a SIGTERM it obeyed, or whatever the handler gave {@code System.exit}.
 *
 * <p>Arguments: {@code stream|datagram}, handler class, protocol family, transport name, server
 * address, client address, max packet size, write timeout in milliseconds (or -1), truncated.
 */
final class ForkedRequest {

    static final int EXIT_HANDLED = 0;
    static final int EXIT_EXCEPTION = 1;
    static final int EXIT_ERROR = 2;
    static final int EXIT_CANNOT_RUN = 4;

    static final String STREAM = "stream";
    static final String DATAGRAM = "datagram";

    private ForkedRequest() {
    }

    public static void main(String[] args) {
        int status;
        try {
            status = run(args);
        } catch (Throwable t) {
            System.err.println("sockserve: child process " + ProcessHandle.current().pid() + " could not run the "
                    + "request from " + (args.length > 5 ? args[5] : "?") + ": " + t);
            t.printStackTrace();
            status = EXIT_CANNOT_RUN;
        }
        System.out.flush();
        System.exit(status);
    }

    private static int run(String[] args) throws Exception {
        String kind = args[0];
        @SuppressWarnings("unchecked")
        var type = (Class<? extends BaseRequestHandler<Object>>) Class.forName(args[1]);
        var factory = new HandlerClass<Object>(type);
        ProtocolFamily family = StandardProtocolFamily.valueOf(args[2]);
        String transport = args[3];
        SocketAddress server = Addresses.decode(args[4]);
        SocketAddress client = Addresses.decode(args[5]);
        ServerOptions options = ServerOptions.defaults().maxPacketSize(Integer.parseInt(args[6]));
        long writeTimeout = Long.parseLong(args[7]);
        options = options.writeTimeout(writeTimeout < 0 ? null : Duration.ofMillis(writeTimeout));
        if (kind.equals(STREAM)) {
            if (!(System.inheritedChannel() instanceof SocketChannel connection)) {
                throw new IllegalStateException("standard input is not a connected socket");
            }
            var view = new ParentView<Object>(server, factory, options, family, SocketType.STREAM, transport);
            try {
                return handle(view, connection, client);
            } finally {
                try {
                    connection.shutdownOutput();
                } catch (IOException alreadyGone) {
                    // the client went away first
                }
                connection.close();
            }
        }
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
        var view = new ParentView<Object>(server, factory, options, family, SocketType.DATAGRAM, transport);
        int status = handle(view, new DatagramRequest(data, Boolean.parseBoolean(args[8]), endpoint), client);
        reply.flush();
        return status;
    }

    /** Python's {@code ForkingMixIn} child: finish the request, an exception to {@code handleError}. */
    private static int handle(ParentView<Object> view, Object request, SocketAddress client) {
        try {
            view.finishRequest(request, client);
            return EXIT_HANDLED;
        } catch (Exception e) {
            view.handleError(request, client, e);
            return EXIT_EXCEPTION;
        } catch (Error e) {
            System.err.println("sockserve: the handler for " + Addresses.describe(client) + " in child process "
                    + ProcessHandle.current().pid() + " failed: " + e);
            e.printStackTrace();
            return EXIT_ERROR;
        }
    }

    /** What a handler in the child sees as its server: the parent's address and options, no socket. */
    private static final class ParentView<R> extends BaseServer<R> {
        private final SocketAddress address;
        private final ProtocolFamily family;
        private final SocketType type;
        private final String transport;

        ParentView(SocketAddress address, Supplier<? extends BaseRequestHandler<R>> factory, ServerOptions options,
                ProtocolFamily family, SocketType type, String transport) {
            super(address, factory, options, Concurrency.synchronous());
            this.address = address;
            this.family = family;
            this.type = type;
            this.transport = transport;
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
            return transport;
        }

        @Override
        protected Optional<Incoming<R>> getRequest() {
            return Optional.empty();
        }
    }
}
