package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.internal.UnixDatagramSocket;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Datagram sizes and replies, dual-stack IPv6, Unix socket files, ServerGroup. */
@ExtendWith(LeakCheck.class)
@Timeout(30)
class TransportDetailsTest {

    static final byte[] HELLO = "hello world\n".getBytes(US_ASCII);

    @TempDir
    Path dir;

    @Test
    void aDatagramLongerThanMaxPacketSizeIsMarkedTruncatedAndCounted() throws Exception {
        AtomicBoolean sawTruncated = new AtomicBoolean();
        var server = new UdpServer(new InetSocketAddress("127.0.0.1", 0), DatagramRequestHandler.of(h -> {
            sawTruncated.set(h.request().truncated());
            h.wfile().write(String.valueOf(h.packet().length).getBytes(US_ASCII));
        }), ServerOptions.defaults().maxPacketSize(100));
        try (Serving s = Serving.start(server)) {
            assertEquals("100", new String(Transport.UDP4.roundTrip(server, dir, new byte[101]), US_ASCII));
            assertTrue(sawTruncated.get());
            assertEquals(1, server.truncatedDatagrams());
            assertEquals("100", new String(Transport.UDP4.roundTrip(server, dir, new byte[100]), US_ASCII));
            assertFalse(sawTruncated.get(), "exactly maxPacketSize is whole");
            assertEquals(1, server.truncatedDatagrams());
        }
    }

    @Test
    void aUnixDatagramLongerThanMaxPacketSizeIsMarkedTruncated() throws Exception {
        AtomicBoolean sawTruncated = new AtomicBoolean();
        var server = new UnixDatagramServer(UnixDomainSocketAddress.of(dir.resolve("d.sock")),
                DatagramRequestHandler.of(h -> {
                    sawTruncated.set(h.request().truncated());
                    h.wfile().write(String.valueOf(h.packet().length).getBytes(US_ASCII));
                }), ServerOptions.defaults().maxPacketSize(100));
        try (Serving s = Serving.start(server)) {
            assertEquals("100", new String(Transport.UNIX_DGRAM.roundTrip(server, dir, new byte[5000]), US_ASCII));
            assertTrue(sawTruncated.get());
            assertEquals(1, server.truncatedDatagrams());
        }
    }

    @Test
    void aDatagramHandlerThatWroteNothingSendsNoReply() throws Exception {
        var server = new UdpServer(new InetSocketAddress("127.0.0.1", 0), DatagramRequestHandler.of(h -> {
            if (h.packet()[0] == 'B') {
                h.wfile().write(h.packet());
            }
        }));
        try (Serving s = Serving.start(server); Transport.Client c = Transport.UDP4.client(server, dir)) {
            c.send("A: no reply".getBytes(US_ASCII));
            c.send("B: reply".getBytes(US_ASCII));
            // had A produced an empty datagram, it would arrive first
            assertEquals("B: reply", new String(c.receive(), US_ASCII));
        }
    }

    @Test
    void sendEmptyRepliesRestoresPythonsEmptyDatagram() throws Exception {
        var server = new UdpServer(new InetSocketAddress("127.0.0.1", 0), DatagramRequestHandler.of(h -> { }),
                ServerOptions.defaults().sendEmptyReplies(true));
        try (Serving s = Serving.start(server)) {
            assertEquals(0, Transport.UDP4.roundTrip(server, dir, HELLO).length);
        }
    }

    @Test
    void anIpv6WildcardServerServesIpv4ClientsToo() throws Exception {
        var server = new ThreadingTcpServer(new InetSocketAddress("::", 0),
                StreamRequestHandler.of(h -> Transport.ECHO.run(h.rfile(), h.wfile())));
        try (Serving s = Serving.start(server)) {
            assertEquals(StandardProtocolFamily.INET6, server.addressFamily());
            int port = ((InetSocketAddress) server.serverAddress()).getPort();
            for (String host : new String[] {"127.0.0.1", "::1"}) {
                try (SocketChannel c = SocketChannel.open(new InetSocketAddress(host, port))) {
                    c.write(ByteBuffer.wrap(HELLO));
                    c.shutdownOutput();
                    ByteBuffer b = ByteBuffer.allocate(64);
                    while (c.read(b) >= 0) {
                        // to end of file
                    }
                    assertEquals("hello world\n", new String(b.array(), 0, b.position(), US_ASCII), host);
                }
            }
        }
    }

    @Test
    void anIpv6WildcardUdpServerAnswersIpv4Clients() throws Exception {
        var server = new UdpServer(new InetSocketAddress("::", 0), DatagramRequestHandler.of(h -> h.wfile().write(h.packet())));
        try (Serving s = Serving.start(server); DatagramChannel c = DatagramChannel.open(StandardProtocolFamily.INET)) {
            int port = ((InetSocketAddress) server.serverAddress()).getPort();
            c.connect(new InetSocketAddress("127.0.0.1", port));
            c.write(ByteBuffer.wrap(HELLO));
            ByteBuffer b = ByteBuffer.allocate(64);
            c.read(b);
            assertEquals("hello world\n", new String(b.array(), 0, b.position(), US_ASCII));
        }
    }

