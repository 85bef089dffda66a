package dev.sockserve.cli;

import static dev.sockserve.cli.Harness.kindOf;
import static dev.sockserve.cli.Harness.python;
import static dev.sockserve.cli.Harness.targetOf;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.LeakCheck;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Every service over TCP, UDP, Unix stream and Unix datagram at once (four --listen on one command), checked
 * byte for byte by python3 clients; the expected bytes are computed here from the RFCs, not taken from
 * the server.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@ExtendWith(LeakCheck.class)
class ServicesTest {

    private static final List<String> KINDS = List.of("tcp", "udp", "unix", "unix-dgram");

    private Path dir;

    @BeforeEach
    void makeDir() throws Exception {
        dir = Harness.tempDir();
    }

    @AfterEach
    void deleteDir() throws Exception {
        Harness.deleteTree(dir);
    }

    private Harness.InProcess serve(String service) {
        return Harness.start(service, "--listen", "tcp://127.0.0.1:0", "--listen", "udp://127.0.0.1:0",
                "--listen", "unix:" + dir.resolve("s.sock"), "--listen", "unix-dgram:" + dir.resolve("d.sock"));
    }

    /** Sends to the listener of the given kind: a stream half-closed after sending, or one datagram. */
    private static byte[] ask(Harness.InProcess server, String kind, byte[] payload, int limit) throws Exception {
        String bound = server.address(KINDS.indexOf(kind));
        assertEquals(kind, kindOf(bound));
        boolean datagram = kind.equals("udp") || kind.equals("unix-dgram");
        return python(kind, targetOf(bound), payload, "shut", datagram ? 2000 : limit);
    }

    /** What a client that sends nothing (a stream) or one byte (a datagram) gets back. */
    private static byte[] connect(Harness.InProcess server, String kind) throws Exception {
        boolean datagram = kind.equals("udp") || kind.equals("unix-dgram");
        return ask(server, kind, datagram ? new byte[] {'?'} : new byte[0], -1);
    }

