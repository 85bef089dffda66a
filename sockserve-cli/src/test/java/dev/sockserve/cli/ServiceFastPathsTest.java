package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * What a user of the services sees of their fast paths: an idle echo or discard connection costs the
 * process a few KiB, not a buffer; a megabyte goes through byte for byte; bursts of datagrams to the udp
 * echo come back in the order they were sent, answered on the serving thread one at a time.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
@ExtendWith(NoLeaks.class)
class ServiceFastPathsTest {

    private Process server;

    @AfterEach
    void endServer() throws Exception {
        if (server != null && server.isAlive()) {
            server.destroyForcibly();
            server.waitFor();
        }
    }

    private static long rssKib(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.substring(6).trim().split("\\s+")[0]);
            }
        }
        throw new IOException("no VmRSS for " + pid);
    }

    /** Opens {@code count} connections, each after one 64-byte round trip (discard: one message sent). */
    private static List<SocketChannel> open(int port, int count, boolean echo) throws IOException {
        List<SocketChannel> open = new ArrayList<>();
        ByteBuffer reply = ByteBuffer.allocate(64);
        try {
            for (int i = 0; i < count; i++) {
                SocketChannel c = SocketChannel.open(new InetSocketAddress("127.0.0.1", port));
                open.add(c);
                c.write(ByteBuffer.wrap(new byte[64]));
                if (echo) {
                    reply.clear();
                    while (reply.hasRemaining() && c.read(reply) >= 0) {
                        // the whole echo
                    }
                    assertEquals(0, reply.remaining(), "echo of connection " + i);
                }
            }
        } catch (IOException | RuntimeException | Error e) {
            closeAll(open);
            throw e;
        }
        return open;
    }

    private static void closeAll(List<SocketChannel> channels) throws IOException {
        for (SocketChannel c : channels) {
            c.close();
        }
    }

    /** Resident memory per idle connection of the real command, after one message each: a few KiB. */
    private void assertIdleConnectionsAreSmall(String service) throws Exception {
        Harness.Child child = Harness.startChild(List.of(service, "--listen", "tcp://127.0.0.1:0"));
        server = child.process();
        int port = child.port(0);
        closeAll(open(port, 300, service.equals("echo"))); // the server's code paths run once before the baseline
        long before = rssKib(server.pid());
        int count = 2000;
        List<SocketChannel> open = open(port, count, service.equals("echo"));
        try {
            // discard: its connections have read their message once their thread is parked again; the growth
            // is measured once it stops (a 64 KiB buffer per connection would add 125 MiB)
            long after = rssKib(server.pid()), last = -1;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (after != last && System.nanoTime() < deadline) {
                last = after;
                Thread.sleep(300); // the measurement: the resident size, 300 ms apart, until it stops growing
                after = rssKib(server.pid());
            }
            double perConnection = (after - before) / (double) count;
            assertTrue(perConnection < 16, service + ": " + perConnection + " KiB resident per idle connection");
        } finally {
            closeAll(open);
        }
    }

    @Test
    void anIdleEchoConnectionHoldsNoBuffer() throws Exception {
        assertIdleConnectionsAreSmall("echo");
    }

    @Test
    void anIdleDiscardConnectionHoldsNoBuffer() throws Exception {
        assertIdleConnectionsAreSmall("discard");
    }

    /** A megabyte of every byte value, in one send, half-closed; python3 reads back what comes. */
    private static final String MEGABYTE = """
            import socket, sys, hashlib
            host, port = sys.argv[1].rsplit(':', 1)
            s = socket.create_connection((host, int(port)), timeout=20)
            payload = bytes(range(256)) * 4096
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            got = bytearray()
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            print(len(got), hashlib.sha256(got).hexdigest() == hashlib.sha256(payload).hexdigest())
            """;

    @Test
    void echoReturnsAMegabyteAndDiscardDropsIt() throws Exception {
        try (var echo = Harness.start("echo", "--listen", "tcp://127.0.0.1:0");
                var discard = Harness.start("discard", "--listen", "tcp://127.0.0.1:0")) {
            assertEquals("1048576 True", Harness.run(List.of("python3", "-c", MEGABYTE,
                    Harness.targetOf(echo.address(0))), 60).strip());
            assertEquals("0 False", Harness.run(List.of("python3", "-c", MEGABYTE,
                    Harness.targetOf(discard.address(0))), 60).strip());
        }
    }

    /** 40 bursts of 50 numbered datagrams; prints how many replies came and how many came out of order. */
    private static final String BURSTS = """
            import socket, sys, time
            host, port = sys.argv[1].rsplit(':', 1)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect((host, int(port)))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # until the server, just started, answers
                s.settimeout(0.1)
                try:
                    s.send(b'ready?')
                    s.recv(100)
                    break
                except ConnectionRefusedError:
                    time.sleep(0.05)  # not bound yet
                except socket.timeout:
                    pass
            s.settimeout(0.3)
            while True:  # late answers and refusals (sent before the server was up) to the probes
                try:
                    s.recv(100)
                except ConnectionRefusedError:
                    pass
                except socket.timeout:
                    break
            s.settimeout(5)
            got, late = 0, 0
            for burst in range(40):
                for i in range(50):
                    s.send(b'%06d' % (burst * 50 + i) + b'x' * 58)
                last = -1
                for i in range(50):
                    try:
                        n = int(s.recv(100)[:6])
                    except socket.timeout:
                        break
                    got += 1
                    if n < last:
                        late += 1
                    last = max(last, n)
            print(got, late)
            """;

    @Test
    void udpEchoAnswersBurstsInOrder() throws Exception {
        Harness.Child child = Harness.startChild(List.of("echo", "--listen", "udp://127.0.0.1:0"));
        server = child.process();
        int port = child.port(0);
        String[] counts = Harness.run(List.of("python3", "-c", BURSTS, "127.0.0.1:" + port), 90).strip().split(" ");
        assertEquals("0", counts[1], "replies out of order (of " + counts[0] + ")");
        assertTrue(Integer.parseInt(counts[0]) >= 1900, counts[0] + " replies to 2000 datagrams"); // a busy machine may drop a few
    }

    /** -v's status line for a datagram: "1/1" when answered on the serving thread, one at a time. */
    @Test
    void udpEchoServesOneDatagramAtATimeUnlessAskedOtherwise() throws Exception {
        for (List<String> extra : List.of(List.<String>of(), List.of("--concurrency", "virtual"))) {
            List<String> args = new ArrayList<>(List.of("echo", "--listen", "udp://127.0.0.1:0", "-v"));
            args.addAll(extra);
            try (var server = Harness.start(args.toArray(String[]::new))) {
                assertArrayEquals(new byte[] {'h', 'i'}, Harness.python("udp", Harness.targetOf(server.address(0)),
                        new byte[] {'h', 'i'}, "shut", 2000));
                String log = server.log.toString(java.nio.charset.StandardCharsets.UTF_8);
                String expected = extra.isEmpty() ? "status: 1/1" : "status: 1/unlimited";
                assertTrue(log.contains(expected), extra + ": " + log);
            }
        }
    }

    @Test
    void udpEchoWithAConcurrencyChosenStillAnswers() throws Exception {
        for (String[] choice : List.of(new String[] {"--concurrency", "virtual"}, new String[] {"-c", "4"})) {
            try (var server = Harness.start("echo", "--listen", "udp://127.0.0.1:0", choice[0], choice[1])) {
                assertArrayEquals(new byte[] {'h', 'i'}, Harness.python("udp", Harness.targetOf(server.address(0)),
                        new byte[] {'h', 'i'}, "shut", 2000), String.join(" ", choice));
            }
        }
    }
}
