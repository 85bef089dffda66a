package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketTimeoutException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ServerGroup#drain()}: new clients stop reaching the server at once, every client the kernel had
 * already queued is still accepted and served, then the server closes. A plain close resets the queue.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class DrainTest {

    @TempDir
    Path dir;

    /** The first request waits for {@code release}; each answers "served LINE". */
    static java.util.function.Supplier<StreamRequestHandler> handler(CountDownLatch started, CountDownLatch release) {
        AtomicInteger seen = new AtomicInteger();
        return StreamRequestHandler.of(h -> {
            String line = new BufferedReader(new InputStreamReader(h.rfile(), US_ASCII)).readLine();
            if (seen.getAndIncrement() == 0) {
                started.countDown();
                release.await();
            }
            h.wfile().write(("served " + line + "\n").getBytes(US_ASCII));
        });
    }

    static ServerOptions oneAtATime() {
        return ServerOptions.defaults().concurrency(Concurrency.virtualThreads().limit(1));
    }

    static SocketChannel send(SocketAddress address, String line) throws IOException {
        SocketChannel c = SocketChannel.open(address);
        c.write(ByteBuffer.wrap((line + "\n").getBytes(US_ASCII)));
        return c;
    }

    static String answer(SocketChannel c) throws IOException {
        try (c) {
            return new BufferedReader(new InputStreamReader(Channels.newInputStream(c), US_ASCII)).readLine();
        } catch (IOException e) {
            return e.getMessage(); // "Connection reset": what a plain close does to a queued client
        }
    }

    @Test
    void tcpQueuedClientsAreServedAndNewOnesNoLongerReachTheServer() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        TcpServer server = new TcpServer(new InetSocketAddress("127.0.0.1", 0), handler(started, release),
                oneAtATime());
        ServerGroup group = new ServerGroup(server);
        Thread serving = Thread.ofPlatform().start(group::serveForever);
        SocketAddress address = server.serverAddress();
        SocketChannel first = send(address, "first");
        started.await();
        List<SocketChannel> queued = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            queued.add(send(address, "queued" + i)); // the kernel completes these; the server is at its limit
        }
        group.stopArrivals();
        try (Socket late = new Socket()) {
            // the SYN is dropped: no refusal, no connection, so a load balancer's health check or connect times out
            assertThrows(SocketTimeoutException.class, () -> late.connect(address, 300));
        }
        group.shutdown();
        serving.join();
        Thread draining = Thread.ofPlatform().start(group::drain);
        release.countDown();
        assertEquals("served first", answer(first));
        for (int i = 0; i < 5; i++) {
            assertEquals("served queued" + i, answer(queued.get(i)), "a client queued before the drain is served");
        }
        draining.join();
        assertThrows(ConnectException.class, () -> SocketChannel.open(address).close(), "closed after the drain");
    }

    @Test
    void unixQueuedClientsAreServedAndTheSocketFileIsGoneAtOnce() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        UnixDomainSocketAddress address = UnixDomainSocketAddress.of(dir.resolve("drain.sock"));
        UnixStreamServer server = new UnixStreamServer(address, handler(started, release), oneAtATime());
        ServerGroup group = new ServerGroup(server);
        Thread serving = Thread.ofPlatform().start(group::serveForever);
        SocketChannel first = send(address, "first");
        started.await();
        SocketChannel queued = send(address, "queued");
        group.stopArrivals();
        assertThrows(IOException.class, () -> SocketChannel.open(address).close(), "no socket file any more");
        // from another thread while the group still serves, as a shutdown hook does
        Thread draining = Thread.ofPlatform().start(group::drain);
        release.countDown();
        assertEquals("served first", answer(first));
        assertEquals("served queued", answer(queued));
        draining.join();
        serving.join();
    }

    @Test
    void udpDatagramsAlreadyReceivedAreServedAndNewOnesDropped() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger seen = new AtomicInteger();
        UdpServer server = new UdpServer(new InetSocketAddress("127.0.0.1", 0), DatagramRequestHandler.of(h -> {
            if (seen.getAndIncrement() == 0) {
                started.countDown();
                release.await();
            }
            h.wfile().write(("served " + new String(h.packet(), US_ASCII)).getBytes(US_ASCII));
        }), oneAtATime());
        ServerGroup group = new ServerGroup(server);
        Thread serving = Thread.ofPlatform().start(group::serveForever);
        try (var client = java.nio.channels.DatagramChannel.open()) {
            client.connect(server.serverAddress());
            client.write(ByteBuffer.wrap("first".getBytes(US_ASCII)));
            started.await();
            for (int i = 0; i < 3; i++) {
                client.write(ByteBuffer.wrap(("queued" + i).getBytes(US_ASCII))); // on loopback: in its buffer now
            }
            group.stopArrivals();
            client.write(ByteBuffer.wrap("late".getBytes(US_ASCII)));
            Thread draining = Thread.ofPlatform().start(group::drain);
            release.countDown();
            List<String> replies = new ArrayList<>();
            ByteBuffer buffer = ByteBuffer.allocate(100);
            for (int i = 0; i < 4; i++) {
                buffer.clear();
                client.read(buffer);
                replies.add(new String(buffer.array(), 0, buffer.position(), US_ASCII));
            }
            draining.join();
            serving.join();
            assertEquals(List.of("served first", "served queued0", "served queued1", "served queued2"), replies);
            client.configureBlocking(false);
            assertEquals(0, client.read(buffer.clear()), "the datagram sent after stopArrivals was dropped");
        }
    }
}
