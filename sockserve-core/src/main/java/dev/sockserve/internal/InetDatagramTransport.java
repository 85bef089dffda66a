package dev.sockserve.internal;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectableChannel;

/** UDP over the JDK's {@link DatagramChannel}, in non-blocking mode. */
public final class InetDatagramTransport implements DatagramTransport {

    private final DatagramChannel channel;

    public InetDatagramTransport(DatagramChannel channel) throws IOException {
        this.channel = channel;
        channel.configureBlocking(false);
    }

    public DatagramChannel channel() {
        return channel;
    }

    @Override
    public Received receive(ByteBuffer dst) throws IOException {
        int start = dst.position();
        SocketAddress sender = channel.receive(dst);
        if (sender == null) {
            return null;
        }
        // the JDK drops what did not fit: a full buffer means "this long, or longer"
        return new Received(sender, dst.hasRemaining() ? dst.position() - start : -1);
    }

    @Override
    public int send(ByteBuffer data, SocketAddress target) throws IOException {
        try {
            return channel.send(data, target);
        } catch (IOException e) {
            throw new IOException("send to " + target + " failed: " + e.getMessage(), e);
        }
    }

    @Override
    public SocketAddress localAddress() {
        try {
            return channel.getLocalAddress();
        } catch (IOException e) {
            return null;
        }
    }

    @Override
    public SelectableChannel readiness() {
        return channel;
    }

    @Override
    public boolean isOpen() {
        return channel.isOpen();
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
