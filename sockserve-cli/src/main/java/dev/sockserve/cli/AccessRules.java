package dev.sockserve.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A {@code --rules} file: which clients may connect, and variables for the program. tcprules' text
 * format, plus CIDR and bracketed IPv6. One rule a line, {@code ADDRESS:allow} or {@code ADDRESS:deny},
 * optionally followed by {@code ,NAME=VALUE} settings (a value may be quoted with {@code "} or {@code '});
 * {@code #} starts a comment.
 * <pre>
 * 127.0.0.1:allow,GREETING="hello, local"
 * 10.0.0.0/8:deny
 * 192.168.:allow          # a tcprules prefix, the same as 192.168.0.0/16
 * [::1]:allow
 * :deny                   # the default, for every other client
 * </pre>
 * A client gets the most specific rule that matches it: its exact address, then shorter prefixes, then
 * the default (an empty address); between equally specific rules, the first in the file. No rule and no
 * default: allowed. A Unix-socket client matches the default only.
 */
final class AccessRules {

    record Decision(boolean allow, Map<String, String> settings) {
        static final Decision ALLOW_ALL = new Decision(true, Map.of());
    }

    private record Rule(byte[] network, int prefixBits, Decision decision) {
        boolean matches(byte[] address) {
            if (network.length != address.length) {
                return false;
            }
            int full = prefixBits / 8;
            for (int i = 0; i < full; i++) {
                if (network[i] != address[i]) {
                    return false;
                }
            }
            int rest = prefixBits % 8;
            if (rest == 0) {
                return true;
            }
            int mask = (0xff << (8 - rest)) & 0xff;
            return (network[full] & mask) == (address[full] & mask);
        }
    }

    private final List<Rule> rules;
    private final Decision fallback;

    private AccessRules(List<Rule> rules, Decision fallback) {
        this.rules = rules;
        this.fallback = fallback;
    }

    static AccessRules allowAll() {
        return new AccessRules(List.of(), Decision.ALLOW_ALL);
    }

    /** Reads a rules file; an {@link IllegalArgumentException} names the file, the line and the fault. */
    static AccessRules read(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read rules file " + file + ": " + e.getMessage());
        }
        return parse(file.toString(), lines);
    }

    static AccessRules parse(String name, List<String> lines) {
        List<Rule> rules = new ArrayList<>();
        Decision fallback = null;
        for (int n = 1; n <= lines.size(); n++) {
            String line = stripComment(lines.get(n - 1)).strip();
            if (line.isEmpty()) {
                continue;
            }
            try {
                int colon = addressEnd(line);
                String address = line.substring(0, colon).strip();
                Decision decision = instructions(line.substring(colon + 1).strip());
                if (address.isEmpty()) {
                    if (fallback == null) {
                        fallback = decision;
                    }
                } else {
                    rules.add(rule(address, decision));
                }
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("rules file " + name + " line " + n + ": " + e.getMessage()
                        + " (in '" + lines.get(n - 1).strip() + "')");
            }
        }
        return new AccessRules(Collections.unmodifiableList(rules), fallback == null ? Decision.ALLOW_ALL : fallback);
    }

    /** A {@code #} outside quotes starts a comment. */
    private static String stripComment(String line) {
        char quote = 0;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quote != 0) {
                if (c == quote) {
                    quote = 0;
                }
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '#') {
                return line.substring(0, i);
            }
        }
        return line;
    }

    private static int addressEnd(String line) {
        int from = 0;
        if (line.startsWith("[")) {
            from = line.indexOf(']');
            if (from < 0) {
                throw new IllegalArgumentException("'[' without ']'");
            }
        }
        int colon = line.indexOf(':', from);
        if (colon < 0) {
            throw new IllegalArgumentException("no ':' between the address and allow or deny");
        }
        return colon;
    }

    private static Decision instructions(String text) {
        String keyword;
        int comma = text.indexOf(',');
        keyword = (comma < 0 ? text : text.substring(0, comma)).strip();
        boolean allow;
        if (keyword.equals("allow")) {
            allow = true;
        } else if (keyword.equals("deny")) {
            allow = false;
        } else {
            throw new IllegalArgumentException("expected allow or deny, found '" + keyword + "'");
        }
        Map<String, String> settings = new LinkedHashMap<>();
        int i = comma < 0 ? text.length() : comma + 1;
        while (i < text.length()) {
            int eq = text.indexOf('=', i);
            if (eq < 0) {
                throw new IllegalArgumentException("expected NAME=VALUE after ',', found '" + text.substring(i) + "'");
            }
            String name = text.substring(i, eq).strip();
            if (!name.matches("[A-Za-z_][A-Za-z0-9_]*")) {
                throw new IllegalArgumentException("'" + name + "' is not a variable name");
            }
            int v = eq + 1;
            String value;
            if (v < text.length() && (text.charAt(v) == '"' || text.charAt(v) == '\'')) {
                int close = text.indexOf(text.charAt(v), v + 1);
                if (close < 0) {
                    throw new IllegalArgumentException("the value of " + name + " has no closing " + text.charAt(v));
                }
                value = text.substring(v + 1, close);
                i = close + 1;
                while (i < text.length() && text.charAt(i) == ' ') {
                    i++;
                }
                if (i < text.length() && text.charAt(i) != ',') {
                    throw new IllegalArgumentException("expected ',' after the value of " + name);
                }
            } else {
                int next = text.indexOf(',', v);
                value = (next < 0 ? text.substring(v) : text.substring(v, next)).strip();
                i = next < 0 ? text.length() : next;
            }
            i++;
            settings.put(name, value);
        }
        return new Decision(allow, Collections.unmodifiableMap(settings));
    }

    private static Rule rule(String address, Decision decision) {
        if (address.startsWith("[")) {
            address = address.substring(1, address.length() - 1);
        }
        int slash = address.indexOf('/');
        if (slash >= 0) {
            byte[] network = literal(address.substring(0, slash));
            int bits;
            try {
                bits = Integer.parseInt(address.substring(slash + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + address + "': the prefix length is not a number");
            }
            if (bits < 0 || bits > network.length * 8) {
                throw new IllegalArgumentException("'" + address + "': the prefix length must be 0.." + network.length * 8);
            }
            return new Rule(network, bits, decision);
        }
        if (address.endsWith(".")) { // tcprules prefix: 10. 10.1. 10.1.2.
            String[] parts = address.substring(0, address.length() - 1).split("\\.");
            if (parts.length > 3) {
                throw new IllegalArgumentException("'" + address + "' is not an IPv4 prefix such as 10.1.");
            }
            byte[] network = new byte[4];
            for (int i = 0; i < parts.length; i++) {
                network[i] = (byte) octet(address, parts[i]);
            }
            return new Rule(network, parts.length * 8, decision);
        }
        byte[] exact = literal(address);
        return new Rule(exact, exact.length * 8, decision);
    }

    private static int octet(String address, String part) {
        try {
            int value = Integer.parseInt(part);
            if (value >= 0 && value <= 255) {
                return value;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("'" + address + "' is not an IP address or prefix");
    }

    /** An IP literal; never a host name (no DNS while reading rules). */
    private static byte[] literal(String text) {
        boolean ipv4 = text.matches("\\d{1,3}(\\.\\d{1,3}){3}");
        boolean ipv6 = text.contains(":") && text.matches("[0-9A-Fa-f:.]+");
        if (ipv4) {
            for (String part : text.split("\\.")) {
                octet(text, part);
            }
        }
        if (!ipv4 && !ipv6) {
            throw new IllegalArgumentException("'" + text + "' is not an IP address or prefix");
        }
        try {
            return InetAddress.getByName(text).getAddress();
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("'" + text + "' is not an IP address or prefix");
        }
    }

    /** The decision for a client: its most specific rule, or the default. */
    Decision decide(Optional<InetAddress> client) {
        if (client.isEmpty()) {
            return fallback;
        }
        byte[] address = client.get().getAddress();
        if (address.length == 16 && isMappedIpv4(address)) {
            address = java.util.Arrays.copyOfRange(address, 12, 16);
        }
        Rule best = null;
        for (Rule rule : rules) {
            if (rule.matches(address) && (best == null || rule.prefixBits > best.prefixBits)) {
                best = rule;
            }
        }
        return best != null ? best.decision : fallback;
    }

    private static boolean isMappedIpv4(byte[] a) {
        for (int i = 0; i < 10; i++) {
            if (a[i] != 0) {
                return false;
            }
        }
        return a[10] == (byte) 0xff && a[11] == (byte) 0xff;
    }
}
