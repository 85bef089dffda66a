package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.internal.Posix;
import dev.sockserve.internal.UnixDatagramSocket;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Binding: options set in an overriding serverBind, ports and socket files already taken or replaced. */
@ExtendWith(LeakCheck.class)
@Timeout(30)
class BindingTest {

    static final byte[] HELLO = "hello world\n".getBytes(US_ASCII);

    @TempDir
    Path dir;

    /** Python's idiom: set an option in an overriding server_bind, then call the super method. */
    static final class TunedTcpServer extends TcpServer {
        TunedTcpServer(InetSocketAddress address, boolean bindAndActivate) {
            super(address, StreamRequestHandler.of(h -> Transport.ECHO.run(h.rfile(), h.wfile())),
                    ServerOptions.defaults(), bindAndActivate);
        }

        @Override
        protected void serverBind() throws IOException {
            socket().setOption(StandardSocketOptions.SO_REUSEADDR, true);
            socket().setOption(StandardSocketOptions.SO_RCVBUF, 32 * 1024);
            super.serverBind();
        }
    }

    static final class TunedUdpServer extends UdpServer {
        TunedUdpServer(InetSocketAddress address) {
            super(address, DatagramRequestHandler.of(h -> h.wfile().write(h.packet())));
        }

        @Override
        protected void serverBind() throws IOException {
            ((java.nio.channels.DatagramChannel) socket()).setOption(StandardSocketOptions.SO_REUSEADDR, true);
            super.serverBind();
        }
    }

    @Test
    void anOptionSetInAnOverridingServerBindIsKept() throws Exception {
        try (var server = new TunedTcpServer(new InetSocketAddress("127.0.0.1", 0), false)) {
            server.bindAndActivate();
            assertTrue(server.socket().getOption(StandardSocketOptions.SO_REUSEADDR));
            assertTrue(server.socket().getOption(StandardSocketOptions.SO_RCVBUF) >= 32 * 1024);
            try (Serving s = Serving.start(server)) {
                assertArrayEquals(HELLO, Transport.TCP4.roundTrip(server, dir, HELLO));
            }
        }
        try (var server = new TunedTcpServer(new InetSocketAddress("127.0.0.1", 0), true)) {
            assertTrue(server.socket().getOption(StandardSocketOptions.SO_REUSEADDR), "bound by the constructor");
        }
    }

    @Test
    void twoUdpServersThatSetSoReuseAddrInServerBindShareAPort() {
        try (var first = new TunedUdpServer(new InetSocketAddress("127.0.0.1", 0));
                var second = new TunedUdpServer((InetSocketAddress) first.serverAddress())) {
            assertEquals(first.serverAddress(), second.serverAddress());
        }
    }

    @Test
    void aSecondUdpServerOnATakenPortIsRefusedAsTcpIs() {
        try (var first = new UdpServer(new InetSocketAddress("127.0.0.1", 0), DatagramRequestHandler.of(h -> { }))) {
            var address = (InetSocketAddress) first.serverAddress();
            var e = assertThrows(UncheckedIOException.class,
                    () -> new UdpServer(address, DatagramRequestHandler.of(h -> { })));
            assertEquals("cannot listen on udp 127.0.0.1:" + address.getPort() + ": Address already in use",
                    e.getMessage());
            try (var shared = new UdpServer(address, DatagramRequestHandler.of(h -> { }),
                    ServerOptions.defaults().allowReuseAddress(true))) {
                throw new AssertionError("the first server did not ask for SO_REUSEADDR, so the port is not shared");
            } catch (UncheckedIOException expected) {
                assertTrue(expected.getMessage().endsWith("Address already in use"), expected.getMessage());
            }
        }
        var reuse = ServerOptions.defaults().allowReuseAddress(true);
        try (var first = new UdpServer(new InetSocketAddress("127.0.0.1", 0), DatagramRequestHandler.of(h -> { }),
                reuse);
                var second = new UdpServer((InetSocketAddress) first.serverAddress(),
                        DatagramRequestHandler.of(h -> { }), reuse)) {
            assertEquals(first.serverAddress(), second.serverAddress(), "both asked: Python's allow_reuse_address");
        }
    }

    @Test
    void aRegularFileThatReplacedTheSocketIsNotDeletedAtClose() throws Exception {
        Path path = dir.resolve("s.sock");
        var stream = new UnixStreamServer(UnixDomainSocketAddress.of(path), StreamRequestHandler.of(h -> { }));
        Files.delete(path);
        Files.writeString(path, "not yours");
        stream.serverClose();
        assertEquals("not yours", Files.readString(path));
        Files.delete(path);

        var dgram = new UnixDatagramServer(UnixDomainSocketAddress.of(path), DatagramRequestHandler.of(h -> { }));
        Files.delete(path);
        Files.writeString(path, "not yours either");
        dgram.serverClose();
        assertEquals("not yours either", Files.readString(path));
    }

    @Test
    void anotherServersSocketBoundOnTheSamePathIsNotDeletedAtClose() throws Exception {
        Path path = dir.resolve("s.sock");
        var old = new UnixStreamServer(UnixDomainSocketAddress.of(path), StreamRequestHandler.of(h -> { }));
        Files.delete(path); // as an operator clearing the way for a new server would
        try (var fresh = new UnixStreamServer(UnixDomainSocketAddress.of(path),
                StreamRequestHandler.of(h -> Transport.ECHO.run(h.rfile(), h.wfile())));
                Serving s = Serving.start(fresh)) {
            old.serverClose();
            assertTrue(Files.exists(path), "the new server's socket file is still there");
            assertArrayEquals(HELLO, Transport.UNIX_STREAM.roundTrip(fresh, dir, HELLO));
        }
        assertFalse(Files.exists(path), "removed by the server that created it");
    }

