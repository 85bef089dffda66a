package dev.sockserve;

import dev.sockserve.internal.PemFiles;
import dev.sockserve.internal.SniKeyManager;
import dev.sockserve.internal.TlsChannel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.StandardConstants;
import javax.net.ssl.TrustManagerFactory;

/**
 * TLS for a stream server (TCP or Unix stream), given through {@link ServerOptions#tls(Tls)}. The
 * handshake is a {@link ConnectionStep} run after any other step (a PROXY protocol header comes before
 * TLS), on the request's own thread under the threaded policies, within {@link #handshakeTimeout()}.
 * A handler written against {@code rfile()}/{@code wfile()} runs unchanged: it reads and writes plain
 * text. {@code request()} stays the raw socket, which carries TLS records: write through {@code wfile()}
 * or {@code context().channel()}. The session is {@link #session(RequestContext)}.
 *
 * {@snippet :
 * var tls = Tls.fromPem(Path.of("cert.pem"), Path.of("key.pem"));
 * try (var server = new ThreadingTcpServer(new InetSocketAddress("127.0.0.1", 8443), Echo::new,
 *         ServerOptions.defaults().tls(tls))) {
 *     server.serveForever();
 * }
 * }
 *
 * <p>Defaults: TLS 1.3 and 1.2, nothing older; no client certificate asked; no ALPN; a 10 s handshake
 * timeout; session resumption by tickets (the JDK's default). A failed handshake is logged at DEBUG with
 * the client and the reason and counted as refused; it never reaches {@code handleError}.
 */
public final class Tls {

    /** Whether clients present certificates. */
    public enum ClientAuth { NONE, OPTIONAL, REQUIRED }

