package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.spi.ToolProvider;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Descriptor exhaustion as the first thing a fresh server sees: a child JVM whose descriptors are all
 * taken but a few gets a burst of connections before it has served anything. Accepting fails with
 * EMFILE while the burst lasts; every client of the burst must still be answered, and so must a fresh
 * one after it. (Once, the JDK's I/O pollers were made at the first read that blocked, failed to start
 * for want of descriptors, and every later read on a virtual thread failed for good.)
 */
@ExtendWith(LeakCheck.class)
@Timeout(120)
class DescriptorExhaustionTest {

    /** Descriptors the child leaves free: one connection and a little more. */
    static final int FREE = 2;
    static final int BURST = 8;

    /** Echoes one line. */
    public static final class LineEcho extends StreamRequestHandler {
        @Override
        protected void handle() throws Exception {
            Transport.ECHO.run(rfile(), wfile());
        }
    }

    /** The child: a fresh echo server with the policy of its argument and all but {@link #FREE} descriptors taken. */
    public static final class Exhausted {
        public static void main(String[] args) throws Exception {
            var address = new InetSocketAddress("127.0.0.1", 0);
            var options = ServerOptions.defaults().concurrency(switch (args[0]) {
                case "synchronous" -> Concurrency.synchronous();
                case "threads" -> Concurrency.threads();
                case "virtual" -> Concurrency.virtualThreads();
                case "bounded" -> Concurrency.bounded(4);
                case "processes" -> Concurrency.processes(4);
                default -> throw new IllegalArgumentException(args[0]);
            });
            BaseServer<?> server = args[0].equals("processes") ? new ForkingTcpServer(address, LineEcho.class, options)
                    : new TcpServer(address, LineEcho::new, options);
            awaitSelecting(Thread.ofPlatform().daemon(true).start(server::serveForever));
            int free = Integer.parseInt(args[1]);
            List<java.io.FileInputStream> hoard = new ArrayList<>();
            try {
                while (true) {
                    hoard.add(new java.io.FileInputStream("/dev/null"));
                }
            } catch (IOException full) {
                for (int i = 0; i < free; i++) {
                    hoard.removeLast().close();
                }
            }
            System.out.println("PORT " + ((InetSocketAddress) server.serverAddress()).getPort());
            new BufferedReader(new InputStreamReader(System.in, US_ASCII)).readLine(); // EXIT
            server.shutdown();
            server.serverClose();
        }
    }

    /**
     * Waits until a serving loop waits in its selector: it makes the selector (two descriptors) when it
     * starts, so a child must let it before it takes every descriptor.
     */
    static void awaitSelecting(Thread loop) throws InterruptedException {
        Await.until("the serving loop to wait in its selector",
                () -> Arrays.stream(loop.getStackTrace()).anyMatch(f -> f.getMethodName().equals("select")));
    }

    @TempDir
    Path dir;

    /** What the server answered to {@code sent}, or what went wrong. */
    static String answer(Socket client, String sent) {
        try {
            return new String(client.getInputStream().readNBytes(sent.length()), US_ASCII);
        } catch (IOException e) {
            return e.toString();
        }
    }

    Path jar(Path classes) {
        Path jar = dir.resolve(classes.getFileName() + ".jar");
        int status = ToolProvider.findFirst("jar").orElseThrow().run(System.out, System.err, "--create", "--file",
                jar.toString(), "-C", classes.toString(), ".");
        assertEquals(0, status, "jar " + classes);
        return jar.toAbsolutePath();
    }

    @ParameterizedTest
    @ValueSource(strings = {"synchronous", "threads", "virtual", "bounded", "processes"})
    void aBurstThatExhaustsDescriptorsIsServedAndSoIsAFreshClientAfterIt(String policy) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        assertTrue(Files.isDirectory(Path.of("target/test-classes")), "run from the module folder");
        // from jars, as the launcher runs it: a jar stays open, while a class directory needs a descriptor per class loaded
        String classpath = jar(Path.of("target/classes")) + ":" + jar(Path.of("target/test-classes"));
        int free = policy.equals("processes") ? 8 : FREE; // spawning a child takes descriptors of its own
        Process child = new ProcessBuilder("sh", "-c", "ulimit -n 256 && exec \"$0\" \"$@\"", java,
                "--enable-native-access=ALL-UNNAMED", "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED", "-cp", classpath, Exhausted.class.getName(), policy,
                Integer.toString(free)).start();
        List<String> log = new CopyOnWriteArrayList<>();
        Thread errors = Thread.ofPlatform().start(() -> new BufferedReader(new InputStreamReader(child.getErrorStream(),
                US_ASCII)).lines().forEach(log::add));
        List<Socket> burst = new ArrayList<>();
        try (var out = new BufferedReader(new InputStreamReader(child.getInputStream(), US_ASCII));
                var cmd = new PrintWriter(child.getOutputStream(), true)) {
            String portLine = out.readLine();
            assertTrue(portLine != null && portLine.startsWith("PORT "), "child said " + portLine + " " + log);
            int port = Integer.parseInt(portLine.substring(5));
            for (int i = 0; i < BURST; i++) {
                Socket s = new Socket("127.0.0.1", port);
                s.setSoTimeout(30_000);
                s.getOutputStream().write(("burst " + i + "\n").getBytes(US_ASCII));
                burst.add(s);
            }
            for (int i = 0; i < BURST; i++) {
                assertEquals("burst " + i + "\n", answer(burst.get(i), "burst " + i + "\n"),
                        "burst client " + i + " (" + policy + "):\n" + String.join("\n", log));
                burst.get(i).close();
            }
            try (Socket fresh = new Socket("127.0.0.1", port)) {
                fresh.setSoTimeout(30_000);
                fresh.getOutputStream().write("fresh\n".getBytes(US_ASCII));
                assertEquals("fresh\n", answer(fresh, "fresh\n"),
                        "a fresh client after the burst (" + policy + "):\n" + String.join("\n", log));
            }
            cmd.println("EXIT");
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, child.exitValue(), String.join("\n", log));
        } finally {
            for (Socket s : burst) {
                s.close();
            }
            child.destroyForcibly().waitFor();
            errors.join();
        }
    }
}
