package dev.sockserve;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The wire behaviour checked from outside the JVM: Python's own {@code socket} module talks to each
 * transport, three clients per server as CPython's test does, with the handler in this JVM and in a child.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class ExternalClientTest {

    static final String CLIENT = """
            import socket, sys, os
            kind, target, here = sys.argv[1], sys.argv[2], sys.argv[3]
            for i in range(3):
                if kind in ('TCP4', 'TCP6'):
                    host, port = target.rsplit(':', 1)
                    s = socket.create_connection((host.strip('[]'), int(port)), timeout=10)
                elif kind == 'UNIX_STREAM':
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10); s.connect(target)
                elif kind in ('UDP4', 'UDP6'):
                    host, port = target.rsplit(':', 1)
                    fam = socket.AF_INET6 if kind == 'UDP6' else socket.AF_INET
                    s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(10); s.connect((host.strip('[]'), int(port)))
                else:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.settimeout(10)
                    me = os.path.join(here, 'py-%d.sock' % i); s.bind(me); s.connect(target)
                s.sendall(b'hello world\\n')
                if s.type == socket.SOCK_STREAM:
                    s.shutdown(socket.SHUT_WR)
                    data = b''
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                else:
                    data = s.recv(8192)
                s.close()
                sys.stdout.write('%d %r\\n' % (i, data))
            """;

    @TempDir
    Path dir;

    /** Every transport with handlers on virtual threads, and in child JVMs (the socket handed over). */
    static Stream<Arguments> rows() {
        return Stream.of(Transport.values()).flatMap(t -> Stream.of(Policy.VIRTUAL_THREADS, Policy.PROCESSES)
                .map(p -> Arguments.of(t, p)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("rows")
    void pythonsSocketModuleGetsTheEcho(Transport transport, Policy policy) throws Exception {
        BaseServer<?> server = transport.server(dir, Transport.ECHO, policy.options());
        try (Serving s = Serving.start(server)) {
            String target = server.serverAddress() instanceof UnixDomainSocketAddress u ? u.getPath().toString()
                    : ((InetSocketAddress) server.serverAddress()).getAddress().getHostAddress() + ":"
                            + ((InetSocketAddress) server.serverAddress()).getPort();
            Process p = new ProcessBuilder("python3", "-c", CLIENT, transport.name(), target, dir.toString())
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(p.getInputStream().readAllBytes(), UTF_8);
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), out);
            assertEquals("0 b'hello world\\n'\n1 b'hello world\\n'\n2 b'hello world\\n'\n", out);
        }
    }
}
