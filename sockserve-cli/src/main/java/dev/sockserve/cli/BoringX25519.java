package dev.sockserve.cli;

import java.security.GeneralSecurityException;
import java.security.InvalidAlgorithmParameterException;
import java.security.InvalidKeyException;
import java.security.InvalidParameterException;
import java.security.Key;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyPairGeneratorSpi;
import java.security.Provider;
import java.security.ProviderException;
import java.security.SecureRandom;
import java.security.interfaces.XECKey;
import java.security.spec.AlgorithmParameterSpec;
import java.security.spec.NamedParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import javax.crypto.KeyAgreement;
import javax.crypto.KeyAgreementSpi;
import javax.crypto.SecretKey;
import javax.crypto.ShortBufferException;
import javax.crypto.spec.SecretKeySpec;

/**
 * X25519 key generation and agreement computed by BoringSSL (through Conscrypt), behind the JDK's own
 * key classes, so that the JDK's TLS uses it unchanged: its handshake, half-close and everything else stay
 * the JDK's, and only the curve arithmetic, two thirds of a JDK server's CPU per full handshake, moves to
 * native code (sockserve-bench/RESULTS-TLS.md). Installed first in the JVM's providers by the command when
 * it serves TLS with {@code --tls-engine jdk} (the default); keys travel between the two as PKCS#8 and
 * X.509 encodings.
 */
final class BoringX25519 extends Provider {

    private final Provider native_;
    private final KeyFactory jdkKeys;

    BoringX25519(Provider conscrypt) throws GeneralSecurityException {
        super("SockserveBoringX25519", "1", "X25519 by BoringSSL behind the JDK's XEC key classes");
        this.native_ = conscrypt;
        this.jdkKeys = KeyFactory.getInstance("XDH", "SunEC");
        for (String name : new String[] {"XDH", "X25519"}) {
            putService(new Service(this, "KeyPairGenerator", name, Generator.class.getName(), null, null) {
                @Override
                public Object newInstance(Object parameter) {
                    return new Generator();
                }
            });
            putService(new Service(this, "KeyAgreement", name, Agreement.class.getName(), null, null) {
                @Override
                public Object newInstance(Object parameter) {
                    return new Agreement();
                }

                @Override
                public boolean supportsParameter(Object key) { // X448 and anything else: the JDK's
                    return key instanceof XECKey x && x.getParams() instanceof NamedParameterSpec n
                            && n.getName().equalsIgnoreCase("X25519");
                }
            });
        }
    }

    private static boolean isX25519(AlgorithmParameterSpec spec) {
        return spec instanceof NamedParameterSpec n && n.getName().equalsIgnoreCase("X25519");
    }

    private final class Generator extends KeyPairGeneratorSpi {
        @Override
        public void initialize(int keySize, SecureRandom random) {
            if (keySize != 255) {
                throw new InvalidParameterException("X25519 only (255 bits), not " + keySize);
            }
        }

        @Override
        public void initialize(AlgorithmParameterSpec params, SecureRandom random) throws InvalidAlgorithmParameterException {
            if (!isX25519(params)) {
                throw new InvalidAlgorithmParameterException("X25519 only, not " + params);
            }
        }

        @Override
        public KeyPair generateKeyPair() {
            try {
                KeyPair made = KeyPairGenerator.getInstance("XDH", native_).generateKeyPair();
                return new KeyPair(jdkKeys.generatePublic(new X509EncodedKeySpec(made.getPublic().getEncoded())),
                        jdkKeys.generatePrivate(new PKCS8EncodedKeySpec(made.getPrivate().getEncoded())));
            } catch (GeneralSecurityException e) {
                throw new ProviderException("X25519 key generation: " + e.getMessage(), e);
            }
        }
    }

    private final class Agreement extends KeyAgreementSpi {
        private KeyAgreement agreement;

        @Override
        protected void engineInit(Key key, SecureRandom random) throws InvalidKeyException {
            try {
                agreement = KeyAgreement.getInstance("XDH", native_);
                agreement.init(KeyFactory.getInstance("XDH", native_).generatePrivate(new PKCS8EncodedKeySpec(key.getEncoded())));
            } catch (GeneralSecurityException e) {
                throw new InvalidKeyException("X25519: " + e.getMessage(), e);
            }
        }

        @Override
        protected void engineInit(Key key, AlgorithmParameterSpec params, SecureRandom random)
                throws InvalidKeyException, InvalidAlgorithmParameterException {
            if (params != null && !isX25519(params)) {
                throw new InvalidAlgorithmParameterException("X25519 only, not " + params);
            }
            engineInit(key, random);
        }

        @Override
        protected Key engineDoPhase(Key key, boolean lastPhase) throws InvalidKeyException {
            try {
                return agreement.doPhase(KeyFactory.getInstance("XDH", native_)
                        .generatePublic(new X509EncodedKeySpec(key.getEncoded())), lastPhase);
            } catch (GeneralSecurityException e) {
                throw new InvalidKeyException("X25519: " + e.getMessage(), e);
            }
        }

        @Override
        protected byte[] engineGenerateSecret() {
            return agreement.generateSecret();
        }

        @Override
        protected int engineGenerateSecret(byte[] out, int offset) throws ShortBufferException {
            return agreement.generateSecret(out, offset);
        }

        @Override
        protected SecretKey engineGenerateSecret(String algorithm) {
            return new SecretKeySpec(agreement.generateSecret(), algorithm);
        }
    }
}
