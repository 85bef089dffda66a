package dev.sockserve.cli;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sockserve.LeakCheck;
import dev.sockserve.Policy;
import dev.sockserve.Transport;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The core's transport x policy matrix (the test kit's {@link Transport} and {@link Policy}) run on the
 * command: {@code sockserve echo} on each transport under each policy the command offers, talked to by the
 * kit's clients. processes() is not a choice of the command ({@code exec} is its per-connection process).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@ExtendWith(LeakCheck.class)
class CommandMatrixTest {

    static final byte[] HELLO = "hello world\n".getBytes(US_ASCII);

    private Path dir;

    @BeforeEach
    void makeDir() throws Exception {
        dir = Harness.tempDir();
    }

    @AfterEach
    void deleteDir() throws Exception {
        Harness.deleteTree(dir);
    }

    static Stream<Arguments> matrix() {
        List<Arguments> rows = new ArrayList<>();
        for (Transport t : Transport.values()) {
            for (Policy p : Policy.values()) {
                if (p != Policy.PROCESSES) {
                    rows.add(Arguments.of(t, p));
                }
            }
        }
        return rows.stream();
    }

    /** The {@code --listen} form of a transport's address: loopback port 0, or a socket file in {@code dir}. */
    static String listen(Transport transport, Path dir) {
        return switch (transport) {
            case TCP4 -> "tcp://127.0.0.1:0";
            case TCP6 -> "tcp://[::1]:0";
            case UDP4 -> "udp://127.0.0.1:0";
            case UDP6 -> "udp://[::1]:0";
            case UNIX_STREAM -> "unix:" + dir.resolve("s.sock");
            case UNIX_DGRAM -> "unix-dgram:" + dir.resolve("d.sock");
        };
    }

    /** The command-line flags of a policy. */
    static List<String> flags(Policy policy) {
        return switch (policy) {
            case SYNCHRONOUS -> List.of("--concurrency", "synchronous");
            case THREADS -> List.of("--concurrency", "threads");
            case VIRTUAL_THREADS -> List.of("--concurrency", "virtual");
            case BOUNDED -> List.of("--concurrency", "virtual", "-c", "4");
            case PROCESSES -> throw new IllegalArgumentException("not a choice of the command");
        };
    }

    /** The address the command printed, as a socket address. */
    static SocketAddress parse(String bound) {
        if (bound.startsWith("unix:") || bound.startsWith("unix-dgram:")) {
            return UnixDomainSocketAddress.of(bound.substring(bound.indexOf(':') + 1));
        }
        String hostPort = bound.substring(bound.indexOf("://") + 3);
        int colon = hostPort.lastIndexOf(':');
        return new InetSocketAddress(hostPort.substring(0, colon).replace("[", "").replace("]", ""),
                Integer.parseInt(hostPort.substring(colon + 1)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("matrix")
    void echoAnswersThreeClients(Transport transport, Policy policy) throws Exception {
        List<String> args = new ArrayList<>(List.of("echo", "--listen", listen(transport, dir)));
        args.addAll(flags(policy));
        try (var server = Harness.start(args.toArray(String[]::new))) {
            SocketAddress address = parse(server.address(0));
            assertEquals(transport, Transport.of(address, transport.stream()));
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(HELLO, transport.roundTrip(address, dir, HELLO));
            }
        }
    }
}
