package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * An echo server in a child JVM, for tests that need JVM options of their own (the scheduler's, the
 * pollers'): it prints {@code PORT n}, serves with virtual threads, and stops at the first line on its
 * standard input.
 */
public final class ChildEchoServer {

    public static void main(String[] args) throws Exception {
        var server = new ThreadingTcpServer(new InetSocketAddress("127.0.0.1", 0),
                StreamRequestHandler.of(h -> h.rfile().transferTo(h.wfile())));
        Thread loop = Thread.ofPlatform().start(server::serveForever);
        System.out.println("PORT " + ((InetSocketAddress) server.serverAddress()).getPort());
        new BufferedReader(new InputStreamReader(System.in, US_ASCII)).readLine();
        server.shutdown();
        loop.join();
        server.serverClose();
    }

    /** Starts it with these JVM options; its standard error is the process's, for the test to read. */
    static Process start(String... jvmOptions) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        assertTrue(Files.isDirectory(Path.of("target/test-classes")), "run from the module folder");
        String classpath = Path.of("target/classes").toAbsolutePath() + ":" + Path.of("target/test-classes").toAbsolutePath();
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
        command.addAll(List.of(jvmOptions));
        command.addAll(List.of("-cp", classpath, ChildEchoServer.class.getName()));
        return new ProcessBuilder(command).start();
    }

    /** Reads the child's {@code PORT n} line. */
    static int port(BufferedReader out) throws IOException {
        String line = out.readLine();
        assertTrue(line != null && line.startsWith("PORT "), "child said " + line);
        return Integer.parseInt(line.substring(5));
    }
}
