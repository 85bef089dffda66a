package dev.sockserve;

/**
 * The kind of socket a server listens on: Python's {@code socket_type}.
 * {@snippet :
 * boolean connections = server.socketType() == SocketType.STREAM;
 * }
 */
public enum SocketType {
    /** A connection-oriented byte stream ({@code SOCK_STREAM}): TCP and Unix stream servers. */
    STREAM,
    /** Message-oriented datagrams ({@code SOCK_DGRAM}): UDP and Unix datagram servers. */
    DATAGRAM
}
