package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Clients that stream without pause keep their handlers from ever parking, and the JDK never preempts a
 * virtual thread. With one carrier (sockserve's recommended setting on two cores) three of them once kept
 * every other client from being answered; a light client must still be served.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class StreamingClientsTest {

    @Test
    void aLightClientIsAnsweredWhileThreeOthersStreamWithoutPause() throws Exception {
        // the settings the ./sockserve launcher uses on two cores
        Process child = ChildEchoServer.start("-Djdk.virtualThreadScheduler.parallelism=1", "-Djdk.readPollers=1");
        Thread errors = Thread.ofPlatform().start(() -> {
            try {
                child.getErrorStream().transferTo(System.err);
            } catch (java.io.IOException ended) {
                // the child is gone
            }
        });
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong echoed = new AtomicLong();
        List<Thread> streams = new ArrayList<>();
        List<Socket> sockets = new ArrayList<>();
        try (var out = new BufferedReader(new InputStreamReader(child.getInputStream(), US_ASCII));
                var cmd = new PrintWriter(child.getOutputStream(), true)) {
            int port = ChildEchoServer.port(out);
            for (int i = 0; i < 3; i++) {
                Socket s = new Socket("127.0.0.1", port);
                sockets.add(s);
                streams.add(Thread.ofPlatform().start(() -> {
                    byte[] chunk = new byte[64 * 1024];
                    try {
                        while (!stop.get()) {
                            s.getOutputStream().write(chunk);
                        }
                    } catch (java.io.IOException closed) {
                        // the test is over
                    }
                }));
                streams.add(Thread.ofPlatform().start(() -> {
                    byte[] sink = new byte[1 << 20];
                    try {
                        int n;
                        while ((n = s.getInputStream().read(sink)) >= 0) {
                            echoed.addAndGet(n); // the echo, drained as fast as it comes
                        }
                    } catch (java.io.IOException closed) {
                        // the test is over
                    }
                }));
            }
            Await.until("the streams to flow", () -> echoed.get() > 64L << 20);
            try (Socket light = new Socket("127.0.0.1", port)) {
                light.setSoTimeout(2000); // before the fix, the second round trip never came
                light.setTcpNoDelay(true);
                for (int n = 0; n < 50; n++) {
                    byte[] message = ("light " + n + "\n").getBytes(US_ASCII);
                    light.getOutputStream().write(message);
                    assertArrayEquals(message, light.getInputStream().readNBytes(message.length), "round trip " + n);
                }
            }
            stop.set(true);
            for (Socket s : sockets) {
                s.close();
            }
            for (Thread t : streams) {
                t.join(5000);
            }
            cmd.println("STOP");
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        } finally {
            stop.set(true);
            for (Socket s : sockets) {
                s.close();
            }
            child.destroyForcibly().waitFor();
            errors.join(5000);
        }
    }
}
