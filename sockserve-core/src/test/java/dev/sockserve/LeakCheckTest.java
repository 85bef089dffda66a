package dev.sockserve;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The leak check sees what it must: a virtual request thread left parked, a descriptor, a child. */
@Timeout(60)
class LeakCheckTest {

    @Test
    void aVirtualRequestThreadLeftParkedIsCaughtThoughGetAllStackTracesDoesNotListIt() throws Exception {
        LeakCheck.Snapshot before = LeakCheck.take();
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch inHandler = new CountDownLatch(1);
        // blockOnClose(false): the close does not wait; it closes the socket, which a handler parked on
        // something else does not notice
        var server = new ThreadingTcpServer(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                StreamRequestHandler.of(h -> {
                    inHandler.countDown();
                    release.await();
                }), ServerOptions.defaults().blockOnClose(false));
        try (Serving s = Serving.start(server); SocketChannel c = SocketChannel.open(server.serverAddress())) {
            inHandler.await();
        }
        try {
            assertFalse(Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().startsWith("sockserve-")
                    && t.getName().endsWith("-request")), "the JDK's own listing does not show virtual threads");
            Optional<String> leak = LeakCheck.leaked(before, LeakCheck.take());
            assertTrue(leak.isPresent() && leak.get().contains("-request x1"), "caught: " + leak);
        } finally {
            release.countDown();
        }
        LeakCheck.assertNoLeak(before);
    }

    @Test
    void aDescriptorAndAChildProcessLeftOpenAreCaught() throws Exception {
        LeakCheck.Snapshot before = LeakCheck.take();
        Process child = new ProcessBuilder("sleep", "60").start();
        var server = new TcpServer(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                StreamRequestHandler.of(h -> { }));
        try {
            Optional<String> leak = LeakCheck.leaked(before, LeakCheck.take());
            assertTrue(leak.isPresent() && leak.get().contains("descriptors") && leak.get().contains("child processes ["
                    + child.pid() + "]"), "caught: " + leak);
        } finally {
            child.destroyForcibly();
            child.waitFor();
            server.serverClose();
        }
        LeakCheck.assertNoLeak(before);
    }
}
