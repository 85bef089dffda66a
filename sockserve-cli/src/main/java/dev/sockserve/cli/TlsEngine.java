package dev.sockserve.cli;

import dev.sockserve.Tls;
import java.security.Provider;
import java.security.Security;
import java.util.Arrays;
import java.util.Optional;

/**
 * Which TLS runs tls:// listeners (--tls-engine). {@code jdk}, the default: the JDK's own TLS, with its
 * X25519 arithmetic done by BoringSSL where Conscrypt's native library loads ({@link BoringX25519}; the
 * JDK's own arithmetic where it does not). {@code jdk-only}: the JDK's TLS and nothing native.
 * {@code boringssl}: Conscrypt's engine, a JSSE provider over BoringSSL, so the core's TLS step is the
 * same code; the least CPU per handshake, but its engine ends both directions at a client's close_notify
 * even over TLS 1.3, so the server cannot answer a client that half-closed.
 */
enum TlsEngine {
    JDK("jdk"), JDK_ONLY("jdk-only"), BORINGSSL("boringssl");

    final String flag;

    TlsEngine(String flag) {
        this.flag = flag;
    }

    static TlsEngine of(String flag) {
        return Arrays.stream(values()).filter(e -> e.flag.equals(flag)).findFirst().orElseThrow(() ->
                new picocli.CommandLine.TypeConversionException("'" + flag + "' is not jdk, jdk-only or boringssl"));
    }

    /** For picocli. */
    static final class Converter implements picocli.CommandLine.ITypeConverter<TlsEngine> {
        @Override
        public TlsEngine convert(String value) {
            return of(value);
        }
    }

    /**
     * The TLS settings on this engine. For {@code jdk}, installs the BoringSSL X25519 provider first in the
     * JVM (once; the forward's upstream TLS gets it too). Refused with the reason when {@code boringssl}
     * does not load.
     */
    Tls apply(Tls tls) {
        switch (this) {
            case JDK_ONLY -> {
                return tls;
            }
            case JDK -> {
                Conscrypt.PROVIDER.ifPresent(TlsEngine::installX25519);
                return tls;
            }
            default -> {
                Provider provider = Conscrypt.PROVIDER.orElseThrow(() -> new IllegalArgumentException(
                        "--tls-engine boringssl: its native library does not load here (" + Conscrypt.WHY_NOT + ")"));
                // session tickets (resumption) are off by default in Conscrypt, on in the JDK and in the issue
                return tls.provider(provider, engine -> org.conscrypt.Conscrypt.setUseSessionTickets(engine, true));
            }
        }
    }

    /**
     * For the command's own TLS clients (forward's tls:// upstream), which are always the JDK's TLS: BoringSSL's
     * X25519 unless {@code jdk-only}.
     */
    void forClients() {
        if (this != JDK_ONLY) {
            Conscrypt.PROVIDER.ifPresent(TlsEngine::installX25519);
        }
    }

    /** What the -v log says of the engine that serves: provider, and where X25519 is computed. */
    String describe(Tls tls) {
        if (this == BORINGSSL) {
            var v = org.conscrypt.Conscrypt.version();
            return "Conscrypt " + v.major() + "." + v.minor() + "." + v.patch() + " (BoringSSL)";
        }
        String provider = tls.provider().getName() + " " + tls.provider().getVersionStr();
        if (this == JDK_ONLY) {
            return provider;
        }
        return provider + (Security.getProvider(X25519_NAME) != null ? ", X25519 by BoringSSL"
                : ", X25519 by the JDK (BoringSSL does not load here: " + Conscrypt.WHY_NOT + ")");
    }

    private static final String X25519_NAME = "SockserveBoringX25519";

    private static synchronized void installX25519(Provider conscrypt) {
        if (Security.getProvider(X25519_NAME) == null) {
            try {
                Security.insertProviderAt(new BoringX25519(conscrypt), 1);
            } catch (java.security.GeneralSecurityException e) {
                // the JDK's own X25519 serves; describe() says so
            }
        }
    }

    /** Loaded on first use only: a command without TLS never loads the native library. */
    private static final class Conscrypt {
        static final String WHY_NOT;
        static final Optional<Provider> PROVIDER;

        static {
            String why = "";
            Provider provider = null;
            try {
                org.conscrypt.Conscrypt.checkAvailability();
                // not installed in java.security: the command hands it to its SSLContexts and to BoringX25519
                provider = org.conscrypt.Conscrypt.newProvider();
            } catch (Throwable e) { // UnsatisfiedLinkError and its kin: no library for this platform
                why = String.valueOf(e.getCause() != null ? e.getCause() : e);
            }
            WHY_NOT = why;
            PROVIDER = Optional.ofNullable(provider);
        }
    }
}
