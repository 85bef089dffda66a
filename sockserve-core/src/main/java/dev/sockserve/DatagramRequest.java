package dev.sockserve;

import java.util.Objects;

/**
 * One datagram and the socket to reply on: the request type of {@link UdpServer} and
 * {@link UnixDatagramServer}.
 *
 * <p>A datagram longer than {@link ServerOptions#maxPacketSize()} is never cut silently:
 * {@link #truncated()} says so, and the server logs it.
 * {@snippet :
 * class Reverse extends BaseRequestHandler<DatagramRequest> {
 *     @Override
 *     protected void handle() throws IOException {
 *         byte[] reply = new StringBuilder(new String(request().data(), UTF_8)).reverse().toString().getBytes(UTF_8);
 *         request().socket().send(ByteBuffer.wrap(reply), clientAddress());
 *     }
 * }
 * }
 */
public final class DatagramRequest {

    private final byte[] data;
    private final boolean truncated;
    private final DatagramEndpoint socket;

    public DatagramRequest(byte[] data, boolean truncated, DatagramEndpoint socket) {
        this.data = Objects.requireNonNull(data, "data");
        this.truncated = truncated;
        this.socket = Objects.requireNonNull(socket, "socket");
    }

    /** The datagram's bytes (at most {@code maxPacketSize}); this request's own array. */
    public byte[] data() {
        return data;
    }

    /** Whether the datagram was longer than {@code maxPacketSize} and only its first bytes are here. */
    public boolean truncated() {
        return truncated;
    }

    /** The server's socket, to reply on, with the server's guards against reply loops. */
    public DatagramEndpoint socket() {
        return socket;
    }

    @Override
    public String toString() {
        return "DatagramRequest[" + data.length + " bytes" + (truncated ? ", truncated" : "") + "]";
    }
}
