package dev.sockserve.internal;

import java.io.IOException;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectableChannel;

/** Unix datagrams over {@link UnixDatagramSocket} (FFM), since the JDK has no such channel. */
public final class UnixDatagramTransport implements DatagramTransport {

    private final UnixDatagramSocket socket;

    public UnixDatagramTransport(UnixDatagramSocket socket) {
        this.socket = socket;
    }

    public void bind(UnixDomainSocketAddress address) throws IOException {
        socket.bind(address);
    }

    @Override
    public Received receive(ByteBuffer dst) throws IOException {
        UnixDatagramSocket.Received r = socket.receive(dst);
        return r == null ? null : new Received(r.sender(), r.length());
    }

    @Override
    public int send(ByteBuffer data, SocketAddress target) throws IOException {
        if (!(target instanceof UnixDomainSocketAddress unix) || unix.getPath().toString().isEmpty()) {
            throw new IOException("cannot reply to " + target + ": the client's socket is not bound to a path");
        }
        return socket.send(data, unix);
    }

    @Override
    public SocketAddress localAddress() {
        return socket.localAddress().orElse(null);
    }

    @Override
    public SelectableChannel readiness() throws IOException {
        return socket.readiness();
    }

    @Override
    public boolean isOpen() {
        return socket.isOpen();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