    /** RFC 864's ring computed independently: line N is characters N..N+71 of the 95 from space, then CR LF. */
    private static String chargenLine(int n) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < 72; i++) {
            line.append((char) (32 + (n + i) % 95));
        }
        return line.append("\r\n").toString();
    }

    @Test
    void echoReturnsEveryByteOnEveryTransport() throws Exception {
        byte[] payload = {'h', 'i', 0, (byte) 0xff, '\r', '\n'};
        try (var server = serve("echo")) {
            for (String kind : KINDS) {
                assertArrayEquals(payload, ask(server, kind, payload, -1), kind);
            }
        }
    }

    @Test
    void echoOverIpv6Loopback() throws Exception {
        try (var server = Harness.start("echo", "--listen", "tcp://[::1]:0", "--listen", "udp://[::1]:0")) {
            assertTrue(server.address(0).startsWith("tcp://[::1]:"), server.address(0));
            assertArrayEquals(new byte[] {'s', 'i', 'x'}, python("tcp", targetOf(server.address(0)), new byte[] {'s', 'i', 'x'},
                    "shut", -1));
            assertArrayEquals(new byte[] {'u', 'd', 'p'}, python("udp", targetOf(server.address(1)), new byte[] {'u', 'd', 'p'},
                    "shut", 2000));
        }
    }

    @Test
    void discardAnswersNothingOnEveryTransport() throws Exception {
        try (var server = serve("discard")) {
            for (String kind : KINDS) {
                byte[] reply = ask(server, kind, "drop me".getBytes(StandardCharsets.US_ASCII), -1);
                if (kind.equals("tcp") || kind.equals("unix")) {
                    assertEquals(0, reply.length, kind); // end-of-file after the client half-closed, no byte
                } else {
                    assertNull(reply, kind);
                }
            }
        }
    }

    @Test
    void chargenStreamsTheRfc864RingAndOneLinePerDatagram() throws Exception {
        StringBuilder expected = new StringBuilder();
        for (int n = 0; n < 200; n++) { // more than one turn of the 95-line ring
            expected.append(chargenLine(n));
        }
        byte[] ring = expected.toString().getBytes(StandardCharsets.US_ASCII);
        try (var server = serve("chargen")) {
            for (String kind : List.of("tcp", "unix")) {
                String bound = server.address(KINDS.indexOf(kind));
                assertArrayEquals(ring, python(kind, targetOf(bound), new byte[0], "keep", ring.length), kind);
            }
            for (String kind : List.of("udp", "unix-dgram")) {
                String line = new String(ask(server, kind, new byte[] {'x'}, -1), StandardCharsets.US_ASCII);
                assertEquals(74, line.length(), kind);
                int n = line.charAt(0) - 32;
                assertEquals(chargenLine(n), line, kind);
            }
        }
    }

    @Test
    void timeSendsSecondsSince1900BigEndian() throws Exception {
        try (var server = serve("time")) {
            for (String kind : KINDS) {
                byte[] reply = connect(server, kind);
                assertNotNull(reply, kind);
                assertEquals(4, reply.length, kind);
                long seconds = ((reply[0] & 0xffL) << 24) | ((reply[1] & 0xffL) << 16) | ((reply[2] & 0xffL) << 8)
                        | (reply[3] & 0xffL);
                long expected = System.currentTimeMillis() / 1000 + 2_208_988_800L;
                assertTrue(Math.abs(seconds - expected) <= 5, kind + ": " + seconds + " vs " + expected);
            }
        }
    }

    @Test
    void daytimeSendsOneLineWithTodaysDate() throws Exception {
        String year = String.valueOf(java.time.Year.now().getValue());
        try (var server = serve("daytime")) {
            for (String kind : KINDS) {
                String line = new String(connect(server, kind), StandardCharsets.US_ASCII);
                assertTrue(line.endsWith("\r\n") && line.indexOf('\n') == line.length() - 1, kind + ": " + line);
                assertTrue(line.contains(year), kind + ": " + line);
                java.time.format.DateTimeFormatter.ofPattern("EEEE, MMMM d, yyyy HH:mm:ss-zzz", java.util.Locale.US)
                        .parse(line.strip());
            }
        }
    }

    @Test
    void qotdSendsOneShortQuote() throws Exception {
        try (var server = serve("qotd")) {
            for (String kind : KINDS) {
                byte[] quote = connect(server, kind);
                assertTrue(quote.length > 10 && quote.length < 512, kind + ": " + quote.length + " bytes");
                assertTrue(new String(quote, StandardCharsets.US_ASCII).endsWith("\r\n"), kind);
            }
        }
    }

    @Test
    void udpLoopGuardDropsDatagramsFromServicePorts() throws Exception {
        try (var server = Harness.start("echo", "--listen", "udp://127.0.0.1:0", "-v")) {
            String target = targetOf(server.address(0));
            int port = Integer.parseInt(target.substring(target.lastIndexOf(':') + 1));
            // a client on a service port of another sockserve (7007, ...): answering it could start a loop.
            // It takes the first of the unprivileged service ports that is free, so the check never skips.
            String servicePorts = Gatekeeper.SERVICE_PORTS.stream().filter(p -> p >= 1024).sorted()
                    .map(String::valueOf).collect(java.util.stream.Collectors.joining(","));
            String out = Harness.run(List.of("python3", "-c", """
                    import socket, sys
                    def ask(source_ports):
                        for source_port in source_ports:
                            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                            try:
                                s.bind(('127.0.0.1', source_port))
                            except OSError:
                                s.close()
                                continue
                            s.settimeout(1.0)
                            s.sendto(b'ping', ('127.0.0.1', int(sys.argv[1])))
                            try:
                                return s.recv(100).decode()
                            except socket.timeout:
                                return 'NOREPLY'
                            finally:
                                s.close()
                        return 'ALL-BUSY'
                    print(ask([0]), ask([int(p) for p in sys.argv[2].split(',')]))
                    """, String.valueOf(port), servicePorts), 20);
            assertEquals("ping NOREPLY", out.strip(), "from an ordinary port: answered; from a service port: not");
            assertTrue(server.log.toString(StandardCharsets.UTF_8).contains("loop guard: source port 70"), server.log
                    .toString(StandardCharsets.UTF_8));
        }
    }

    @Test
    void defaultAddressesAre7000PlusTheRfcPort() {
        assertEquals(List.of(7007, 7009, 7013, 7017, 7019, 7037),
                List.of(Service.ECHO, Service.DISCARD, Service.DAYTIME, Service.QOTD, Service.CHARGEN, Service.TIME)
                        .stream().map(Service::defaultPort).toList());
    }
}
