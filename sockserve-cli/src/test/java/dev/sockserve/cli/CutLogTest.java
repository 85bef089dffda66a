package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.Await;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Every connection the server ends is logged with its id, the reason and the listener. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@ExtendWith(NoLeaks.class)
class CutLogTest {

    private static SocketChannel connect(String bound) throws Exception {
        String target = Harness.targetOf(bound);
        int colon = target.lastIndexOf(':');
        return SocketChannel.open(new InetSocketAddress(target.substring(0, colon), Integer.parseInt(target.substring(colon + 1))));
    }

    @Test
    void aReadTimeoutAndTheGraceEndAreLogged() throws Exception {
        Harness.InProcess server = Harness.start("echo", "--listen", "tcp://127.0.0.1:0", "--read-timeout", "1s",
                "--grace", "100ms", "--log-format", "json", "-v");
        String bound = server.address(0);
        try (SocketChannel silent = connect(bound)) {
            Await.until("the read timeout's cut line", () -> server.log.toString(StandardCharsets.UTF_8)
                    .contains("\"event\":\"cut\""));
            String log = server.log.toString(StandardCharsets.UTF_8);
            assertTrue(log.contains("\"reason\":\"read-timeout\",\"listener\":\"" + bound + "\""), log);
        }
        try (SocketChannel busy = connect(bound)) {
            busy.write(ByteBuffer.wrap(new byte[] {'x'}));
            busy.read(ByteBuffer.allocate(1)); // served: the request is running when the server closes
            server.close(); // the cut request ends on its own thread, maybe a moment later
            Await.until("the grace cut line", () -> server.log.toString(StandardCharsets.UTF_8)
                    .contains("\"reason\":\"grace\",\"listener\":\"" + bound + "\""));
            String log = server.log.toString(StandardCharsets.UTF_8);
            // every event of a request names its listener
            for (String line : log.lines().toList()) {
                if (line.matches(".*\"event\":\"(ok|end|status|deny|cut)\".*")) {
                    assertTrue(line.contains("\"listener\":\"" + bound + "\""), line);
                }
            }
            assertTrue(log.contains("\"event\":\"ok\""), log);
        }
    }
}
