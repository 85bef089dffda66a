package dev.sockserve;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;

/**
 * The socket a datagram server receives on, as its handlers see it: the way to reply. Python passes
 * the server socket in the request for the same purpose.
 * {@snippet :
 * request.socket().send(ByteBuffer.wrap(reply), clientAddress());
 * }
 */
public interface DatagramEndpoint {

    /**
     * Sends {@code data}'s remaining bytes as one datagram to {@code target}, without blocking.
     *
     * @return the bytes sent, or 0 when the datagram was dropped, as UDP may: the socket's send buffer
     *     was full, or the server refused it ({@code target} is its own address, or over its reply
     *     budget: see {@link UdpServer#suppressedReplies()})
     * @throws IOException naming the target, when the datagram cannot be sent (too long, no such peer)
     */
    int send(ByteBuffer data, SocketAddress target) throws IOException;

    /** The address the server's socket is bound to. */
    SocketAddress localAddress();
}
