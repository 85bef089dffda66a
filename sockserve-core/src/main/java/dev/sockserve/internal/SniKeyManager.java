package dev.sockserve.internal;

import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SNIServerName;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSession;
import javax.net.ssl.StandardConstants;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * Serves several certificate/key pairs and picks one by the client's SNI name: the first pair whose
 * certificate's DNS names (subject alternative names, one-label wildcards; the CN only without SANs)
 * match, whatever its key type; no SNI or an unknown name gets the first pair. The JDK's own key manager
 * picks by key type first, so it cannot do this.
 */
public final class SniKeyManager extends X509ExtendedKeyManager {

    /** One certificate chain (leaf first) and its private key. */
    public record Pair(List<X509Certificate> chain, PrivateKey key) {
        public Pair {
            chain = List.copyOf(chain);
        }
    }

    private final List<Pair> pairs;
    private final List<List<String>> names;

    public SniKeyManager(List<Pair> pairs) {
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("at least one certificate and key are needed");
        }
        this.pairs = List.copyOf(pairs);
        this.names = this.pairs.stream().map(p -> dnsNames(p.chain().get(0))).toList();
    }

    /** The names a certificate serves: its DNS subject alternative names, or its CN when it has none. */
    public static List<String> dnsNames(X509Certificate cert) {
        List<String> found = new ArrayList<>();
        try {
            var sans = cert.getSubjectAlternativeNames();
            if (sans != null) {
                for (List<?> san : sans) {
                    if (Integer.valueOf(2).equals(san.get(0))) {
                        found.add(((String) san.get(1)).toLowerCase(Locale.ROOT));
                    }
                }
            }
        } catch (CertificateParsingException e) {
            return List.of();
        }
        if (found.isEmpty()) {
            for (String part : cert.getSubjectX500Principal().getName("RFC2253").split(",")) {
                if (part.startsWith("CN=")) {
                    found.add(part.substring(3).toLowerCase(Locale.ROOT));
                }
            }
        }
        return found;
    }

    static boolean matches(String pattern, String host) {
        if (pattern.startsWith("*.")) {
            int dot = host.indexOf('.');
            return dot > 0 && host.substring(dot + 1).equals(pattern.substring(2));
        }
        return pattern.equals(host);
    }

    /** The pair that serves {@code host}: the first whose names match, else the first. */
    int pairFor(String host) {
        if (host != null) {
            String h = host.toLowerCase(Locale.ROOT);
            for (int i = 0; i < pairs.size(); i++) {
                for (String pattern : names.get(i)) {
                    if (matches(pattern, h)) {
                        return i;
                    }
                }
            }
        }
        return 0;
    }

    private static String sniName(SSLEngine engine) {
        SSLSession handshake = engine == null ? null : engine.getHandshakeSession();
        if (handshake instanceof ExtendedSSLSession extended) {
            for (SNIServerName name : extended.getRequestedServerNames()) {
                if (name.getType() == StandardConstants.SNI_HOST_NAME) {
                    return ((SNIHostName) name).getAsciiName();
                }
            }
        }
        return null;
    }

    /** Whether a key of this algorithm can serve the key type the JDK asks for. */
    private static boolean serves(String keyAlgorithm, String keyType) {
        return switch (keyAlgorithm) {
            case "RSA" -> keyType.equals("RSA") || keyType.equals("RSASSA-PSS");
            case "EC" -> keyType.equals("EC");
            case "Ed25519", "EdDSA" -> keyType.equals("EdDSA") || keyType.equals("Ed25519");
            default -> keyType.equals(keyAlgorithm);
        };
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        // the chosen pair for any key type asked: the JDK asks once per type it can use and skips a pair whose
        // key is another type, so the SNI choice wins over the key type; Conscrypt asks only RSA and EC,
        // whatever the key, and takes the answer as it is
        return Integer.toString(pairFor(sniName(engine)));
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return chooseEngineServerAlias(keyType, issuers, null);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        List<String> aliases = new ArrayList<>();
        for (int i = 0; i < pairs.size(); i++) {
            if (serves(pairs.get(i).key().getAlgorithm(), keyType)) {
                aliases.add(Integer.toString(i));
            }
        }
        return aliases.isEmpty() ? null : aliases.toArray(String[]::new);
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
        return pairs.get(Integer.parseInt(alias)).chain().toArray(X509Certificate[]::new);
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
        return pairs.get(Integer.parseInt(alias)).key();
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        return null; // a server's key manager
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
        return null;
    }
}
