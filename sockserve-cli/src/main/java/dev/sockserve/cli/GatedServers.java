package dev.sockserve.cli;

import dev.sockserve.BaseRequestHandler;
import dev.sockserve.BaseServer;
import dev.sockserve.DatagramRequest;
import dev.sockserve.ServerOptions;
import dev.sockserve.TcpServer;
import dev.sockserve.UdpServer;
import dev.sockserve.UnixDatagramServer;
import dev.sockserve.UnixStreamServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.function.Supplier;

/**
 * The core's four servers with the command's {@link Gatekeeper} in their hooks: {@code verifyRequest}
 * admits or refuses, {@code shutdownRequest} ends the admission, and {@code closeRequest}, when the
 * server closes a request still running after the grace period, ends its work (for exec, its child).
 */
final class GatedServers {

    /** A server with a gatekeeper, for handlers to reach it through {@code server()}. */
    interface Gated {
        Gatekeeper gatekeeper();
    }

    private GatedServers() {
    }

    static BaseServer<?> open(ListenAddress listen, Supplier<? extends BaseRequestHandler<SocketChannel>> streamHandlers,
            Supplier<? extends BaseRequestHandler<DatagramRequest>> datagramHandlers, ServerOptions options,
            Gatekeeper gatekeeper) {
        return switch (listen.kind()) {
            case TCP -> new Tcp((InetSocketAddress) listen.address(), streamHandlers, options, gatekeeper);
            case UNIX -> new UnixStream((UnixDomainSocketAddress) listen.address(), streamHandlers, options, gatekeeper);
            case UDP -> new Udp((InetSocketAddress) listen.address(), datagramHandlers, options, gatekeeper);
            case UNIX_DGRAM -> new UnixDatagram((UnixDomainSocketAddress) listen.address(), datagramHandlers, options,
                    gatekeeper);
        };
    }

    private static SocketAddress localOf(SocketChannel connection, SocketAddress fallback) {
        try {
            return connection.getLocalAddress();
        } catch (IOException e) {
            return fallback;
        }
    }

    static final class Tcp extends TcpServer implements Gated {
        private final Gatekeeper gatekeeper;

        Tcp(InetSocketAddress address, Supplier<? extends BaseRequestHandler<SocketChannel>> handlers,
                ServerOptions options, Gatekeeper gatekeeper) {
            super(address, handlers, options);
            this.gatekeeper = gatekeeper;
        }

        @Override
        public Gatekeeper gatekeeper() {
            return gatekeeper;
        }

        @Override
        protected boolean verifyRequest(SocketChannel request, SocketAddress client) {
            return gatekeeper.admit(request, client, localOf(request, serverAddress()), request);
        }

        @Override
        protected void shutdownRequest(SocketChannel request) {
            try {
                super.shutdownRequest(request);
            } finally {
                gatekeeper.end(request);
            }
        }

        @Override
        protected void closeRequest(SocketChannel request) {
            gatekeeper.forceEnd(request);
            super.closeRequest(request);
        }
    }

    static final class UnixStream extends UnixStreamServer implements Gated {
        private final Gatekeeper gatekeeper;

        UnixStream(UnixDomainSocketAddress address, Supplier<? extends BaseRequestHandler<SocketChannel>> handlers,
                ServerOptions options, Gatekeeper gatekeeper) {
            super(address, handlers, options);
            this.gatekeeper = gatekeeper;
        }

        @Override
        public Gatekeeper gatekeeper() {
            return gatekeeper;
        }

        @Override
        protected boolean verifyRequest(SocketChannel request, SocketAddress client) {
            return gatekeeper.admit(request, client, serverAddress(), request);
        }

        @Override
        protected void shutdownRequest(SocketChannel request) {
            try {
                super.shutdownRequest(request);
            } finally {
                gatekeeper.end(request);
            }
        }

        @Override
        protected void closeRequest(SocketChannel request) {
            gatekeeper.forceEnd(request);
            super.closeRequest(request);
        }
    }

    static final class Udp extends UdpServer implements Gated {
        private final Gatekeeper gatekeeper;

        Udp(InetSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlers,
                ServerOptions options, Gatekeeper gatekeeper) {
            super(address, handlers, options);
            this.gatekeeper = gatekeeper;
        }

        @Override
        public Gatekeeper gatekeeper() {
            return gatekeeper;
        }

        @Override
        protected boolean verifyRequest(DatagramRequest request, SocketAddress client) {
            return gatekeeper.admit(request, client, serverAddress(), null);
        }

        @Override
        protected void shutdownRequest(DatagramRequest request) {
            try {
                super.shutdownRequest(request);
            } finally {
                gatekeeper.end(request);
            }
        }

        @Override
        protected void closeRequest(DatagramRequest request) {
            gatekeeper.forceEnd(request);
            super.closeRequest(request);
        }
    }

    static final class UnixDatagram extends UnixDatagramServer implements Gated {
        private final Gatekeeper gatekeeper;

        UnixDatagram(UnixDomainSocketAddress address, Supplier<? extends BaseRequestHandler<DatagramRequest>> handlers,
                ServerOptions options, Gatekeeper gatekeeper) {
            super(address, handlers, options);
            this.gatekeeper = gatekeeper;
        }

        @Override
        public Gatekeeper gatekeeper() {
            return gatekeeper;
        }

        @Override
        protected boolean verifyRequest(DatagramRequest request, SocketAddress client) {
            return gatekeeper.admit(request, client, serverAddress(), null);
        }

        @Override
        protected void shutdownRequest(DatagramRequest request) {
            try {
                super.shutdownRequest(request);
            } finally {
                gatekeeper.end(request);
            }
        }

        @Override
        protected void closeRequest(DatagramRequest request) {
            gatekeeper.forceEnd(request);
            super.closeRequest(request);
        }
    }
}