    public static final List<String> DEFAULT_PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");
    public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);

    /** What a finished handshake tells a handler, from {@link #session(RequestContext)}. */
    public record Session(SSLSession session, Optional<String> serverName, Optional<String> applicationProtocol) {
        public String protocol() {
            return session.getProtocol();
        }

        public String cipherSuite() {
            return session.getCipherSuite();
        }

        /** The client's certificate chain, leaf first; empty when it sent none. */
        public List<X509Certificate> peerCertificates() {
            try {
                return Arrays.stream(session.getPeerCertificates()).map(X509Certificate.class::cast).toList();
            } catch (SSLPeerUnverifiedException none) {
                return List.of();
            }
        }
    }

    private static final RequestContext.Key<Session> SESSION = new RequestContext.Key<>("sockserve.tls.session");

    /** PEM files, the JSSE provider that makes their context (null: the JDK's) and its own engine settings. */
    private record Files(List<Path[]> pairs, Optional<Path> clientCa, java.security.Provider provider,
            java.util.function.Consumer<SSLEngine> engineSetUp) {
    }

    private final Files files; // null when made from an SSLContext
    private final List<String> protocols;
    private final List<String> alpn;
    private final ClientAuth clientAuth;
    private final Duration handshakeTimeout;
    private volatile SSLContext context;

    private Tls(Files files, SSLContext context, List<String> protocols, List<String> alpn, ClientAuth clientAuth,
            Duration handshakeTimeout) {
        this.files = files;
        this.protocols = List.copyOf(protocols);
        this.alpn = List.copyOf(alpn);
        this.clientAuth = clientAuth;
        this.handshakeTimeout = handshakeTimeout;
        this.context = context != null ? context : load(files);
    }

    /** TLS with a ready {@link SSLContext} (its key managers choose the certificate). */
    public static Tls of(SSLContext context) {
        return new Tls(null, Objects.requireNonNull(context, "context"), DEFAULT_PROTOCOLS, List.of(), ClientAuth.NONE,
                DEFAULT_HANDSHAKE_TIMEOUT);
    }

    /**
     * TLS with a certificate chain (PEM, leaf first, intermediates sent) and its unencrypted PKCS#8 key
     * (RSA, EC or Ed25519).
     *
     * @throws UncheckedIOException naming the file and the reason when a file cannot be read or used
     */
    public static Tls fromPem(Path certificateChain, Path key) {
        List<Path[]> pairs = new ArrayList<>();
        pairs.add(new Path[] {certificateChain, key});
        return new Tls(new Files(pairs, Optional.empty(), null, engine -> { }), null, DEFAULT_PROTOCOLS, List.of(), ClientAuth.NONE,
                DEFAULT_HANDSHAKE_TIMEOUT);
    }

    /** Another certificate/key pair, served to clients whose SNI name its certificate names. */
    public Tls withPair(Path certificateChain, Path key) {
        List<Path[]> pairs = new ArrayList<>(requireFiles().pairs());
        pairs.add(new Path[] {certificateChain, key});
        return new Tls(new Files(pairs, files.clientCa(), files.provider(), files.engineSetUp()), null, protocols, alpn, clientAuth, handshakeTimeout);
    }

    /** Clients must present a certificate that chains to one of the CAs in this PEM file (see {@link #clientAuth}). */
    public Tls clientCa(Path caCertificates) {
        return new Tls(new Files(requireFiles().pairs(), Optional.of(caCertificates), files.provider(), files.engineSetUp()), null, protocols, alpn,
                clientAuth == ClientAuth.NONE ? ClientAuth.REQUIRED : clientAuth, handshakeTimeout);
    }

    /**
     * The JSSE provider whose {@code SSLContext} runs the handshakes and records, for example a provider
     * backed by a native TLS library; default the JDK's. The certificates, keys, SNI choice and client
     * CAs stay as given: the provider receives them through the standard key and trust managers.
     */
    public Tls provider(java.security.Provider value) {
        return provider(value, engine -> { });
    }

    /**
     * As {@link #provider(java.security.Provider)}, with settings of the provider's own applied to each
     * engine after the standard ones (for example Conscrypt's {@code setUseSessionTickets(engine, true)}).
     */
    public Tls provider(java.security.Provider value, java.util.function.Consumer<SSLEngine> engineSetUp) {
        Files f = requireFiles();
        return new Tls(new Files(f.pairs(), f.clientCa(), Objects.requireNonNull(value, "provider"),
                Objects.requireNonNull(engineSetUp, "engineSetUp")), null, protocols, alpn, clientAuth, handshakeTimeout);
    }

    /** The JSSE provider of the context new connections get. */
    public java.security.Provider provider() {
        return context.getProvider();
    }

    public Tls clientAuth(ClientAuth value) {
        return new Tls(files, files == null ? context : null, protocols, alpn, Objects.requireNonNull(value), handshakeTimeout);
    }

    /** The protocol versions offered, for example {@code "TLSv1.3"}. Default TLS 1.3 and 1.2. */
    public Tls protocols(String... values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("at least one TLS protocol version is needed");
        }
        var supported = List.of(context.getSupportedSSLParameters().getProtocols());
        for (String p : values) {
            if (!supported.contains(p)) {
                throw new IllegalArgumentException("unknown TLS protocol version " + p + "; this JDK knows " + supported);
            }
        }
        return new Tls(files, files == null ? context : null, List.of(values), alpn, clientAuth, handshakeTimeout);
    }

    /** The ALPN protocols the server accepts, in its order of preference. Default none. */
    public Tls alpn(String... values) {
        return new Tls(files, files == null ? context : null, protocols, List.of(values), clientAuth, handshakeTimeout);
    }

    public Tls handshakeTimeout(Duration value) {
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException("the TLS handshake timeout must be positive, was " + value);
        }
        return new Tls(files, files == null ? context : null, protocols, alpn, clientAuth, value);
    }

    public Duration handshakeTimeout() {
        return handshakeTimeout;
    }

    public List<String> protocols() {
        return protocols;
    }

    /**
     * Reads the certificate, key and CA files again: new connections get the new material, open ones
     * keep theirs. When a file fails to load, the old material stays and the exception names the file and
     * the reason.
     */
    public void reload() throws IOException {
        context = loadChecked(requireFiles());
    }

    /** The finished handshake of a TLS request; empty for a plain one. */
    public static Optional<Session> session(RequestContext request) {
        return request.attribute(SESSION);
    }

    private Files requireFiles() {
        if (files == null) {
            throw new IllegalStateException("this Tls was made from an SSLContext, not from PEM files");
        }
        return files;
    }

    private static SSLContext load(Files files) {
        try {
            return loadChecked(files);
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
    }

    private static SSLContext loadChecked(Files files) throws IOException {
        List<SniKeyManager.Pair> pairs = new ArrayList<>();
        for (Path[] pair : files.pairs()) {
            List<X509Certificate> chain = PemFiles.certificates(pair[0]);
            var key = PemFiles.privateKey(pair[1]);
            checkMatch(chain.get(0), key, pair[0], pair[1]);
            pairs.add(new SniKeyManager.Pair(chain, key));
        }
        try {
            TrustManagerFactory trust = null;
            if (files.clientCa().isPresent()) {
                KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
                store.load(null, null);
                int i = 0;
                for (Certificate ca : PemFiles.certificates(files.clientCa().get())) {
                    store.setCertificateEntry("ca" + i++, ca);
                }
                trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                trust.init(store);
            }
            SSLContext context = files.provider() == null ? SSLContext.getInstance("TLS")
                    : SSLContext.getInstance("TLS", files.provider());
            context.init(new javax.net.ssl.KeyManager[] {new SniKeyManager(pairs)},
                    trust == null ? null : trust.getTrustManagers(), null);
            return context;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot set up TLS: " + e.getMessage(), e);
        }
    }

    /** A key that does not belong to its certificate is refused here, not at the first handshake. */
    private static void checkMatch(X509Certificate cert, java.security.PrivateKey key, Path certFile, Path keyFile)
            throws IOException {
        try {
            String algorithm = switch (key.getAlgorithm()) {
                case "RSA" -> "SHA256withRSA";
                case "EC" -> "SHA256withECDSA";
                case "RSASSA-PSS" -> "RSASSA-PSS";
                default -> key.getAlgorithm(); // Ed25519, EdDSA
            };
            var signer = java.security.Signature.getInstance(algorithm);
            if (algorithm.equals("RSASSA-PSS")) {
                signer.setParameter(new java.security.spec.PSSParameterSpec("SHA-256", "MGF1",
                        java.security.spec.MGF1ParameterSpec.SHA256, 32, 1));
            }
            byte[] probe = "sockserve".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            signer.initVerify(cert.getPublicKey());
            signer.update(probe);
            if (!signer.verify(signature)) {
                throw new IOException(keyFile + ": the key does not match the certificate in " + certFile);
            }
        } catch (GeneralSecurityException e) {
            throw new IOException(keyFile + ": the key does not match the certificate in " + certFile + " ("
                    + e.getMessage() + ")", e);
        }
    }

    /** The handshake, as the step that runs it. */
    ConnectionStep step() {
        // failed handshakes are routine on any open port (scanners, old clients): DEBUG
        return ConnectionStep.of("tls", handshakeTimeout, System.Logger.Level.DEBUG, this::handshake);
    }

    private void handshake(RequestContext request) throws IOException {
        var connection = request.connection().orElseThrow();
        connection.configureBlocking(true);
        if (request.peerAddress() instanceof InetSocketAddress) {
            // TLS writes whole records: Nagle would only hold a record's tail back for the peer's delayed ACK
            connection.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
        }
        SSLEngine engine = request.peerAddress() instanceof InetSocketAddress peer
                ? context.createSSLEngine(peer.getHostString(), peer.getPort()) : context.createSSLEngine();
        engine.setUseClientMode(false);
        SSLParameters parameters = engine.getSSLParameters();
        parameters.setProtocols(protocols.toArray(String[]::new));
        if (!alpn.isEmpty()) {
            parameters.setApplicationProtocols(alpn.toArray(String[]::new));
        }
        parameters.setNeedClientAuth(clientAuth == ClientAuth.REQUIRED);
        if (clientAuth == ClientAuth.OPTIONAL) {
            parameters.setWantClientAuth(true);
        }
        engine.setSSLParameters(parameters);
        if (files != null) {
            files.engineSetUp().accept(engine);
        }
        TlsChannel channel = new TlsChannel(connection, engine);
        try {
            channel.handshake();
        } catch (SSLException e) {
            throw new RequestRefusedException("handshake failed: " + e.getMessage());
        }
        SSLSession session = engine.getSession();
        String protocol = engine.getApplicationProtocol();
        request.attribute(SESSION, new Session(session, serverName(session),
                protocol == null || protocol.isEmpty() ? Optional.empty() : Optional.of(protocol)));
        request.wrapChannel(raw -> channel);
    }

    private static Optional<String> serverName(SSLSession session) {
        if (session instanceof ExtendedSSLSession extended) {
            for (var name : extended.getRequestedServerNames()) {
                if (name.getType() == StandardConstants.SNI_HOST_NAME) {
                    return Optional.of(((SNIHostName) name).getAsciiName());
                }
            }
        }
        return Optional.empty();
    }

    @Override
    public String toString() {
        return "Tls[" + protocols + (alpn.isEmpty() ? "" : ", alpn " + alpn) + ", client certificates " + clientAuth
                + ", handshake timeout " + dev.sockserve.internal.Durations.format(handshakeTimeout) + "]";
    }
}
