package dev.sockserve.cli;

import java.security.Provider;
import java.util.Optional;

/**
 * Which TLS implementation runs tls:// listeners: the JDK's own (the default), or BoringSSL through
 * Conscrypt, a JSSE provider, so the core's TLS step is the same code either way. BoringSSL spends about
 * half the JDK's CPU on a full handshake, but Conscrypt's engine closes both directions when the client's
 * close_notify arrives, even over TLS 1.3, so the server can no longer answer a client that half-closed:
 * it is a choice, not the default (README, "TLS and forward").
 */
enum TlsEngine {
    jdk, boringssl;

    /** The TLS settings on this engine; refused with the reason when BoringSSL does not load. */
    dev.sockserve.Tls apply(dev.sockserve.Tls tls) {
        if (this == jdk) {
            return tls;
        }
        Provider provider = Conscrypt.PROVIDER.orElseThrow(() -> new IllegalArgumentException(
                "--tls-engine boringssl: its native library does not load here (" + Conscrypt.WHY_NOT + ")"));
        // session tickets (resumption) are off by default in Conscrypt, on in the JDK and in the issue
        return tls.provider(provider, engine -> org.conscrypt.Conscrypt.setUseSessionTickets(engine, true));
    }

    /** Loaded on first use only: a command without --tls-engine boringssl never loads the native library. */
    private static final class Conscrypt {
        static final String WHY_NOT;
        static final Optional<Provider> PROVIDER;

        static {
            String why = "";
            Provider provider = null;
            try {
                org.conscrypt.Conscrypt.checkAvailability();
                // not installed in java.security: only the SSLContexts the command makes use it
                provider = org.conscrypt.Conscrypt.newProvider();
            } catch (Throwable e) { // UnsatisfiedLinkError and its kin: no library for this platform
                why = String.valueOf(e.getCause() != null ? e.getCause() : e);
            }
            WHY_NOT = why;
            PROVIDER = Optional.ofNullable(provider);
        }
    }
}
