package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.math.BigInteger;
import java.security.KeyFactory;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.interfaces.XECPublicKey;
import java.security.spec.NamedParameterSpec;
import java.security.spec.XECPrivateKeySpec;
import java.security.spec.XECPublicKeySpec;
import java.util.HexFormat;
import javax.crypto.KeyAgreement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** BoringSSL's X25519 behind the JDK's key classes agrees with RFC 7748 and with the JDK's own X25519. */
@Timeout(30)
class BoringX25519Test {

    static final HexFormat HEX = HexFormat.of();

    static BoringX25519 provider() throws Exception {
        return new BoringX25519(org.conscrypt.Conscrypt.newProvider());
    }

    static PrivateKey privateKey(String hex) throws Exception {
        return KeyFactory.getInstance("XDH", "SunEC").generatePrivate(new XECPrivateKeySpec(NamedParameterSpec.X25519, HEX.parseHex(hex)));
    }

    static PublicKey publicKey(String littleEndianHex) throws Exception {
        byte[] u = HEX.parseHex(littleEndianHex);
        for (int i = 0; i < u.length / 2; i++) { // the spec's u is a big-endian BigInteger
            byte b = u[i];
            u[i] = u[u.length - 1 - i];
            u[u.length - 1 - i] = b;
        }
        return KeyFactory.getInstance("XDH", "SunEC").generatePublic(new XECPublicKeySpec(NamedParameterSpec.X25519, new BigInteger(1, u)));
    }

    @Test
    void theSharedSecretIsRfc7748s() throws Exception { // RFC 7748, section 6.1
        KeyAgreement alice = KeyAgreement.getInstance("XDH", provider());
        alice.init(privateKey("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
        alice.doPhase(publicKey("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"), true);
        assertEquals("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", HEX.formatHex(alice.generateSecret()));
    }

    @Test
    void itsKeysAreTheJdksAndAgreeWithTheJdksX25519() throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("XDH", provider());
        generator.initialize(NamedParameterSpec.X25519);
        var ours = generator.generateKeyPair();
        assertInstanceOf(XECPublicKey.class, ours.getPublic(), "the JDK's TLS reads the u coordinate from it");
        KeyPairGenerator jdkGenerator = KeyPairGenerator.getInstance("XDH", "SunEC");
        jdkGenerator.initialize(NamedParameterSpec.X25519);
        var theirs = jdkGenerator.generateKeyPair();

        KeyAgreement native_ = KeyAgreement.getInstance("XDH", provider());
        native_.init(ours.getPrivate());
        native_.doPhase(theirs.getPublic(), true);
        KeyAgreement jdk = KeyAgreement.getInstance("XDH", "SunEC");
        jdk.init(theirs.getPrivate());
        jdk.doPhase(ours.getPublic(), true);
        assertArrayEquals(jdk.generateSecret(), native_.generateSecret(), "both sides reach the same secret");
    }
}
