package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.Await;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** --rate (per client address), --max-rate (per listener: clients wait) and -B, seen by python3 clients. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@ExtendWith(NoLeaks.class)
class RateAndBannerTest {

    /** A flood from 127.0.0.2 while 127.0.0.1 connects three times a second; prints what each side got. */
    private static final String FLOOD = """
            import socket, sys, threading, time
            host, port = sys.argv[1], int(sys.argv[2])
            def once(source):
                s = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
                got = b''
                try:  # a refused connection may be closed (even reset: 'x' unread) before the client is done
                    s.sendall(b'x'); s.shutdown(socket.SHUT_WR)
                    while True:
                        chunk = s.recv(100)
                        if not chunk: break
                        got += chunk
                except OSError:
                    got += b'(reset)'
                s.close()
                return got
            flood = {'served': 0, 'refused': 0, 'other': 0}
            def flooder():
                start = time.monotonic()
                while time.monotonic() - start < 1.5:
                    got = once('127.0.0.2')
                    flood['served' if got == b'x' else 'refused' if got.startswith(b'slow down\\n') or got == b'(reset)' else 'other'] += 1
                flood['seconds'] = time.monotonic() - start
            t = threading.Thread(target=flooder); t.start()
            normal = []
            for i in range(5):
                normal.append(once('127.0.0.1'))
                time.sleep(0.3)  # the client's own pace: about three connections a second
            t.join()
            print(flood['served'], flood['refused'], flood['other'], flood['seconds'], sum(1 for g in normal if g == b'x'))
            """;

    @Test
    void aFloodFromOneAddressIsRefusedWhileAnotherKeepsItsRate() throws Exception {
        try (Harness.InProcess server = Harness.start("echo", "--listen", "tcp://127.0.0.1:0", "--rate",
                "5/s:5:slow down\\n", "-v")) {
            String target = Harness.targetOf(server.address(0));
            String[] out = Harness.run(List.of("python3", "-c", FLOOD, "127.0.0.1",
                    target.substring(target.lastIndexOf(':') + 1)), 30).strip().split(" ");
            int served = Integer.parseInt(out[0]);
            int refused = Integer.parseInt(out[1]);
            double seconds = Double.parseDouble(out[3]);
            assertEquals("0", out[2], "a flood connection got neither the echo nor the message");
            assertEquals("5", out[4], "127.0.0.1 at its normal rate was refused: " + server.log);
            assertTrue(served >= 5, "the burst was not served: " + served);
            assertTrue(served <= 5 + 5 * seconds + 2, served + " served in " + seconds + "s at 5/s:5");
            assertTrue(refused > 0, "nothing refused");
            Await.until("deny lines", () -> server.log.toString(StandardCharsets.UTF_8).contains("rate 5/s:5"));
            // each closed connection is a cut line too, with its deny line's id
            String log = server.log.toString(StandardCharsets.UTF_8);
            String deny = log.lines().filter(l -> l.startsWith("sockserve: deny ") && l.endsWith("rate 5/s:5"))
                    .findFirst().orElseThrow();
            String id = deny.split(" ")[2];
            assertTrue(log.contains("sockserve: cut " + id + " limit on " + server.address(0)), log);
        }
    }

    /** Ten connections at once; prints the seconds from the first reply to the last, and how many echoed. */
    private static final String AT_ONCE = """
            import socket, sys, time
            host, port = sys.argv[1], int(sys.argv[2])
            socks = [socket.create_connection((host, port), timeout=20) for i in range(10)]
            for s in socks:
                s.sendall(b'x'); s.shutdown(socket.SHUT_WR)
            times, echoed = [], 0
            for s in socks:
                got = s.recv(10)
                times.append(time.monotonic())
                echoed += got == b'x'
                s.close()
            print(max(times) - min(times), echoed)
            """;

    @Test
    void aboveTheMaxRateClientsWaitInTheBacklogAndAreAllServed() throws Exception {
        try (Harness.InProcess server = Harness.start("echo", "--listen", "tcp://127.0.0.1:0", "--max-rate", "4/s:2")) {
            String target = Harness.targetOf(server.address(0));
            String[] out = Harness.run(List.of("python3", "-c", AT_ONCE, "127.0.0.1",
                    target.substring(target.lastIndexOf(':') + 1)), 30).strip().split(" ");
            assertEquals("10", out[1], "some were refused: " + server.log);
            // 2 at once, then 8 more at 4 a second: at least 2 seconds (less a little for the clock's grain)
            assertTrue(Double.parseDouble(out[0]) >= 1.8, "served within " + out[0] + "s at 4/s:2");
        }
    }

    @Test
    void theBannerComesBeforeTheServiceAndTheProgram() throws Exception {
        try (Harness.InProcess server = Harness.start("echo", "--listen", "tcp://127.0.0.1:0", "-B", "hello\\r\\n")) {
            assertEquals("hello\r\nx", new String(Harness.python("tcp", Harness.targetOf(server.address(0)),
                    new byte[] {'x'}, "shut", -1), StandardCharsets.UTF_8));
        }
        try (Harness.InProcess server = Harness.start("exec", "--listen", "tcp://127.0.0.1:0", "-B", "hi\\t", "--",
                "/bin/cat")) {
            assertEquals("hi\tx", new String(Harness.python("tcp", Harness.targetOf(server.address(0)),
                    new byte[] {'x'}, "shut", -1), StandardCharsets.UTF_8));
        }
    }

    @Test
    void badRatesAreRefusedWithExit2() {
        for (String bad : List.of("5", "0/s", "5/m", "5/s:0", "x/s")) {
            Harness.Refusal r = Harness.refuse("echo", "--listen", "tcp://127.0.0.1:0", "--rate", bad);
            assertEquals(2, r.exitCode(), r.message());
        }
        Harness.Refusal r = Harness.refuse("echo", "--listen", "tcp://127.0.0.1:0", "--max-rate", "5/s:5:msg");
        assertEquals(2, r.exitCode(), r.message());
    }
}