    @Test
    void allowReusePortLetsTwoServersShareAPort() {
        var options = ServerOptions.defaults().allowReusePort(true);
        try (var first = new TcpServer(new InetSocketAddress("127.0.0.1", 0), StreamRequestHandler.of(h -> { }), options);
                var second = new TcpServer((InetSocketAddress) first.serverAddress(), StreamRequestHandler.of(h -> { }),
                        options)) {
            assertEquals(first.serverAddress(), second.serverAddress());
            assertThrows(UncheckedIOException.class, () -> new TcpServer((InetSocketAddress) first.serverAddress(),
                    StreamRequestHandler.of(h -> { })), "without the option the port is taken");
        }
        try (var first = new UdpServer(new InetSocketAddress("127.0.0.1", 0), DatagramRequestHandler.of(h -> { }), options);
                var second = new UdpServer((InetSocketAddress) first.serverAddress(), DatagramRequestHandler.of(h -> { }),
                        options)) {
            assertEquals(first.serverAddress(), second.serverAddress());
        }
    }

    @Test
    void allowReuseAddressRebindsWhileOldConnectionsLinger() throws Exception {
        var options = ServerOptions.defaults().allowReuseAddress(true);
        InetSocketAddress address;
        var server = new ThreadingTcpServer(new InetSocketAddress("127.0.0.1", 0),
                StreamRequestHandler.of(h -> Transport.ECHO.run(h.rfile(), h.wfile())), options);
        try (Serving s = Serving.start(server)) {
            address = (InetSocketAddress) server.serverAddress();
            // the server closes first, so its side of the connection lingers in TIME_WAIT
            assertArrayEquals(HELLO, Transport.TCP4.roundTrip(server, dir, HELLO));
        }
        try (var again = new TcpServer(address, StreamRequestHandler.of(h -> { }), options)) {
            assertEquals(address, again.serverAddress());
        }
    }

    @Test
    void aListeningSocketMadeElsewhereIsServedAsItIs() throws Exception {
        var listening = java.nio.channels.ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        var server = new ThreadingTcpServer(listening, StreamRequestHandler.of(h -> Transport.ECHO.run(h.rfile(), h.wfile())),
                ServerOptions.defaults());
        assertEquals(listening.getLocalAddress(), server.serverAddress());
        try (Serving s = Serving.start(server)) {
            assertArrayEquals(HELLO, Transport.TCP4.roundTrip(server, dir, HELLO));
        }
        assertFalse(listening.isOpen(), "serverClose closes it");
        var unbound = java.nio.channels.ServerSocketChannel.open();
        try (unbound) {
            var e = assertThrows(IllegalArgumentException.class, () -> new TcpServer(unbound,
                    StreamRequestHandler.of(h -> { }), ServerOptions.defaults()));
            assertTrue(e.getMessage().contains("not bound"));
        }
    }

    @Test
    void theUnixSocketFileIsRemovedOnClose() {
        Path path = dir.resolve("s.sock");
        var server = new UnixStreamServer(UnixDomainSocketAddress.of(path), StreamRequestHandler.of(h -> { }));
        assertTrue(Files.exists(path));
        server.serverClose();
        assertFalse(Files.exists(path));
        var dgram = new UnixDatagramServer(UnixDomainSocketAddress.of(path), DatagramRequestHandler.of(h -> { }));
        assertTrue(Files.exists(path));
        dgram.serverClose();
        assertFalse(Files.exists(path));
    }

