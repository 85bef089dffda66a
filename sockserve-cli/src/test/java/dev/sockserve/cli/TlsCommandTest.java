package dev.sockserve.cli;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@code tls://} listeners, {@code forward} and the PROXY protocol flags, driven as a user would: real
 * clients ({@code openssl s_client}, Python's {@code ssl} module) against the command. Certificates are
 * made by {@code openssl} for the run.
 */
@ExtendWith(dev.sockserve.LeakCheck.class)
@Timeout(90)
class TlsCommandTest {

    static Path pki;

    static String openssl(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        return Harness.run(command, 30);
    }

    @BeforeAll
    static void certificates() throws Exception {
        pki = Harness.tempDir();
        String dir = pki.toString();
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-keyout", dir + "/ca.key", "-out", dir + "/ca.pem", "-subj", "/CN=Test CA");
        for (String[] c : new String[][] {{"server", "/CN=localhost", "DNS:localhost"}, {"other", "/CN=other.test",
            "DNS:other.test"}, {"alice", "/O=Example/CN=alice", null}, {"upstream", "/CN=upstream", "IP:127.0.0.1"}}) {
            openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    dir + "/" + c[0] + ".key", "-out", dir + "/" + c[0] + ".csr", "-subj", c[1]);
            Files.writeString(pki.resolve(c[0] + ".ext"), c[2] == null ? "basicConstraints=CA:FALSE\n"
                    : "subjectAltName=" + c[2] + "\n");
            openssl("x509", "-req", "-in", dir + "/" + c[0] + ".csr", "-CA", dir + "/ca.pem", "-CAkey", dir + "/ca.key",
                    "-CAcreateserial", "-days", "2", "-out", dir + "/" + c[0] + ".pem", "-extfile", dir + "/" + c[0] + ".ext");
        }
    }

    @AfterAll
    static void clean() throws Exception {
        Harness.deleteTree(pki);
    }

    static String p(String name) {
        return pki.resolve(name).toString();
    }

    static int port(String bound) {
        return Integer.parseInt(bound.substring(bound.lastIndexOf(':') + 1));
    }

    /** Python's ssl client: sends a line, half-closes the TLS stream... prints the reply, version and cipher. */
    static String python(int port, String sni, String extra) throws Exception {
        String script = String.join("\n", "import socket, ssl, sys",
                "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_verify_locations(sys.argv[2])",
                "if sys.argv[4]: ctx.load_cert_chain(sys.argv[4] + '.pem', sys.argv[4] + '.key')",
                "try:",
                "    with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10) as raw:",
                "        with ctx.wrap_socket(raw, server_hostname=sys.argv[3]) as s:",
                "            s.sendall(b'over tls\\n')",
                "            data = b''",
                "            while not data.endswith(b'\\n'):",
                "                chunk = s.recv(100)",
                "                if not chunk: break",
                "                data += chunk",
                "            print('OK', data.decode().strip(), s.version(), s.getpeercert()['subject'][-1][0][1])",
                "except Exception as e:",
                "    print('FAIL', type(e).__name__)");
        return Harness.run(List.of("python3", "-c", script, String.valueOf(port), p("ca.pem"), sni, extra), 30).strip();
    }

    @ParameterizedTest
    @ValueSource(strings = {"jdk", "jdk-only", "boringssl"})
    void echoOverTlsPicksTheCertificateBySniAndLogsProtocolAndCipher(String engine) throws Exception {
        try (var s = Harness.start("echo", "--listen", "tls://127.0.0.1:0", "-v", "--tls-cert", p("server.pem"),
                "--tls-key", p("server.key"), "--tls-cert", p("other.pem"), "--tls-key", p("other.key"),
                "--tls-engine", engine)) {
            int port = port(s.address(0));
            assertTrue(s.address(0).startsWith("tls://127.0.0.1:"), s.address(0));
            assertEquals("OK over tls TLSv1.3 localhost", python(port, "localhost", ""));
            assertEquals("OK over tls TLSv1.3 other.test", python(port, "other.test", ""));
            String log = s.log.toString(US_ASCII);
            assertTrue(log.matches("(?s).*ok \\d+ \\S+ \\S+ TLSv1\\.3 TLS_AES_\\w+.*"), log);
            String says = switch (engine) { // (BoringX25519 stays installed in this JVM once a jdk case ran)
                case "jdk" -> "tls: SunJSSE 25, X25519 by BoringSSL\n";
                case "jdk-only" -> "tls: SunJSSE 25\n";
                default -> "tls: Conscrypt 2.9.0 (BoringSSL)\n";
            };
            assertTrue(log.contains(says), log);
            Process client = new ProcessBuilder("openssl", "s_client", "-connect", "127.0.0.1:" + port, "-tls1_2",
                    "-servername", "localhost", "-brief").redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            String tls12 = new String(client.getInputStream().readAllBytes(), US_ASCII);
            assertTrue(client.waitFor(30, TimeUnit.SECONDS));
            assertTrue(tls12.contains("Protocol version: TLSv1.2"), tls12);
        }
    }

    @Test
    void badTlsFilesAndMisusedFlagsAreRefusedAtStartWithExit2AndOneLine() throws Exception {
        var missing = Harness.refuse("echo", "--listen", "tls://127.0.0.1:0", "--tls-cert", p("nope.pem"), "--tls-key",
                p("server.key"));
        assertEquals(2, missing.exitCode());
        assertEquals("sockserve echo: " + p("nope.pem") + ": No such file or directory (see 'sockserve echo --help')",
                missing.message().strip());
        var mismatch = Harness.refuse("echo", "--listen", "tls://127.0.0.1:0", "--tls-cert", p("server.pem"),
                "--tls-key", p("alice.key"));
        assertEquals(2, mismatch.exitCode());
        assertTrue(mismatch.message().contains(p("alice.key") + ": the key does not match the certificate in "
                + p("server.pem")), mismatch.message());
        assertEquals(1, mismatch.message().strip().lines().count(), "one line, no stack trace");
        var noCert = Harness.refuse("echo", "--listen", "tls://127.0.0.1:0");
        assertEquals(2, noCert.exitCode());
        assertTrue(noCert.message().contains("a tls:// listener needs --tls-cert"), noCert.message());
        var unused = Harness.refuse("echo", "--listen", "tcp://127.0.0.1:0", "--tls-cert", p("server.pem"), "--tls-key",
                p("server.key"));
        assertEquals(2, unused.exitCode());
        assertTrue(unused.message().contains("--tls-cert applies to tls:// listeners"), unused.message());
        var engineAlone = Harness.refuse("echo", "--listen", "tcp://127.0.0.1:0", "--tls-engine", "boringssl");
        assertEquals(2, engineAlone.exitCode());
        assertTrue(engineAlone.message().contains("--tls-engine need --tls-cert and --tls-key"), engineAlone.message());
        var badEngine = Harness.refuse("echo", "--listen", "tls://127.0.0.1:0", "--tls-cert", p("server.pem"),
                "--tls-key", p("server.key"), "--tls-engine", "openssl");
        assertEquals(2, badEngine.exitCode());
        assertTrue(badEngine.message().contains("'openssl' is not jdk, jdk-only or boringssl"), badEngine.message());
        var proxyAlone = Harness.refuse("echo", "--listen", "tcp://127.0.0.1:0", "--proxy-protocol");
        assertEquals(2, proxyAlone.exitCode());
        assertTrue(proxyAlone.message().contains("--proxy-protocol needs --trusted-proxies"), proxyAlone.message());
    }

    @Test
    void mutualTlsTurnsAwayClientsWithoutAnAcceptableCertificate() throws Exception {
        try (var s = Harness.start("echo", "--listen", "tls://127.0.0.1:0", "--tls-cert", p("server.pem"), "--tls-key",
                p("server.key"), "--tls-client-ca", p("ca.pem"))) {
            int port = port(s.address(0));
            assertEquals("OK over tls TLSv1.3 localhost", python(port, "localhost", pki.resolve("alice").toString()));
            assertTrue(python(port, "localhost", "").startsWith("FAIL"), "no client certificate");
        }
    }

    /** A command in a child JVM, for what needs real signals: its bound addresses and its log lines. */
    record Child(Process process, List<String> bound, List<String> log) implements AutoCloseable {
        static Child start(List<String> args) throws Exception {
            Process process = Harness.childJvm(args).start();
            var log = new java.util.concurrent.CopyOnWriteArrayList<String>();
            var serving = new CompletableFuture<List<String>>();
            Thread.ofVirtual().start(() -> {
                try (var err = new BufferedReader(new InputStreamReader(process.getErrorStream(), US_ASCII))) {
                    for (String line; (line = err.readLine()) != null;) {
                        log.add(line);
                        if (line.startsWith("sockserve: serving ")) {
                            serving.complete(List.of(line.substring("sockserve: serving ".length()).split(", ")));
                        }
                    }
                } catch (java.io.IOException ended) {
                    // gone
                }
                serving.completeExceptionally(new AssertionError("ended without serving: " + log));
            });
            return new Child(process, serving.get(30, TimeUnit.SECONDS), log);
        }

        void signal(String name) throws Exception {
            Harness.run(List.of("kill", "-" + name, String.valueOf(process.pid())), 10);
        }

        @Override
        public void close() throws Exception {
            signal("TERM");
            assertTrue(process.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, process.exitValue(), String.join("\n", log));
        }
    }

    @Test
    void sighupServesNewCertificatesToNewClientsAndKeepsTheOldOnABadFile() throws Exception {
        Path dir = Harness.tempDir();
        try {
            Path cert = dir.resolve("live.pem");
            Path key = dir.resolve("live.key");
            Files.copy(pki.resolve("server.pem"), cert);
            Files.copy(pki.resolve("server.key"), key);
            try (Child c = Child.start(List.of("echo", "-v", "--listen", "tls://127.0.0.1:0", "--tls-cert", cert.toString(),
                    "--tls-key", key.toString()))) {
                int port = port(c.bound().get(0));
                assertEquals("OK over tls TLSv1.3 localhost", python(port, "localhost", ""));
                Files.copy(pki.resolve("other.pem"), cert, StandardCopyOption.REPLACE_EXISTING);
                Files.copy(pki.resolve("other.key"), key, StandardCopyOption.REPLACE_EXISTING);
                c.signal("HUP");
                awaitLine(c, "SIGHUP: read the TLS certificates and keys again");
                assertEquals("OK over tls TLSv1.3 other.test", python(port, "other.test", ""), "the new certificate");
                Files.writeString(key, "garbage");
                c.signal("HUP");
                awaitLine(c, "SIGHUP: kept the TLS certificates and keys as they were: " + key + ": not PEM");
                assertEquals("OK over tls TLSv1.3 other.test", python(port, "other.test", ""), "still the last good one");
            }
        } finally {
            Harness.deleteTree(dir);
        }
    }

    static void awaitLine(Child c, String start) throws InterruptedException {
        dev.sockserve.Await.until("a log line starting '" + start + "' in " + c.log(),
                () -> c.log().stream().anyMatch(l -> l.contains(start)));
    }

    @Test
    void forwardTerminatesTlsInFrontOfAPlainServerAndSendsTheClientsAddressByProxyProtocol() throws Exception {
        Path dir = Harness.tempDir();
        try {
            Path script = dir.resolve("who.sh");
            Files.writeString(script, "#!/bin/sh\nread line\necho \"$TCPREMOTEIP:$TCPREMOTEPORT $line\"\n");
            script.toFile().setExecutable(true);
            try (var backend = Harness.start("exec", "--listen", "tcp://127.0.0.1:0", "--proxy-protocol",
                    "--trusted-proxies", "127.0.0.1", "--", script.toString());
                    var forward = Harness.start("forward", "--listen", "tls://127.0.0.1:0", "--tls-cert", p("server.pem"),
                            "--tls-key", p("server.key"), "--to", backend.address(0), "--send-proxy", "v2")) {
                String out = Harness.run(List.of("python3", "-c", String.join("\n", "import socket, ssl, sys",
                        "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_verify_locations(sys.argv[2])",
                        "with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10) as raw:",
                        "    with ctx.wrap_socket(raw, server_hostname='localhost') as s:",
                        "        me = '%s:%d' % s.getsockname()",
                        "        s.sendall(b'through\\n')",
                        "        got = s.recv(200).decode().strip()",
                        "        print('SAME' if got == me + ' through' else 'DIFFERENT ' + got + ' vs ' + me)"),
                        String.valueOf(port(forward.address(0))), p("ca.pem")), 30).strip();
                assertEquals("SAME", out, "the program behind two tiers saw the TLS client's own address and port");
            }
        } finally {
            Harness.deleteTree(dir);
        }
    }

    @Test
    void forwardOverTlsRelaysBurstsOfManyRecordsWholeAndInOrder() throws Exception {
        try (var echo = Harness.start("echo", "--listen", "tcp://127.0.0.1:0");
                var forward = Harness.start("forward", "--listen", "tls://127.0.0.1:0", "--tls-cert", p("server.pem"),
                        "--tls-key", p("server.key"), "--to", echo.address(0))) {
            // each burst in one sendall, read back whole: records batched on both sides of the relay
            String out = Harness.run(List.of("python3", "-c", String.join("\n", "import os, socket, ssl, sys",
                    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_verify_locations(sys.argv[2])",
                    "with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=20) as raw:",
                    "    with ctx.wrap_socket(raw, server_hostname='localhost') as s:",
                    "        ok = 0",
                    "        for size in (16384, 16385, 65536, 100000, 3, 70000):",
                    "            data = os.urandom(size); s.sendall(data); back = b''",
                    "            while len(back) < size:",
                    "                chunk = s.recv(size - len(back))",
                    "                if not chunk: break",
                    "                back += chunk",
                    "            ok += back == data",
                    "        print('SAME', ok)"), String.valueOf(port(forward.address(0))), p("ca.pem")), 60).strip();
            assertEquals("SAME 6", out, "every burst back byte for byte through TLS, the relay and the echo");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"jdk", "jdk-only"})
    void forwardToATlsUpstreamVerifiesItAgainstTheGivenCaAndCarriesTheHalfClose(String engine) throws Exception {
        try (var upstream = Harness.start("echo", "--listen", "tls://127.0.0.1:0", "--tls-cert", p("upstream.pem"),
                "--tls-key", p("upstream.key"), "--tls-engine", engine)) {
            String to = "tls://127.0.0.1:" + port(upstream.address(0));
            try (var forward = Harness.start("forward", "--listen", "tcp://127.0.0.1:0", "--to", to, "--to-tls-ca",
                    p("ca.pem"), "--tls-engine", engine)) {
                byte[] payload = new byte[40_000];
                new java.util.Random(11).nextBytes(payload);
                byte[] back = Harness.python("tcp", Harness.targetOf(forward.address(0)), payload, "shut", -1);
                assertTrue(java.util.Arrays.equals(payload, back),
                        "plain text in, TLS to the upstream (its close_notify ending its input), every byte back");
            }
            // a CA file that did not sign the upstream's certificate: the client is closed and the failure logged
            try (var forward = Harness.start("forward", "--listen", "tcp://127.0.0.1:0", "--to", to, "--to-tls-ca",
                    p("server.pem"), "--tls-engine", engine)) {
                byte[] back = Harness.python("tcp", Harness.targetOf(forward.address(0)), "hello\n".getBytes(US_ASCII), "", -1);
                assertTrue(back == null || back.length == 0, "no reply from an unverified upstream");
                dev.sockserve.Await.until("the failure in the log", () -> forward.log.toString(US_ASCII)
                        .contains("forward: TLS with upstream " + to + " failed: "));
            }
        }
    }

    @Test
    void forwardCarriesHalfClosesThroughAndClosesTheClientWhenTheUpstreamIsDown() throws Exception {
        try (var echo = Harness.start("echo", "--listen", "tcp://127.0.0.1:0");
                var forward = Harness.start("forward", "--listen", "tcp://127.0.0.1:0", "--to", echo.address(0))) {
            byte[] payload = new byte[50_000]; // sent as hex on python's command line: under the kernel's 128 KiB
            new java.util.Random(7).nextBytes(payload);
            byte[] back = Harness.python("tcp", Harness.targetOf(forward.address(0)), payload, "shut", -1);
            assertTrue(java.util.Arrays.equals(payload, back), "every byte back, then the end, through the relay");
        }
        int closedPort;
        try (var gone = Harness.start("echo", "--listen", "tcp://127.0.0.1:0")) {
            closedPort = port(gone.address(0));
        }
        try (var forward = Harness.start("forward", "--listen", "tcp://127.0.0.1:0", "--to", "tcp://127.0.0.1:" + closedPort)) {
            byte[] back = Harness.python("tcp", Harness.targetOf(forward.address(0)), "hello\n".getBytes(US_ASCII), "", -1);
            assertEquals(0, back.length, "closed without a byte");
            dev.sockserve.Await.until("the failure logged", () -> forward.log.toString(US_ASCII).contains("forward: upstream"));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"jdk", "boringssl"})
    void execOverTlsGivesTheProgramPlainTextAndSslserversAndModSslsVariables(String engine) throws Exception {
        Path dir = Harness.tempDir();
        try {
            Path script = dir.resolve("env.sh");
            Files.writeString(script, "#!/bin/sh\nread line\necho \"$line\"\nenv | grep -E '^(PROTO|SSL|TCP)' | sort\n");
            script.toFile().setExecutable(true);
            try (var s = Harness.start("exec", "--listen", "tls://127.0.0.1:0", "--tls-cert", p("server.pem"), "--tls-key",
                    p("server.key"), "--tls-client-ca", p("ca.pem"), "--tls-client-auth", "optional", "--tls-engine", engine,
                    "--", script.toString())) {
                int port = port(s.address(0));
                String out = Harness.run(List.of("python3", "-c", String.join("\n", "import socket, ssl, sys",
                        "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_verify_locations(sys.argv[2])",
                        "ctx.load_cert_chain(sys.argv[3] + '.pem', sys.argv[3] + '.key')",
                        "with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10) as raw:",
                        "    with ctx.wrap_socket(raw, server_hostname='localhost') as s:",
                        "        print('ME %s:%d' % s.getsockname())",
                        "        s.sendall(b'plain text\\n')",
                        "        data = b''",
                        "        while True:",
                        "            chunk = s.recv(4096)",
                        "            if not chunk: break",
                        "            data += chunk",
                        "        sys.stdout.write(data.decode())"), String.valueOf(port), p("ca.pem"),
                        pki.resolve("alice").toString()), 30);
                List<String> lines = out.lines().toList();
                String[] me = lines.get(0).substring(3).split(":");
                assertEquals("plain text", lines.get(1), "the program read plain text and its output reached the client");
                var vars = new java.util.HashMap<String, String>();
                for (String line : lines.subList(2, lines.size())) {
                    int eq = line.indexOf('=');
                    if (eq > 0) {
                        vars.put(line.substring(0, eq), line.substring(eq + 1));
                    }
                }
                assertEquals("SSL", vars.get("PROTO"));
                for (String p : List.of("SSL", "TCP")) {
                    assertEquals("127.0.0.1", vars.get(p + "LOCALIP"));
                    assertEquals(String.valueOf(port), vars.get(p + "LOCALPORT"));
                    assertEquals(me[0], vars.get(p + "REMOTEIP"));
                    assertEquals(me[1], vars.get(p + "REMOTEPORT"));
                }
                assertEquals("TLSv1.3", vars.get("SSL_PROTOCOL"));
                assertTrue(vars.get("SSL_CIPHER").startsWith("TLS_AES_") || vars.get("SSL_CIPHER").startsWith("TLS_CHACHA20"),
                        vars.toString());
                assertEquals("localhost", vars.get("SSL_TLS_SNI"));
                assertEquals("SUCCESS", vars.get("SSL_CLIENT_VERIFY"));
                assertEquals("CN=alice,O=Example", vars.get("SSL_CLIENT_S_DN"));
                assertEquals("CN=Test CA", vars.get("SSL_CLIENT_I_DN"));
                assertEquals("-----BEGIN CERTIFICATE-----", vars.get("SSL_CLIENT_CERT"), "the PEM's first line");
            }
        } finally {
            Harness.deleteTree(dir);
        }
    }

    @Test
    void aSecondCommandOnAUdpPortInUseIsRefusedAsOnTcp() throws Exception {
        try (var first = Harness.start("echo", "--listen", "udp://127.0.0.1:0")) {
            var second = Harness.refuse("echo", "--listen", first.address(0));
            assertEquals(1, second.exitCode(), second.message());
            assertTrue(second.message().contains("Address already in use"), second.message());
        }
    }
}
