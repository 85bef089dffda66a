package dev.sockserve.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.Await;
import dev.sockserve.LeakCheck;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The one child-process path that exec and processes() share: what each run reports and what it leaves. */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class ChildProcessesTest {

    @TempDir
    Path dir;

    private static ChildProcesses.Program sh(String script) {
        return new ChildProcesses.Program("/bin/sh", List.of("sh", "-c", script), List.of("PATH=/usr/bin:/bin"));
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** True once nothing is left in the process group {@code pgid}. */
    private static boolean groupGone(int pgid) {
        return Posix.kill(-pgid, 0) == -Posix.ESRCH;
    }

    private static void awaitGroupGone(int pgid) throws InterruptedException {
        if (!Await.holdsWithin(Await.DEADLINE, () -> groupGone(pgid))) {
            Posix.kill(-pgid, Posix.SIGKILL);
            throw new AssertionError("process group " + pgid + " outlived its run");
        }
    }

    @Test
    void aDatagramIsTheProgramsInputAndItsOutputTheReply() throws Exception {
        try (var children = new ChildProcesses("test")) {
            var run = children.runDatagram(sh("tr a-z A-Z"), bytes("hello"), 100, Optional.empty(), c -> { });
            assertArrayEquals(bytes("HELLO"), run.reply());
            assertEquals(0, run.waitStatus());
            assertFalse(run.cut() || run.timedOut());
        }
    }

    @Test
    void theWaitStatusIsTheRawOneAndReadsAsExitOrSignal() throws Exception {
        try (var children = new ChildProcesses("test")) {
            var exited = children.runDatagram(sh("exit 200"), new byte[0], 100, Optional.empty(), c -> { });
            assertEquals(200 << 8, exited.waitStatus());
            assertEquals("exit 200", ChildProcesses.describe(exited.waitStatus()));
            var killed = children.runDatagram(sh("kill -9 $$"), new byte[0], 100, Optional.empty(), c -> { });
            assertEquals(9, killed.waitStatus());
            assertEquals("signal 9", ChildProcesses.describe(killed.waitStatus()));
        }
    }

    @Test
    void anOversizeReplyIsCutAndAProgramWritingWithoutEndEnds() throws Exception {
        try (var children = new ChildProcesses("test")) {
            var run = children.runDatagram(new ChildProcesses.Program("/usr/bin/yes", List.of("yes"), List.of()),
                    new byte[0], 10, Optional.of(Duration.ofSeconds(30)), c -> { });
            assertArrayEquals(bytes("y\ny\ny\ny\ny\n"), run.reply());
            assertTrue(run.cut());
            assertFalse(run.timedOut(), "ended by the closed pipe, not by the timeout");
        }
    }

    @Test
    void aRunOverItsTimeIsKilledWithItsGroupAndSendsNothing() throws Exception {
        try (var children = new ChildProcesses("test")) {
            int[] pid = new int[1];
            long start = System.nanoTime();
            var run = children.runDatagram(sh("printf partial; sleep 1000 & sleep 1000"), new byte[0], 100,
                    Optional.of(Duration.ofMillis(300)), c -> pid[0] = c.pid());
            long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(run.timedOut());
            assertEquals(0, run.reply().length, "a timed-out run's output is no reply");
            assertEquals(Posix.SIGKILL, run.waitStatus());
            assertTrue(tookMillis >= 250 && tookMillis < 5000, "took " + tookMillis + " ms for a 300 ms timeout");
            awaitGroupGone(pid[0]);
        }
    }

    @Test
    void whenADatagramProgramEndsWhatItLeftRunningInItsGroupEndsToo() throws Exception {
        try (var children = new ChildProcesses("test")) {
            int[] pid = new int[1];
            // the background sleep holds the output pipe open: the reply must not wait for it
            var run = children.runDatagram(sh("sleep 1000 & echo hi"), new byte[0], 100,
                    Optional.of(Duration.ofSeconds(30)), c -> pid[0] = c.pid());
            assertArrayEquals(bytes("hi\n"), run.reply());
            assertFalse(run.timedOut());
            awaitGroupGone(pid[0]);
        }
    }

    @Test
    void endingAConnectionsProgramEndsItsWholeGroupEvenWhatIgnoresSigterm() throws Exception {
        Path grandchild = dir.resolve("grandchild");
        try (var children = new ChildProcesses("test");
                var listener = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
                var client = SocketChannel.open(listener.getLocalAddress());
                var accepted = listener.accept()) {
            var child = children.startWithConnection(accepted, true,
                    sh("(trap '' TERM; sleep 1000) & echo $! > " + grandchild + "; exec cat"));
            client.write(ByteBuffer.wrap(bytes("ping")));
            ByteBuffer echo = ByteBuffer.allocate(4);
            while (echo.hasRemaining() && client.read(echo) >= 0) {
                // cat echoes the four bytes
            }
            assertArrayEquals(bytes("ping"), echo.array());
            Await.until("the grandchild's pid", () -> {
                try {
                    return Files.exists(grandchild) && !Files.readString(grandchild).isBlank();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            children.endAll(Duration.ofMillis(200));
            assertEquals(Posix.SIGTERM, (int) child.exit().get(5, TimeUnit.SECONDS));
            awaitGroupGone(child.pid());
        }
    }
}
