package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.Await;
import dev.sockserve.LeakCheck;
import java.io.IOException;
import java.net.ConnectException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * SIGTERM and SIGINT on the real command (a child JVM started as the launcher starts it), with a
 * connection held open across the signal.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
@ExtendWith(LeakCheck.class)
class SignalsTest {

    private Process server;

    @AfterEach
    void endServer() throws Exception {
        if (server != null && server.isAlive()) {
            server.destroyForcibly();
            server.waitFor();
        }
    }

    /** Starts {@code exec -- cat} on loopback port 0; returns the port it says it bound. */
    private int start(String... options) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("exec", "--listen", "tcp://127.0.0.1:0"));
        args.addAll(List.of(options));
        args.addAll(List.of("--", "cat"));
        Harness.Child child = Harness.startChild(args);
        server = child.process();
        return child.port(0);
    }

    private static String roundTrip(Socket socket, String message) throws IOException {
        socket.getOutputStream().write(message.getBytes(StandardCharsets.US_ASCII));
        byte[] reply = socket.getInputStream().readNBytes(message.length());
        return new String(reply, StandardCharsets.US_ASCII);
    }

    private void signal(String name) throws Exception {
        // the shell's own kill: no procps needed on a fresh machine
        Harness.run(List.of("sh", "-c", "kill -" + name + " " + server.pid()), 10);
    }

    /** The server's children: the one {@code cat} of the held connection, once the probes' have ended. */
    private List<ProcessHandle> children() throws InterruptedException {
        Await.until("only the held connection's child left", () -> server.toHandle().children().count() == 1);
        return server.toHandle().children().toList();
    }

    @SuppressWarnings("try") // a probe only connects
    private static boolean refused(int port) {
        try (Socket probe = new Socket("127.0.0.1", port)) {
            return false;
        } catch (ConnectException refused) {
            return true;
        } catch (IOException other) {
            throw new java.io.UncheckedIOException(other);
        }
    }

    @Test
    void sigtermLetsTheRunningConnectionFinishThenExits0() throws Exception {
        int port = start("--grace", "30s");
        try (Socket client = new Socket("127.0.0.1", port)) {
            client.setSoTimeout(10_000);
            assertEquals("before", roundTrip(client, "before"));
            signal("TERM");
            Await.until("the listener to refuse after the signal", () -> refused(port));
            assertEquals("after the signal", roundTrip(client, "after the signal"));
            assertTrue(server.isAlive());
        }
        assertTrue(server.waitFor(10, TimeUnit.SECONDS), "did not exit after its last connection ended");
        assertEquals(0, server.exitValue());
    }

    @Test
    void afterTheGracePeriodTheRestIsEndedAndTheExitIs0() throws Exception {
        int port = start("--grace", "1s");
        try (Socket client = new Socket("127.0.0.1", port)) {
            client.setSoTimeout(20_000);
            assertEquals("x", roundTrip(client, "x"));
            List<ProcessHandle> cats = children();
            assertEquals(1, cats.size());
            signal("TERM");
            assertEquals(-1, client.getInputStream().read(), "the connection should end after the grace period");
            assertTrue(server.waitFor(15, TimeUnit.SECONDS));
            assertEquals(0, server.exitValue());
            assertFalse(cats.get(0).isAlive(), "the child outlived the server");
        }
    }

    @Test
    void sigintStopsAcceptingAndASecondSignalEndsAtOnce() throws Exception {
        int port = start("--grace", "60s");
        try (Socket client = new Socket("127.0.0.1", port)) {
            client.setSoTimeout(20_000);
            assertEquals("x", roundTrip(client, "x"));
            List<ProcessHandle> cats = children();
            signal("INT");
            Await.until("the listener to refuse after the signal", () -> refused(port));
            signal("TERM");
            assertTrue(server.waitFor(10, TimeUnit.SECONDS), "a second signal should end the server at once");
            assertEquals(-1, client.getInputStream().read());
            ProcessHandle cat = cats.get(0);
            cat.onExit().completeOnTimeout(cat, 5, TimeUnit.SECONDS).join();
            assertFalse(cat.isAlive(), "the child outlived the server");
        }
    }
}
