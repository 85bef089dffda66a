package dev.sockserve;

import dev.sockserve.internal.Addresses;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Receiving the PROXY protocol: behind a real HAProxy (v1 and v2), and the refusals, with real sockets. */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class ProxyProtocolTest {

    @TempDir
    Path dir;

    /** Answers "client-address local-address peer-address" and the echo of one line. */
    static TcpServer server(ProxyProtocol proxy) {
        return new ThreadingTcpServer(new InetSocketAddress("127.0.0.1", 0), StreamRequestHandler.of(h -> {
            var line = new BufferedReader(new InputStreamReader(h.rfile(), US_ASCII)).readLine();
            var alpn = ProxyProtocol.header(h.context()).flatMap(ProxyHeader::alpn).orElse("-");
            h.wfile().write((Addresses.describe(h.clientAddress()) + " " + Addresses.describe(h.context().localAddress())
                    + " " + Addresses.describe(h.context().peerAddress()) + " " + alpn + " " + line + "\n").getBytes(US_ASCII));
        }), ServerOptions.defaults().proxyProtocol(proxy));
    }

    static int port(BaseServer<?> s) {
        return ((InetSocketAddress) s.serverAddress()).getPort();
    }

    /** HAProxy in TCP mode, sending to {@code backend}. */
    static HaProxy haproxy(Path dir, int backend, String sendProxy) throws Exception {
        return HaProxy.start(dir.resolve("haproxy.cfg"), List.of(
                "global", "  log stderr local0 warning",
                "defaults", "  mode tcp", "  timeout connect 5s", "  timeout client 10s", "  timeout server 10s",
                "frontend front", "  bind fd@3", "  default_backend back",
                "backend back", "  server s1 127.0.0.1:" + backend + " " + sendProxy));
    }

    /** Sends a line through a real socket and returns the server's line, or null when it closed. */
    static String ask(int port, byte[] before) throws Exception {
        try (SocketChannel c = SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
            c.write(ByteBuffer.wrap(before));
            c.write(ByteBuffer.wrap("ping\n".getBytes(US_ASCII)));
            String mine = Addresses.describe(c.getLocalAddress());
            String answer = new BufferedReader(new InputStreamReader(Channels.newInputStream(c), US_ASCII)).readLine();
            return answer == null ? null : answer.replace(mine, "ME");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"send-proxy", "send-proxy-v2"})
    void behindHaproxyTheHandlerSeesTheRealClientAndTheProxyStaysVisible(String sendProxy) throws Exception {
        try (Serving s = Serving.start(server(ProxyProtocol.trusting("127.0.0.0/8")));
                HaProxy haproxy = haproxy(dir, port(s.server), sendProxy)) {
            String[] got = new String[1];
            Await.until("haproxy to pass a connection on", () -> { // haproxy may need a moment to reach the server
                try {
                    return (got[0] = ask(haproxy.port(), new byte[0])) != null;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            String answer = got[0];
            String[] words = answer.split(" ");
            assertEquals("ME", words[0], "the client's own address and port: " + answer);
            assertEquals("127.0.0.1:" + haproxy.port(), words[1], "the address the client connected to");
            assertTrue(words[2].startsWith("127.0.0.1:") && !words[2].equals("ME"), "the proxy's own connection: " + answer);
            assertEquals("ping", words[4]);
        }
    }

    @Test
    void aV2HeaderFromARawClientCarriesAddressesAndTlvs() throws Exception {
        try (Serving s = Serving.start(server(ProxyProtocol.trusting("127.0.0.1")))) {
            byte[] body = ByteBuffer.allocate(12 + 5).put(new byte[] {(byte) 203, 0, 113, 9}).put(new byte[] {10, 1, 2, 3})
                    .putShort((short) 1234).putShort((short) 80).put((byte) 1).putShort((short) 2).put("h2".getBytes(US_ASCII))
                    .array();
            byte[] header = ByteBuffer.allocate(16 + body.length).put(ProxyHeaderSig.SIG).put((byte) 0x21).put((byte) 0x11)
                    .putShort((short) body.length).put(body).array();
            String answer = ask(port(s.server), header);
            assertTrue(answer.startsWith("203.0.113.9:1234 10.1.2.3:80 ME h2 ping"), answer);
            byte[] local = ByteBuffer.allocate(16).put(ProxyHeaderSig.SIG).put((byte) 0x20).put((byte) 0).putShort((short) 0).array();
            String health = ask(port(s.server), local);
            assertTrue(health.startsWith("ME 127.0.0.1:" + port(s.server) + " ME - ping"), "LOCAL keeps the proxy's addresses: " + health);
        }
    }

    /** The v2 signature, spelled once for these tests. */
    static final class ProxyHeaderSig {
        static final byte[] SIG = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    }

    @Test
    void untrustedProxiesBadHeadersAndSlowHeadersAreClosedAndCountedAndOthersServed() throws Exception {
        var events = new ConnectionStepsTest.Events();
        var options = ServerOptions.defaults().concurrency(Concurrency.virtualThreads()).observer(events)
                .proxyProtocol(ProxyProtocol.trusting("127.0.0.1").timeout(Duration.ofMillis(300)));
        var server = new TcpServer(new InetSocketAddress("127.0.0.1", 0), StreamRequestHandler.of(h ->
                h.wfile().write("served\n".getBytes(US_ASCII))), options);
        var untrusting = new TcpServer(new InetSocketAddress("127.0.0.1", 0), StreamRequestHandler.of(h ->
                h.wfile().write("served\n".getBytes(US_ASCII))), ServerOptions.defaults().concurrency(Concurrency.virtualThreads())
                .observer(events).proxyProtocol(ProxyProtocol.trusting("10.0.0.0/8")));
        try (Serving s = Serving.start(server); Serving u = Serving.start(untrusting)) {
            assertEquals(null, ask(port(u.server), "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n".getBytes(US_ASCII)));
            assertEquals("accepted", events.next());
            assertEquals("refused:proxy: untrusted proxy 127.0.0.1:" , events.next().replaceAll("\\d+$", ""));
            assertEquals("ended:REFUSED", events.next());
            assertEquals(null, ask(port(s.server), "GET / HTTP/1.0\r\n\r\n".getBytes(US_ASCII)));
            assertEquals("accepted", events.next());
            assertEquals("refused:proxy: bad header: not a PROXY protocol header", events.next());
            assertEquals("ended:REFUSED", events.next());
            try (SocketChannel slow = SocketChannel.open(server.serverAddress())) {
                slow.write(ByteBuffer.wrap("PROXY TCP4 ".getBytes(US_ASCII)));
                assertEquals("accepted", events.next());
                assertEquals("served", ask(port(s.server), "PROXY TCP4 127.0.0.1 127.0.0.1 7 8\r\n".getBytes(US_ASCII)),
                        "a slow header never holds up another client");
                assertEquals(-1, slow.read(ByteBuffer.allocate(1)), "closed at the header timeout");
            }
            var rest = new java.util.ArrayList<String>();
            for (int i = 0; i < 5; i++) {
                rest.add(events.next());
            }
            assertTrue(rest.contains("refused:proxy did not finish within 300ms"), rest.toString());
            assertEquals(2, server.refusedRequests());
            assertEquals(1, untrusting.refusedRequests());
        }
    }
}
