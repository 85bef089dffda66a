package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * TLS on stream servers, with real clients: Python's {@code ssl} module and {@code openssl s_client}.
 * The certificates are made by {@code openssl} for each run; no key is committed.
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class TlsTest {

    @TempDir
    static Path pki;

    @TempDir
    Path dir;

    static void openssl(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(pki.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), US_ASCII);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", command) + ": " + out);
    }

    /** A key (EC P-256, RSA or Ed25519) and a certificate signed by {@code ca} (or self-signed without). */
    static void certificate(String name, String keyAlg, String subject, String san, String ca) throws Exception {
        List<String> key = switch (keyAlg) {
            case "ec" -> List.of("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256");
            case "rsa" -> List.of("-newkey", "rsa:2048");
            default -> List.of("-newkey", keyAlg);
        };
        List<String> args = new ArrayList<>(List.of("req", "-nodes", "-keyout", name + ".key", "-subj", subject));
        args.addAll(key);
        if (ca == null) {
            args.addAll(List.of("-x509", "-days", "2", "-out", name + ".pem"));
            if (san != null) {
                args.addAll(List.of("-addext", "subjectAltName=" + san));
            }
            openssl(args.toArray(String[]::new));
            return;
        }
        args.addAll(List.of("-out", name + ".csr"));
        openssl(args.toArray(String[]::new));
        Files.writeString(pki.resolve(name + ".ext"), san == null ? "basicConstraints=CA:FALSE\n"
                : "subjectAltName=" + san + "\n");
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial",
                "-days", "2", "-out", name + ".pem", "-extfile", name + ".ext");
    }

    @BeforeAll
    static void makeCertificates() throws Exception {
        certificate("ca", "ec", "/CN=Test CA", null, null);
        certificate("other-ca", "ec", "/CN=Other CA", null, null);
        certificate("server", "ec", "/CN=localhost", "DNS:localhost,IP:127.0.0.1", "ca");
        certificate("wild", "rsa", "/CN=wild", "DNS:*.example.test", "ca");
        certificate("ed", "ed25519", "/CN=ed.test", null, null);
        certificate("alice", "ec", "/O=Example/CN=alice", null, "ca");
        certificate("mallory", "ec", "/CN=mallory", null, "other-ca");
    }

    static Path pem(String name) {
        return pki.resolve(name + ".pem");
    }

    static Path key(String name) {
        return pki.resolve(name + ".key");
    }

    /** The JSSE provider the server's TLS runs on: the JDK's here, BoringSSL's in {@link TlsOverBoringSslTest}. */
    static java.security.Provider provider;
    static java.util.function.Consumer<javax.net.ssl.SSLEngine> engineSetUp = engine -> { };
    /**
     * The JDK's engine keeps the server's direction open after a client's TLS 1.3 close_notify and answers
     * garbage with an alert; Conscrypt's closes both directions and frees the connection without an alert.
     */
    static boolean jdkEngine = true;

    static Tls fromPem(Path certificateChain, Path key) {
        Tls tls = Tls.fromPem(certificateChain, key);
        return provider == null ? tls : tls.provider(provider, engineSetUp);
    }

    static Tls serverTls() {
        return fromPem(pem("server"), key("server"));
    }

    static TcpServer echo(Tls tls, Concurrency concurrency, LinkedBlockingQueue<String> seen) {
        return new TcpServer(new InetSocketAddress("127.0.0.1", 0), StreamRequestHandler.of(h -> {
            Tls.Session s = Tls.session(h.context()).orElseThrow();
            seen.add(s.protocol() + " " + s.serverName().orElse("-") + " " + s.applicationProtocol().orElse("-") + " "
                    + s.peerCertificates().stream().limit(1).map(c -> c.getSubjectX500Principal().getName()).toList());
            h.rfile().transferTo(h.wfile());
        }), ServerOptions.defaults().concurrency(concurrency).tls(tls));
    }

    /** Runs Python's ssl client: sends {@code message}, half-closes... prints what came back or the error. */
    static String python(int port, String options) throws Exception {
        String script = String.join("\n",
                "import socket, ssl, sys",
                "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)",
                "ctx.load_verify_locations(sys.argv[2])",
                "opts = dict(a.split('=', 1) for a in sys.argv[3].split(';') if a)",
                "if 'max' in opts: ctx.maximum_version = getattr(ssl.TLSVersion, opts['max'])",
                "if 'cert' in opts: ctx.load_cert_chain(opts['cert'], opts['key'])",
                "if 'alpn' in opts: ctx.set_alpn_protocols(opts['alpn'].split(','))",
                "if 'noverify' in opts: ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE",
                "name = opts.get('sni', 'localhost')",
                "if 'silent' in opts:",
                "    with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10) as raw:",
                "        with ctx.wrap_socket(raw, server_hostname=name) as s:",
                "            try:",
                "                print('SILENT closed' if s.recv(10) == b'' else 'SILENT data')",
                "            except (ssl.SSLError, OSError) as e:",
                "                print('SILENT closed', type(e).__name__)",
                "    sys.exit(0)",
                "try:",
                "    with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10) as raw:",
                "        with ctx.wrap_socket(raw, server_hostname=name) as s:",
                "            s.sendall(b'hello over tls\\n')",
                "            data = b''",
                "            while not data.endswith(b'\\n'):",
                "                chunk = s.recv(100)",
                "                if not chunk: break",
                "                data += chunk",
                "            print('OK', s.version(), data.decode().strip(), s.getpeercert(binary_form=False) and s.getpeercert()['subject'][0][0][1] or '-')",
                "except Exception as e:",
                "    print('FAIL', type(e).__name__, e)");
        Process p = new ProcessBuilder("python3", "-c", script, Integer.toString(port), pem("ca").toString(), options)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), US_ASCII).strip();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        return out;
    }

    static int port(BaseServer<?> server) {
        return ((InetSocketAddress) server.serverAddress()).getPort();
    }

    @ParameterizedTest
    @EnumSource(value = Policy.class, names = "PROCESSES", mode = EnumSource.Mode.EXCLUDE) // a lambda handler
    void pythonsSslClientIsEchoedOverTls13And12OnEveryPolicy(Policy policy) throws Exception {
        var seen = new LinkedBlockingQueue<String>();
        try (Serving s = Serving.start(echo(serverTls(), policy.options().concurrency().orElseThrow(), seen))) {
            assertEquals("OK TLSv1.3 hello over tls localhost", python(port(s.server), ""));
            assertEquals("TLSv1.3 localhost - []", seen.poll(10, TimeUnit.SECONDS));
            assertEquals("OK TLSv1.2 hello over tls localhost", python(port(s.server), "max=TLSv1_2"));
            assertEquals("TLSv1.2 localhost - []", seen.poll(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void tls11IsRefusedByDefault() throws Exception {
        var seen = new LinkedBlockingQueue<String>();
        try (Serving s = Serving.start(echo(serverTls(), Concurrency.virtualThreads(), seen))) {
            // Python's OpenSSL will not offer TLS 1.1 at all; s_client does at security level 0
            Process p = new ProcessBuilder("openssl", "s_client", "-connect", "127.0.0.1:" + port(s.server), "-tls1_1",
                    "-cipher", "DEFAULT:@SECLEVEL=0").redirectErrorStream(true).start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), US_ASCII);
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertTrue(out.contains("alert protocol version"), out);
            assertEquals("OK TLSv1.3 hello over tls localhost", python(port(s.server), ""), "others still served");
            ServerSuiteTest.await("the refusal to be counted", () -> s.server.refusedRequests() == 1);
        }
    }

    @Test
    void sniPicksTheCertificateWhoseNamesMatchWhateverItsKeyTypeAndAnUnknownNameGetsTheFirst() throws Exception {
        Tls tls = serverTls().withPair(pem("wild"), key("wild")).withPair(pem("ed"), key("ed"));
        try (Serving s = Serving.start(echo(tls, Concurrency.virtualThreads(), new LinkedBlockingQueue<>()))) {
            assertEquals("CN=wild", subjectServed(port(s.server), "www.example.test"));
            assertEquals("CN=ed.test", subjectServed(port(s.server), "ed.test"));
            assertEquals("CN=localhost", subjectServed(port(s.server), "unknown.test"));
            assertEquals("CN=localhost", subjectServed(port(s.server), null));
            assertEquals("CN=localhost", subjectServed(port(s.server), "a.b.example.test"), "a wildcard covers one label");
        }
    }

    /** The subject of the certificate the server sent, as {@code openssl s_client} shows it. */
    static String subjectServed(int port, String sni) throws Exception {
        List<String> command = new ArrayList<>(List.of("openssl", "s_client", "-connect", "127.0.0.1:" + port,
                "-tls1_3"));
        command.addAll(sni == null ? List.of("-noservername") : List.of("-servername", sni));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close(); // end of input: s_client closes after the handshake
        String out = new String(p.getInputStream().readAllBytes(), US_ASCII);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        for (String line : out.split("\n")) {
            if (line.startsWith("subject=")) {
                return line.substring("subject=".length()).replace(" = ", "=").strip();
            }
        }
        throw new AssertionError("no subject in: " + out);
    }

    @Test
    void mutualTlsServesOnlyClientsWithACertificateFromTheGivenCa() throws Exception {
        var seen = new LinkedBlockingQueue<String>();
        Tls tls = serverTls().clientCa(pem("ca"));
        try (Serving s = Serving.start(echo(tls, Concurrency.virtualThreads(), seen))) {
            String alice = "cert=" + pem("alice") + ";key=" + key("alice");
            assertEquals("OK TLSv1.3 hello over tls localhost", python(port(s.server), alice));
            assertEquals("TLSv1.3 localhost - [CN=alice,O=Example]", seen.poll(10, TimeUnit.SECONDS));
            String none = python(port(s.server), "");
            assertTrue(none.startsWith("FAIL"), "no certificate: " + none);
            String mallory = python(port(s.server), "cert=" + pem("mallory") + ";key=" + key("mallory"));
            assertTrue(mallory.startsWith("FAIL"), "another CA's certificate: " + mallory);
            assertEquals(0, seen.size(), "neither reached the handler");
            ServerSuiteTest.await("both refusals", () -> s.server.refusedRequests() == 2);
        }
    }

    @Test
    void alpnIsNegotiatedAndVisibleToTheHandler() throws Exception {
        var seen = new LinkedBlockingQueue<String>();
        try (Serving s = Serving.start(echo(serverTls().alpn("http/1.1", "echo"), Concurrency.virtualThreads(), seen))) {
            assertEquals("OK TLSv1.3 hello over tls localhost", python(port(s.server), "alpn=echo,h2"));
            assertEquals("TLSv1.3 localhost echo []", seen.poll(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void aClientThatNeverFinishesTheHandshakeIsClosedAtTheTimeoutWhileOthersAreServed() throws Exception {
        var tls = serverTls().handshakeTimeout(Duration.ofSeconds(3)); // long enough for a loaded machine
        try (Serving s = Serving.start(echo(tls, Concurrency.virtualThreads(), new LinkedBlockingQueue<>()));
                SocketChannel silent = SocketChannel.open(s.server.serverAddress())) {
            assertEquals("OK TLSv1.3 hello over tls localhost", python(port(s.server), ""));
            assertEquals(-1, silent.read(ByteBuffer.allocate(1)), "closed at the handshake timeout");
            ServerSuiteTest.await("the refusal to be counted", () -> s.server.refusedRequests() == 1);
        }
    }

    @Test
    void aPlainTextClientOnATlsPortFailsCleanlyAndATlsClientOnAPlainPortToo() throws Exception {
        try (Serving s = Serving.start(echo(serverTls(), Concurrency.virtualThreads(), new LinkedBlockingQueue<>()))) {
            try (SocketChannel plain = SocketChannel.open(s.server.serverAddress())) {
                plain.write(ByteBuffer.wrap("hello\n".getBytes(US_ASCII)));
                byte[] reply = java.nio.channels.Channels.newInputStream(plain).readAllBytes();
                assertTrue(jdkEngine ? reply.length < 10 && reply.length > 0 && reply[0] == 0x15 : reply.length == 0,
                        "a TLS alert record (the JDK's engine) or nothing, then the close; no echo: "
                                + java.util.HexFormat.of().formatHex(reply));
            }
            assertEquals("OK TLSv1.3 hello over tls localhost", python(port(s.server), ""));
        }
        try (Serving plainServer = Serving.start(new TcpServer(new InetSocketAddress("127.0.0.1", 0),
                StreamRequestHandler.of(h -> h.rfile().transferTo(h.wfile()))))) {
            String out = python(port(plainServer.server), "");
            assertTrue(out.startsWith("FAIL"), out);
        }
    }

    @Test
    void overTls13TheClientsCloseNotifyEndsItsInputAndTheEchoStillArrives() throws Exception {
        var context = javax.net.ssl.SSLContext.getInstance("TLS");
        var trust = javax.net.ssl.TrustManagerFactory.getInstance("PKIX");
        var store = java.security.KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setCertificateEntry("ca", java.security.cert.CertificateFactory.getInstance("X.509")
                .generateCertificate(Files.newInputStream(pem("ca"))));
        trust.init(store);
        context.init(null, trust.getTrustManagers(), null);
        try (Serving s = Serving.start(echo(serverTls(), Concurrency.virtualThreads(), new LinkedBlockingQueue<>()));
                var client = (javax.net.ssl.SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", port(s.server))) {
            client.setSoTimeout(10_000);
            byte[] big = new byte[200_000];
            java.util.Arrays.fill(big, (byte) 'x');
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    client.getOutputStream().write(big);
                    client.shutdownOutput(); // close_notify: the end of the client's input, TLS 1.3 half-close
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            byte[] back = client.getInputStream().readAllBytes();
            writer.join();
            if (jdkEngine) {
                assertEquals(big.length, back.length, "everything came back, then the server closed");
            } else { // the server's direction ends with the client's: what came back is what was echoed until then
                assertTrue(back.length <= big.length, back.length + " bytes back");
                assertEquals(back.length, new String(back, US_ASCII).chars().filter(c -> c == 'x').count(), "all echo");
            }
        }
    }

    @Test
    void overTls13AHandlerCanStillAnswerAfterTheClientsCloseNotify() throws Exception {
        var outcome = new LinkedBlockingQueue<String>();
        var server = new TcpServer(new InetSocketAddress("127.0.0.1", 0), StreamRequestHandler.of(h -> {
            int n = h.rfile().readAllBytes().length; // to the end of the client's input
            try {
                h.wfile().write(("got " + n + "\n").getBytes(US_ASCII));
                h.wfile().flush();
                outcome.add("answered");
            } catch (IOException e) {
                outcome.add("could not answer");
            }
        }), ServerOptions.defaults().concurrency(Concurrency.virtualThreads()).tls(serverTls()));
        try (Serving s = Serving.start(server)) {
            // Java's client half-closes (Python's unwrap() waits for the server's close_notify)
            var context = javax.net.ssl.SSLContext.getInstance("TLS");
            context.init(null, new javax.net.ssl.TrustManager[] {new TrustAll()}, null);
            try (var client = (javax.net.ssl.SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", port(server))) {
                client.setSoTimeout(10_000);
                client.getOutputStream().write("hello".getBytes(US_ASCII));
                client.shutdownOutput(); // TLS 1.3 close_notify
                String reply = new String(client.getInputStream().readAllBytes(), US_ASCII);
                if (jdkEngine) {
                    assertEquals("got 5\n", reply);
                    assertEquals("answered", outcome.poll(10, TimeUnit.SECONDS));
                } else {
                    assertEquals("", reply, "the server's direction closed with the client's");
                    assertEquals("could not answer", outcome.poll(10, TimeUnit.SECONDS));
                }
            }
        }
    }

    @Test
    void sessionTicketsLetAClientResumeOverTls13And12() throws Exception {
        String script = String.join("\n",
                "import socket, ssl, sys",
                "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)",
                "ctx.load_verify_locations(sys.argv[2])",
                "ctx.maximum_version = getattr(ssl.TLSVersion, sys.argv[3])",
                "def once(session):",
                "    with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10) as raw:",
                "        with ctx.wrap_socket(raw, server_hostname='localhost', session=session) as s:",
                "            s.sendall(b'x\\n')",
                "            s.recv(10)  # the echo; a TLS 1.3 ticket arrives before it",
                "            return s.session, s.session_reused",
                "first, reused_first = once(None)",
                "_, reused = once(first)",
                "print(reused_first, reused)");
        try (Serving s = Serving.start(echo(serverTls(), Concurrency.virtualThreads(), new LinkedBlockingQueue<>()))) {
            for (String max : List.of("TLSv1_3", "TLSv1_2")) {
                Process p = new ProcessBuilder("python3", "-c", script, Integer.toString(port(s.server)),
                        pem("ca").toString(), max).redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes(), US_ASCII).strip();
                assertTrue(p.waitFor(30, TimeUnit.SECONDS));
                assertEquals("False True", out, max + ": a full handshake, then a resumed one");
            }
        }
    }

    @Test
    void reloadServesNewCertificatesToNewClientsWhileAnOpenConnectionKeepsWorking() throws Exception {
        Path cert = dir.resolve("live.pem");
        Path keyFile = dir.resolve("live.key");
        Files.copy(pem("server"), cert);
        Files.copy(key("server"), keyFile);
        Tls tls = fromPem(cert, keyFile).withPair(pem("ed"), key("ed"));
        try (Serving s = Serving.start(echo(tls, Concurrency.virtualThreads(), new LinkedBlockingQueue<>()))) {
            var old = javax.net.ssl.SSLContext.getInstance("TLS");
            old.init(null, new javax.net.ssl.TrustManager[] {new TrustAll()}, null);
            try (var open = (javax.net.ssl.SSLSocket) old.getSocketFactory().createSocket("127.0.0.1", port(s.server))) {
                open.setSoTimeout(10_000);
                open.getOutputStream().write("before\n".getBytes(US_ASCII));
                assertEquals('b', open.getInputStream().read());
                Files.copy(pem("wild"), cert, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                Files.copy(key("wild"), keyFile, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                tls.reload();
                assertEquals("CN=wild", subjectServed(port(s.server), null), "a new client gets the new certificate");
                open.getOutputStream().write("after\n".getBytes(US_ASCII));
                byte[] rest = new byte[12];
                int n = 0;
                while (n < rest.length) {
                    n += open.getInputStream().read(rest, n, rest.length - n);
                }
                assertEquals("efore\nafter\n", new String(rest, US_ASCII), "the open connection still works");
            }
            Files.writeString(keyFile, "not a key");
            var failure = assertThrows(IOException.class, tls::reload);
            assertTrue(failure.getMessage().contains(keyFile.toString()), failure.getMessage());
            assertEquals("CN=wild", subjectServed(port(s.server), null), "a failed reload keeps the old material");
        }
    }

    static final class TrustAll implements javax.net.ssl.X509TrustManager {
        @Override
        public void checkClientTrusted(java.security.cert.X509Certificate[] chain, String authType) {
        }

        @Override
        public void checkServerTrusted(java.security.cert.X509Certificate[] chain, String authType) {
        }

        @Override
        public java.security.cert.X509Certificate[] getAcceptedIssuers() {
            return new java.security.cert.X509Certificate[0];
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"missing", "notpem", "mismatch"})
    void aBadFileIsRefusedWithItsNameAndTheReason(String how) throws Exception {
        Path cert = pem("server");
        Path keyFile = key("server");
        String expected;
        switch (how) {
            case "missing" -> {
                cert = dir.resolve("nope.pem");
                expected = cert + ": No such file or directory";
            }
            case "notpem" -> {
                keyFile = dir.resolve("junk.key");
                Files.writeString(keyFile, "hello\n");
                expected = keyFile + ": not PEM";
            }
            default -> {
                keyFile = key("alice");
                expected = keyFile + ": the key does not match the certificate in " + cert;
            }
        }
        Path c = cert;
        Path k = keyFile;
        var error = assertThrows(UncheckedIOException.class, () -> fromPem(c, k));
        assertTrue(error.getMessage().startsWith(expected), error.getMessage());
    }

    @Test
    void underProcessesTheChildReadsAndWritesPlainTextWhileTheServerDoesTheTls() throws Exception {
        var server = new ForkingTcpServer(new InetSocketAddress("127.0.0.1", 0), ForkingTest.PidEcho.class,
                ServerOptions.defaults().concurrency(Concurrency.processes(4)).tls(serverTls()));
        try (Serving s = Serving.start(server)) {
            String out = python(port(server), "");
            assertTrue(out.startsWith("OK TLSv1.3 ") && out.endsWith(" localhost"), out);
            String echoed = out.substring("OK TLSv1.3 ".length(), out.length() - " localhost".length());
            assertTrue(echoed.matches("\\d+ hello over tls"), "the child's pid, then the echo: " + echoed);
            assertTrue(Long.parseLong(echoed.split(" ")[0]) != ProcessHandle.current().pid(), "answered by a child");
        }
    }

    @Test
    void theHandlersReadTimeoutHoldsOverTls() throws Exception {
        var ended = new LinkedBlockingQueue<String>();
        var server = new TcpServer(new InetSocketAddress("127.0.0.1", 0), () -> new StreamRequestHandler() {
            @Override
            protected Optional<Duration> timeout() {
                return Optional.of(Duration.ofMillis(300));
            }

            @Override
            protected void handle() throws IOException {
                try {
                    rfile().read();
                    ended.add("read returned");
                } catch (java.net.SocketTimeoutException e) {
                    ended.add("timed out: " + e.getMessage());
                    throw e;
                }
            }
        }, ServerOptions.defaults().concurrency(Concurrency.virtualThreads()).tls(serverTls()));
        try (Serving s = Serving.start(server)) {
            String out = python(port(server), "silent=1");
            assertTrue(out.startsWith("SILENT closed"), out);
            assertEquals("timed out: TLS read timed out after 300ms", ended.poll(10, TimeUnit.SECONDS));
        }
    }

    /** Python's ssl client sends each size of random bytes in one sendall, reads as many back, and compares. */
    static final String BULK_CLIENT = String.join("\n",
            "import os, socket, ssl, sys",
            "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)",
            "ctx.load_verify_locations(sys.argv[2])",
            "if sys.argv[3]: ctx.maximum_version = getattr(ssl.TLSVersion, sys.argv[3])",
            "sizes = [1, 16383, 16384, 16385, 65536, 65537, 100000, 5, 99999]",
            "with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=20) as raw:",
            "    with ctx.wrap_socket(raw, server_hostname='localhost') as s:",
            "        for size in sizes:",
            "            data = os.urandom(size)",
            "            s.sendall(data)",
            "            back = b''",
            "            while len(back) < size:",
            "                chunk = s.recv(size - len(back))",
            "                if not chunk: break",
            "                back += chunk",
            "            if back != data:",
            "                print('DIFFERENT at size', size, len(back)); sys.exit(0)",
            "        print('SAME', s.version(), len(sizes))");

    @Test
    void bulkDataSpanningManyRecordsComesBackWholeAndInOrderOverTls13And12() throws Exception {
        try (Serving s = Serving.start(echo(serverTls(), Concurrency.virtualThreads(), new LinkedBlockingQueue<>()))) {
            for (String max : List.of("", "TLSv1_2")) {
                Process p = new ProcessBuilder("python3", "-c", BULK_CLIENT, Integer.toString(port(s.server)),
                        pem("ca").toString(), max).redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes(), US_ASCII).strip();
                assertTrue(p.waitFor(30, TimeUnit.SECONDS));
                assertEquals("SAME " + (max.isEmpty() ? "TLSv1.3" : "TLSv1.2") + " 9", out, "every size echoed byte for byte");
            }
        }
    }

    @Test
    void aClientThatConnectsAndLeavesBeforeTheHandshakeIsRefusedAndNothingSpins() throws Exception {
        try (Serving s = Serving.start(echo(serverTls(), Concurrency.virtualThreads(), new LinkedBlockingQueue<>()))) {
            for (int i = 0; i < 3; i++) {
                SocketChannel.open(s.server.serverAddress()).close(); // a port probe: connect, then close at once
            }
            Await.until("the three probes refused", () -> s.server.refusedRequests() == 3);
            assertEquals("OK TLSv1.3 hello over tls localhost", python(port(s.server), ""));
        }
    }
}
