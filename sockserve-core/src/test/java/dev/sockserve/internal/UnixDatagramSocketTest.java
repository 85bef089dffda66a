package dev.sockserve.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.Await;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class UnixDatagramSocketTest {

    @TempDir
    Path dir;

    private UnixDomainSocketAddress at(String name) {
        return UnixDomainSocketAddress.of(dir.resolve(name));
    }

    private static ByteBuffer bytes(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    private static String text(ByteBuffer b) {
        b.flip();
        return StandardCharsets.UTF_8.decode(b).toString();
    }

    private static UnixDatagramSocket bound(UnixDomainSocketAddress address) throws IOException {
        UnixDatagramSocket s = UnixDatagramSocket.open();
        try {
            s.bind(address);
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
        return s;
    }

    private static List<String> watcherThreads() {
        List<String> names = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("sockserve-unix-dgram-")) {
                names.add(t.getName());
            }
        }
        return names;
    }

    private static long openDescriptors() throws IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    @Test
    @Timeout(10)
    void boundSocketsExchangeDatagramsBothWays() throws IOException {
        UnixDomainSocketAddress pa = at("a.sock");
        UnixDomainSocketAddress pb = at("b.sock");
        try (UnixDatagramSocket a = bound(pa); UnixDatagramSocket b = bound(pb)) {
            assertEquals(pa, a.localAddress().orElseThrow());
            ByteBuffer out = bytes("ping");
            assertEquals(4, a.send(out, pb));
            assertFalse(out.hasRemaining());

            ByteBuffer in = ByteBuffer.allocate(100);
            UnixDatagramSocket.Received r = b.receive(in, Duration.ofSeconds(5));
            assertNotNull(r);
            assertEquals(4, r.length());
            assertEquals(pa, r.sender());
            assertEquals("ping", text(in));

            // reply to whoever sent it, through a direct buffer this time
            ByteBuffer reply = ByteBuffer.allocateDirect(16).put("pong!".getBytes(StandardCharsets.UTF_8)).flip();
            assertEquals(5, b.send(reply, r.sender()));
            ByteBuffer back = ByteBuffer.allocateDirect(100);
            UnixDatagramSocket.Received r2 = a.receive(back, Duration.ofSeconds(5));
            assertNotNull(r2);
            assertEquals(5, r2.length());
            assertEquals(pb, r2.sender());
            assertEquals("pong!", text(back));
        }
    }

    @Test
    @Timeout(10)
    void unboundSenderHasEmptyPathAndEmptyDatagramsArrive() throws IOException {
        UnixDomainSocketAddress pa = at("a.sock");
        try (UnixDatagramSocket a = bound(pa); UnixDatagramSocket anon = UnixDatagramSocket.open()) {
            assertTrue(anon.localAddress().isEmpty());
            assertEquals(0, anon.send(ByteBuffer.allocate(0), pa));
            UnixDatagramSocket.Received r = a.receive(ByteBuffer.allocate(8), Duration.ofSeconds(5));
            assertNotNull(r);
            assertEquals(0, r.length());
            assertEquals("", r.sender().getPath().toString());
        }
    }

    @Test
    @Timeout(10)
    void truncatedDatagramReportsItsRealLength() throws IOException {
        UnixDomainSocketAddress pa = at("a.sock");
        UnixDomainSocketAddress pb = at("b.sock");
        try (UnixDatagramSocket a = bound(pa); UnixDatagramSocket b = bound(pb)) {
            a.send(bytes("0123456789abcdef"), pb);
            ByteBuffer small = ByteBuffer.allocate(4);
            UnixDatagramSocket.Received r = b.receive(small, Duration.ofSeconds(5));
            assertNotNull(r);
            assertEquals(16, r.length());
            assertEquals(4, small.position());
            assertEquals("0123", text(small));
            // the rest of a truncated datagram is gone, not left for the next receive
            assertNull(b.receive(ByteBuffer.allocate(64)));
        }
    }

    @Test
    @Timeout(10)
    void emptySocketReturnsNullAtOnceAndTimedReceiveWaits() throws IOException {
        try (UnixDatagramSocket a = bound(at("a.sock"))) {
            assertNull(a.receive(ByteBuffer.allocate(16))); // a receive that blocked would hang until the @Timeout

            long t0 = System.nanoTime();
            assertNull(a.receive(ByteBuffer.allocate(16), Duration.ofMillis(300)));
            long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertTrue(waited >= 290 && waited < 3000, "waited " + waited + " ms for a 300 ms timeout");
        }
    }

    @Test
    @Timeout(10)
    void closeEndsATimedReceiveOnAnotherThread() throws Exception {
        UnixDatagramSocket a = bound(at("a.sock"));
        CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        Thread receiver = Thread.ofPlatform().start(() -> {
            try {
                a.receive(ByteBuffer.allocate(16), Duration.ofSeconds(30));
                outcome.complete(null);
            } catch (Throwable t) {
                outcome.complete(t);
            }
        });
        Await.until("the receive to wait in poll(2)",
                () -> Arrays.stream(receiver.getStackTrace()).anyMatch(f -> f.getMethodName().equals("poll")));
        a.close();
        Throwable t = outcome.get(5, TimeUnit.SECONDS); // the receive would otherwise wait 30 s
        assertTrue(t instanceof ClosedChannelException, "got " + t);
        receiver.join();
    }

    @Test
    @Timeout(10)
    void readinessWakesASelectorOncePerReceive() throws IOException {
        UnixDomainSocketAddress pa = at("a.sock");
        UnixDomainSocketAddress pb = at("b.sock");
        try (Selector selector = Selector.open(); UnixDatagramSocket a = bound(pa); UnixDatagramSocket b = bound(pb)) {
            SelectableChannel ready = a.readiness();
            assertSame(ready, a.readiness());
            assertFalse(ready.isBlocking());
            assertTrue(watcherThreads().contains("sockserve-unix-dgram-" + pa.getPath() + "-poll"), watcherThreads().toString());
            SelectionKey key = ready.register(selector, SelectionKey.OP_READ);
            assertEquals(0, selector.selectNow());

            b.send(bytes("one"), pa);
            assertEquals(1, selector.select(5000));
            assertTrue(selector.selectedKeys().contains(key));
            selector.selectedKeys().clear();
            ByteBuffer in = ByteBuffer.allocate(16);
            assertNotNull(a.receive(in));
            assertEquals("one", text(in));
            assertEquals(0, selector.select(200), "readable with nothing waiting: the watcher floods");

            // back to back: each gets its own wake-up, one receive per wake-up
            b.send(bytes("two"), pa);
            b.send(bytes("three"), pa);
            List<String> got = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                assertEquals(1, selector.select(5000), "datagram " + (i + 1) + " not signalled");
                selector.selectedKeys().clear();
                in.clear();
                assertNotNull(a.receive(in));
                got.add(text(in));
            }
            assertEquals(List.of("two", "three"), got);
            assertEquals(0, selector.select(200));
        }
        assertTrue(watcherThreads().isEmpty(), watcherThreads().toString());
    }

    @Test
    @Timeout(10)
    void talksToPythonsSocketModule() throws Exception {
        UnixDomainSocketAddress ours = at("java.sock");
        Path theirs = dir.resolve("py.sock");
        String script = String.join("\n",
                "import socket, sys",
                "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)",
                "s.bind(sys.argv[1])",
                "s.settimeout(5)",
                "s.sendto(b'hello from python', sys.argv[2])",
                "data, addr = s.recvfrom(1024)",
                "print(data.decode() + '|' + addr)");
        try (UnixDatagramSocket a = bound(ours)) {
            Process py = new ProcessBuilder("python3", "-c", script, theirs.toString(), ours.getPath().toString())
                    .redirectErrorStream(true).start();
            try {
                ByteBuffer in = ByteBuffer.allocate(1024);
                UnixDatagramSocket.Received r = a.receive(in, Duration.ofSeconds(8));
                assertNotNull(r, "python sent nothing");
                assertEquals("hello from python", text(in));
                assertEquals(theirs, r.sender().getPath());
                assertEquals(15, a.send(bytes("hello from java"), r.sender()));
                assertTrue(py.waitFor(8, TimeUnit.SECONDS));
                String out = new String(py.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
                assertEquals(0, py.exitValue(), out);
                assertEquals("hello from java|" + ours.getPath(), out);
            } finally {
                py.destroyForcibly();
            }
        }
    }

    @Test
    @Timeout(10)
    void isLiveTellsABoundSocketFromAStaleFile() throws IOException {
        UnixDomainSocketAddress pa = at("a.sock");
        UnixDatagramSocket a = bound(pa);
        assertTrue(UnixDatagramSocket.isLive(pa.getPath()));
        a.close();
        assertTrue(Files.exists(pa.getPath()), "close must leave the path for the server to unlink");
        assertFalse(UnixDatagramSocket.isLive(pa.getPath()));
        assertFalse(UnixDatagramSocket.isLive(dir.resolve("absent.sock")));
        Files.writeString(dir.resolve("plain.txt"), "not a socket");
        assertFalse(UnixDatagramSocket.isLive(dir.resolve("plain.txt")));
    }

    @Test
    @Timeout(10)
    void bindErrorsNameThePath() throws IOException {
        Path taken = dir.resolve("taken.sock");
        Files.createFile(taken);
        try (UnixDatagramSocket s = UnixDatagramSocket.open()) {
            IOException e = assertThrows(IOException.class, () -> s.bind(UnixDomainSocketAddress.of(taken)));
            assertEquals("bind unix-dgram:" + taken + ": Address already in use", e.getMessage());
            assertTrue(s.localAddress().isEmpty());

            Path tooLong = dir.resolve("x".repeat(120) + ".sock");
            IOException e2 = assertThrows(IOException.class, () -> s.bind(UnixDomainSocketAddress.of(tooLong)));
            assertTrue(e2.getMessage().contains(tooLong.toString()), e2.getMessage());
            assertTrue(e2.getMessage().startsWith("bind unix-dgram:"), e2.getMessage());
        }
    }

    @Test
    @Timeout(10)
    void sendErrorsNameTheTarget() throws IOException {
        UnixDomainSocketAddress gone = at("gone.sock");
        UnixDomainSocketAddress stale = at("stale.sock");
        bound(stale).close();
        try (UnixDatagramSocket s = UnixDatagramSocket.open()) {
            IOException e = assertThrows(IOException.class, () -> s.send(bytes("x"), gone));
            assertEquals("sendto unix-dgram:" + gone.getPath() + ": No such file or directory", e.getMessage());
            IOException e2 = assertThrows(IOException.class, () -> s.send(bytes("x"), stale));
            assertEquals("sendto unix-dgram:" + stale.getPath() + ": Connection refused", e2.getMessage());
        }
    }

    @Test
    @Timeout(10)
    void fullReceiverMakesSendReturnZero() throws IOException {
        UnixDomainSocketAddress pa = at("a.sock");
        try (UnixDatagramSocket a = bound(pa); UnixDatagramSocket b = UnixDatagramSocket.open()) {
            assertTrue(a.isOpen()); // a only has to exist, unread, for its queue to fill
            int sent = 0;
            int n;
            while ((n = b.send(ByteBuffer.allocate(1024), pa)) > 0) {
                sent++;
                assertTrue(sent < 1_000_000, "the receive queue never filled");
            }
            assertEquals(0, n);
            assertTrue(sent > 0);
        }
    }

    @Test
    @Timeout(10)
    void receiveSendAndCloseMayRaceAcrossThreads() throws Exception {
        UnixDomainSocketAddress ps = at("server.sock");
        UnixDomainSocketAddress pc = at("client.sock");
        UnixDatagramSocket server = bound(ps);
        UnixDatagramSocket client = bound(pc);
        AtomicReference<Throwable> unexpected = new AtomicReference<>();
        AtomicInteger replies = new AtomicInteger();
        try {
            // the server receives on a platform thread and replies from virtual "handler" threads
            Thread serve = Thread.ofPlatform().start(() -> {
                try (var handlers = Executors.newVirtualThreadPerTaskExecutor()) {
                    while (true) {
                        ByteBuffer in = ByteBuffer.allocate(64);
                        UnixDatagramSocket.Received r = server.receive(in, Duration.ofSeconds(5));
                        if (r == null) {
                            continue;
                        }
                        handlers.submit(() -> {
                            try {
                                server.send(in.flip(), r.sender());
                            } catch (ClosedChannelException closed) {
                                // the race under test
                            } catch (Throwable t) {
                                unexpected.compareAndSet(null, t);
                            }
                        });
                    }
                } catch (ClosedChannelException closed) {
                    // how the loop ends
                } catch (Throwable t) {
                    unexpected.compareAndSet(null, t);
                }
            });
            Thread reader = Thread.ofPlatform().start(() -> {
                try {
                    while (client.receive(ByteBuffer.allocate(64), Duration.ofSeconds(5)) != null) {
                        replies.incrementAndGet();
                    }
                } catch (ClosedChannelException closed) {
                    // the test is over
                } catch (Throwable t) {
                    unexpected.compareAndSet(null, t);
                }
            });
            for (int i = 0; i < 2000 && replies.get() < 300; i++) {
                client.send(bytes("n" + i), ps);
                if (i % 50 == 0) {
                    Thread.sleep(1); // the scenario: a client that sends in bursts, not a wait for an event
                }
            }
            server.close();
            serve.join(5000);
            assertFalse(serve.isAlive(), "the serve loop did not see the close");
            client.close();
            reader.join(5000);
            assertFalse(reader.isAlive());
        } finally {
            server.close();
            client.close();
        }
        assertNull(unexpected.get(), () -> String.valueOf(unexpected.get()));
        assertTrue(replies.get() > 0);
    }

    @Test
    @Timeout(10)
    void closeIsIdempotentStopsTheWatcherAndLeaksNoDescriptor() throws IOException {
        UnixDatagramSocket first = bound(at("first.sock"));
        first.readiness();
        first.close();
        first.close();
        assertFalse(first.isOpen());
        assertThrows(ClosedChannelException.class, () -> first.receive(ByteBuffer.allocate(4)));
        assertThrows(ClosedChannelException.class, () -> first.send(bytes("x"), at("first.sock")));
        assertThrows(ClosedChannelException.class, first::readiness);

        long before = openDescriptors();
        for (int i = 0; i < 200; i++) {
            UnixDatagramSocket s = bound(at("s" + i + ".sock"));
            s.readiness();
            s.close();
            s.close();
        }
        assertEquals(before, openDescriptors());
        assertTrue(watcherThreads().isEmpty(), watcherThreads().toString());
    }
}
