import dev.sockserve.Concurrency;
import dev.sockserve.DatagramRequestHandler;
import dev.sockserve.ServerOptions;
import dev.sockserve.StreamRequestHandler;
import dev.sockserve.TcpServer;
import dev.sockserve.UdpServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * The fault suite's library server: a TCP and a UDP server on one port whose handler throws when the
 * request asks it to. A request is one line (TCP) or one datagram: "ok TEXT" is echoed; "runtime",
 * "io", "error", "stack", "after" throw a RuntimeException, an IOException, an AssertionError, a
 * StackOverflowError, or a RuntimeException after replying.
 * Usage: CrashServer PORT synchronous|threads|virtual
 */
public final class CrashServer {

    static void crash(String line, java.io.OutputStream out) throws Exception {
        String word = line.split(" ", 2)[0];
        switch (word) {
            case "ok" -> out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            case "runtime" -> throw new IllegalStateException("fault suite: runtime");
            case "io" -> throw new IOException("fault suite: io");
            case "error" -> throw new AssertionError("fault suite: error");
            case "stack" -> recurse(0);
            case "after" -> {
                out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
                throw new IllegalStateException("fault suite: after replying");
            }
            default -> throw new IllegalArgumentException("fault suite: unknown " + word);
        }
    }

    static int recurse(int n) {
        return recurse(n + 1) + 1;
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        Concurrency policy = switch (args[1]) {
            case "synchronous" -> Concurrency.synchronous();
            case "threads" -> Concurrency.threads();
            case "virtual" -> Concurrency.virtualThreads();
            default -> throw new IllegalArgumentException(args[1]);
        };
        var options = ServerOptions.defaults().concurrency(policy);
        var address = new InetSocketAddress("127.0.0.1", port);
        var tcp = new TcpServer(address, StreamRequestHandler.of(h -> {
            var in = new BufferedReader(new InputStreamReader(h.rfile(), StandardCharsets.UTF_8));
            String line = in.readLine();
            if (line != null) {
                crash(line, h.wfile());
            }
        }), options);
        var udp = new UdpServer(address, DatagramRequestHandler.of(h ->
                crash(new String(h.packet(), StandardCharsets.UTF_8).strip(), h.wfile())), options);
        Thread.ofPlatform().name("crash-udp-loop").start(udp::serveForever);
        System.err.println("serving tcp://127.0.0.1:" + port + ", udp://127.0.0.1:" + port + " (" + args[1] + ")");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            tcp.shutdown();
            udp.shutdown();
            tcp.serverClose();
            udp.serverClose();
            Runtime.getRuntime().halt(0);     // a clean stop on SIGTERM exits 0, as the command does
        }));
        tcp.serveForever();
        tcp.serverClose();
        udp.serverClose();
    }
}
