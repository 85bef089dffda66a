package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code rbufsize()} 0 means no read-ahead, as in Python: {@code rfile()} never takes a byte past what
 * the caller asked for, so a handler can read a line through {@code rfile()} and the rest straight from
 * {@code request()}. The client is Python's {@code socket} module, sending the line and the rest in one
 * segment.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class UnbufferedRfileTest {

    static final String CLIENT = """
            import socket, sys
            s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(b'GET /greeting\\n' + b'body: the rest of it')
            s.shutdown(socket.SHUT_WR)
            data = b''
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            sys.stdout.write(data.decode())
            """;

    /** Reads a line through rfile() byte by byte, the rest from the channel itself, and says what each got. */
    static StreamRequestHandler lineThenChannel(int rbufsize) {
        return new StreamRequestHandler() {
            @Override
            protected int rbufsize() {
                return rbufsize;
            }

            @Override
            protected void handle() throws IOException {
                var line = new ByteArrayOutputStream();
                int b;
                while ((b = rfile().read()) >= 0 && b != '\n') {
                    line.write(b);
                }
                var rest = new ByteArrayOutputStream();
                ByteBuffer buffer = ByteBuffer.allocate(256);
                while (request().read(buffer.clear()) >= 0) {
                    rest.write(buffer.array(), 0, buffer.position());
                }
                wfile().write(("line=" + line.toString(US_ASCII) + "|rest=" + rest.toString(US_ASCII)).getBytes(US_ASCII));
            }
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"virtual", "synchronous"})
    void withNoReadAheadTheRestOfTheInputIsLeftOnTheConnection(String policy) throws Exception {
        var concurrency = policy.equals("virtual") ? Concurrency.virtualThreads() : Concurrency.synchronous();
        var server = new TcpServer(new InetSocketAddress("127.0.0.1", 0), () -> lineThenChannel(0),
                ServerOptions.defaults().concurrency(concurrency));
        try (Serving s = Serving.start(server)) {
            int port = ((InetSocketAddress) server.serverAddress()).getPort();
            Process p = new ProcessBuilder("python3", "-c", CLIENT, Integer.toString(port))
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(p.getInputStream().readAllBytes(), UTF_8);
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), out);
            assertEquals("line=GET /greeting|rest=body: the rest of it", out);
        }
    }
}
