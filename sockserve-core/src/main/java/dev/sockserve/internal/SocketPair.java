package dev.sockserve.internal;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Two connected Unix stream sockets, as {@code socketpair(2)} gives (the JDK has no call for it): a
 * listening socket on a fresh path in the temporary folder, one connect, one accept, and the path removed.
 */
public record SocketPair(SocketChannel left, SocketChannel right) implements AutoCloseable {

    public static SocketPair open() throws IOException {
        Path path = Path.of(System.getProperty("java.io.tmpdir"),
                "sockserve-pair-" + ProcessHandle.current().pid() + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            listener.bind(UnixDomainSocketAddress.of(path), 1);
            SocketChannel left = SocketChannel.open(UnixDomainSocketAddress.of(path));
            try {
                return new SocketPair(left, listener.accept());
            } catch (IOException e) {
                left.close();
                throw e;
            }
        } finally {
            Files.deleteIfExists(path);
        }
    }

    @Override
    public void close() throws IOException {
        try {
            left.close();
        } finally {
            right.close();
        }
    }
}