    @Test
    @Timeout(10)
    void startingOnALiveStreamSocketWhoseBacklogIsFullIsRefusedAtOnce() throws Exception {
        Path path = dir.resolve("busy.sock");
        List<SocketChannel> waiting = new ArrayList<>();
        // a server that never accepts, with a backlog of one, filled by clients that connect without blocking
        try (ServerSocketChannel busy = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            busy.bind(UnixDomainSocketAddress.of(path), 1);
            try {
                for (int i = 0; i < 1000; i++) {
                    SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
                    waiting.add(c);
                    c.configureBlocking(false);
                    c.connect(UnixDomainSocketAddress.of(path));
                }
                throw new AssertionError("the backlog never filled");
            } catch (SocketException full) {
                assertTrue(full.getMessage().contains("temporarily unavailable"), full.getMessage());
            }
            var e = assertThrows(UncheckedIOException.class,
                    () -> new UnixStreamServer(UnixDomainSocketAddress.of(path), StreamRequestHandler.of(h -> { })));
            assertTrue(e.getMessage().contains("Address already in use"), e.getMessage());
            assertTrue(Files.exists(path), "the live server's file is untouched");
        } finally {
            for (SocketChannel c : waiting) {
                c.close();
            }
        }
    }

    @Test
    @Timeout(10)
    void startingOnALiveDatagramSocketWhoseQueueIsFullIsRefusedAtOnce() throws Exception {
        Path path = dir.resolve("busy.dgram");
        try (UnixDatagramSocket busy = UnixDatagramSocket.open();
                UnixDatagramSocket sender = UnixDatagramSocket.open()) {
            busy.bind(UnixDomainSocketAddress.of(path));
            int sent = 0;
            while (sender.send(ByteBuffer.wrap(HELLO), UnixDomainSocketAddress.of(path)) > 0) {
                sent++;
                assertTrue(sent < 1_000_000, "the queue never filled");
            }
            var e = assertThrows(UncheckedIOException.class, () -> new UnixDatagramServer(
                    UnixDomainSocketAddress.of(path), DatagramRequestHandler.of(h -> { })));
            assertTrue(e.getMessage().contains("Address already in use"), e.getMessage());
            assertTrue(Files.exists(path));
        }
    }

    /** An AF_UNIX socket bound to {@code path} as systemd makes one: a bare descriptor, not close-on-exec. */
    private static int boundElsewhere(Path path, int type) throws IOException {
        int fd = (int) Posix.check("socket", Posix.socket(Posix.AF_UNIX, type));
        try (Arena arena = Arena.ofConfined()) {
            if (path != null) {
                byte[] bytes = path.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
                MemorySegment sa = arena.allocate(2 + bytes.length + 1, 2);
                sa.set(ValueLayout.JAVA_SHORT, 0, (short) Posix.AF_UNIX);
                MemorySegment.copy(bytes, 0, sa, ValueLayout.JAVA_BYTE, 2, bytes.length);
                Posix.check("bind", Posix.bind(fd, sa));
            }
            return fd;
        } catch (IOException | RuntimeException e) {
            Posix.close(fd);
            throw e;
        }
    }

    @Test
    void aUnixDatagramSocketBoundElsewhereIsServedByItsDescriptorAndItsFileStays() throws Exception {
        Path path = dir.resolve("made-elsewhere.sock");
        var server = new UnixDatagramServer(boundElsewhere(path, Posix.SOCK_DGRAM),
                DatagramRequestHandler.of(h -> h.wfile().write(h.packet())), ServerOptions.defaults());
        assertEquals(UnixDomainSocketAddress.of(path), server.serverAddress());
        try (Serving s = Serving.start(server); UnixDatagramSocket client = UnixDatagramSocket.open()) {
            client.bind(UnixDomainSocketAddress.of(dir.resolve("client.sock")));
            client.send(ByteBuffer.wrap(HELLO), UnixDomainSocketAddress.of(path));
            ByteBuffer reply = ByteBuffer.allocate(100);
            assertTrue(client.receive(reply, java.time.Duration.ofSeconds(10)) != null, "no echo");
            assertArrayEquals(HELLO, java.util.Arrays.copyOf(reply.array(), reply.position()));
        }
        assertTrue(Files.exists(path), "the socket file is its maker's, and stays");
    }

    @Test
    void aDescriptorThatIsNoBoundUnixDatagramSocketIsRefusedAndLeftToItsOwner() throws Exception {
        int stream = boundElsewhere(null, 1); // SOCK_STREAM
        int unbound = boundElsewhere(null, Posix.SOCK_DGRAM);
        try {
            var e = assertThrows(UncheckedIOException.class, () -> new UnixDatagramServer(stream,
                    DatagramRequestHandler.of(h -> { }), ServerOptions.defaults()));
            assertTrue(e.getMessage().contains("is not a Unix datagram socket"), e.getMessage());
            e = assertThrows(UncheckedIOException.class, () -> new UnixDatagramServer(unbound,
                    DatagramRequestHandler.of(h -> { }), ServerOptions.defaults()));
            assertTrue(e.getMessage().contains("is not bound to a path"), e.getMessage());
        } finally {
            Posix.close(stream);
            Posix.close(unbound);
        }
    }
}
