package dev.sockserve;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.security.Provider;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every case of {@link TlsTest} again, with the server's TLS on BoringSSL through Conscrypt, the JSSE
 * provider the command runs tls:// on with {@code --tls-engine boringssl}: the core's TLS step and buffers
 * must hold for a provider that is not the JDK's, and where Conscrypt's engine differs (a client's close_notify
 * ends both directions; garbage gets a close without an alert) the cases check what the README says. Conscrypt is a test
 * dependency of the core only; the core itself uses nothing beyond the JDK.
 */
class TlsOverBoringSslTest extends TlsTest {

    @BeforeAll
    static void useBoringSsl() throws ReflectiveOperationException {
        Class<?> conscrypt = Class.forName("org.conscrypt.Conscrypt");
        conscrypt.getMethod("checkAvailability").invoke(null); // the native library loads, or this class fails
        provider = (Provider) conscrypt.getMethod("newProvider").invoke(null);
        var tickets = conscrypt.getMethod("setUseSessionTickets", javax.net.ssl.SSLEngine.class, boolean.class);
        engineSetUp = engine -> { // off by default in Conscrypt; the command turns them on as here
            try {
                tickets.invoke(null, engine, true);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        };
        jdkEngine = false;
    }

    @AfterAll
    static void backToTheJdk() {
        provider = null;
        engineSetUp = engine -> { };
        jdkEngine = true;
    }

    @Test
    void theServerRunsOnConscrypt() {
        assertEquals("Conscrypt", serverTls().provider().getName());
        assertEquals("SunJSSE", Tls.fromPem(pem("server"), key("server")).provider().getName(), "the default");
    }
}