    /** Leaves a socket file behind the way a killed process does: python3 binds and exits without unlinking. */
    static void leaveStaleSocket(Path path, String kind) throws Exception {
        Process p = new ProcessBuilder("python3", "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX, socket."
                + kind + "); s.bind(sys.argv[1])" + (kind.equals("SOCK_STREAM") ? "; s.listen(1)" : "")
                + "; import os; os._exit(0)", path.toString()).inheritIO().start();
        assertTrue(p.waitFor(20, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue());
        assertTrue(Files.exists(path), "python left its socket file");
    }

    @Test
    void aStaleStreamSocketFileFromADeadProcessDoesNotBlockANewBind() throws Exception {
        Path path = dir.resolve("stale.sock");
        leaveStaleSocket(path, "SOCK_STREAM");
        try (var server = new UnixStreamServer(UnixDomainSocketAddress.of(path),
                StreamRequestHandler.of(h -> Transport.ECHO.run(h.rfile(), h.wfile())));
                Serving s = Serving.start(server)) {
            assertArrayEquals(HELLO, Transport.UNIX_STREAM.roundTrip(server, dir, HELLO));
        }
    }

    @Test
    void aStaleDatagramSocketFileFromADeadProcessDoesNotBlockANewBind() throws Exception {
        Path path = dir.resolve("stale.dgram");
        leaveStaleSocket(path, "SOCK_DGRAM");
        try (var server = new UnixDatagramServer(UnixDomainSocketAddress.of(path),
                DatagramRequestHandler.of(h -> h.wfile().write(h.packet())));
                Serving s = Serving.start(server)) {
            assertArrayEquals(HELLO, Transport.UNIX_DGRAM.roundTrip(server, dir, HELLO));
        }
    }

    @Test
    void aLiveSocketFileIsRefusedWithItsPath() {
        Path path = dir.resolve("live.sock");
        try (var live = new UnixStreamServer(UnixDomainSocketAddress.of(path), StreamRequestHandler.of(h -> { }))) {
            var e = assertThrows(UncheckedIOException.class,
                    () -> new UnixStreamServer(UnixDomainSocketAddress.of(path), StreamRequestHandler.of(h -> { })));
            assertTrue(e.getMessage().contains(path.toString()), e.getMessage());
            assertTrue(Files.exists(path), "the live server's file is untouched");
        }
        try (var live = new UnixDatagramServer(UnixDomainSocketAddress.of(path), DatagramRequestHandler.of(h -> { }))) {
            var e = assertThrows(UncheckedIOException.class,
                    () -> new UnixDatagramServer(UnixDomainSocketAddress.of(path), DatagramRequestHandler.of(h -> { })));
            assertTrue(e.getMessage().contains(path.toString()), e.getMessage());
        }
    }

    @Test
    void aFileThatIsNotASocketIsNeverRemoved() throws Exception {
        Path path = dir.resolve("precious.txt");
        Files.writeString(path, "keep me");
        var e = assertThrows(UncheckedIOException.class,
                () -> new UnixStreamServer(UnixDomainSocketAddress.of(path), StreamRequestHandler.of(h -> { })));
        assertTrue(e.getMessage().contains("not a socket"), e.getMessage());
        assertEquals("keep me", Files.readString(path));
    }

    @Test
    void aThousandFailedUnixBindsLeakNoDescriptor() {
        Path path = dir.resolve("taken.sock");
        try (var live = new UnixDatagramServer(UnixDomainSocketAddress.of(path), DatagramRequestHandler.of(h -> { }))) {
            int before = LeakCheck.take().fds();
            for (int i = 0; i < 1000; i++) {
                assertThrows(UncheckedIOException.class, () -> new UnixDatagramServer(UnixDomainSocketAddress.of(path),
                        DatagramRequestHandler.of(h -> { })));
                assertThrows(UncheckedIOException.class, () -> new UnixStreamServer(UnixDomainSocketAddress.of(path),
                        StreamRequestHandler.of(h -> { })));
            }
            assertEquals(before, LeakCheck.take().fds());
        }
    }

    @Test
    void aServerGroupServesEveryTransportFromOneThread() throws Exception {
        Transport.Body echo = Transport.ECHO;
        var servers = new java.util.ArrayList<BaseServer<?>>();
        for (Transport t : Transport.values()) {
            Path sub = Files.createDirectory(dir.resolve(t.name()));
            servers.add(t.server(sub, echo, ServerOptions.defaults()));
        }
        try (ServerGroup group = new ServerGroup(servers)) {
            Thread loop = Thread.ofPlatform().name("group-loop").start(group::serveForever);
            for (int i = 0; i < servers.size(); i++) {
                Transport t = Transport.values()[i];
                assertArrayEquals(HELLO, t.roundTrip(servers.get(i), dir.resolve(t.name()), HELLO), t.name());
            }
            assertThrows(IllegalStateException.class, () -> servers.get(0).serveForever(),
                    "a server in a serving group cannot be served twice");
            servers.get(2).shutdown(); // any member stops the group
            loop.join(10_000);
            assertFalse(loop.isAlive());
        }
        for (BaseServer<?> s : servers) {
            assertFalse(s.socket().isOpen(), "closing the group closes " + s);
        }
    }

    @Test
    void unixDatagramRepliesToAnUnboundClientFailWithoutHarm() throws Exception {
        var server = new UnixDatagramServer(UnixDomainSocketAddress.of(dir.resolve("d.sock")),
                DatagramRequestHandler.of(h -> h.wfile().write(h.packet())));
        try (Serving s = Serving.start(server); UnixDatagramSocket unbound = UnixDatagramSocket.open()) {
            unbound.send(ByteBuffer.wrap(HELLO), (UnixDomainSocketAddress) server.serverAddress());
            ServerSuiteTest.await("the request", () -> server.activeRequests() == 0);
            assertArrayEquals(HELLO, Transport.UNIX_DGRAM.roundTrip(server, dir, HELLO), "still serving");
        }
    }
}
