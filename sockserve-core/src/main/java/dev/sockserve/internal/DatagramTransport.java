package dev.sockserve.internal;

import dev.sockserve.DatagramEndpoint;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channel;
import java.nio.channels.SelectableChannel;

/** A datagram socket as a datagram server drives it: UDP through the JDK, Unix datagram through FFM. */
public interface DatagramTransport extends DatagramEndpoint, Channel {

    /** A datagram and its real length when known ({@code -1}: only "longer than the buffer" is known). */
    record Received(SocketAddress sender, int length) {
    }

    /** Receives one datagram into {@code dst} without blocking; null when none waits. */
    Received receive(ByteBuffer dst) throws IOException;

    /** A non-blocking channel that a Selector reports readable when a datagram waits. */
    SelectableChannel readiness() throws IOException;
}
