package dev.sockserve.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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

    /** The rules as read; replaced whole by {@link #reload()}, so a client is judged by one file's rules. */
    private record Table(List<Rule> rules, Decision fallback) {
    }

    private final Optional<Path> file;
    private volatile Table table;

    private AccessRules(Optional<Path> file, Table table) {
        this.file = file;
        this.table = table;
    }

    static AccessRules allowAll() {
        return new AccessRules(Optional.empty(), new Table(List.of(), Decision.ALLOW_ALL));
    }

    /** The file the rules came from, if any. */
    Optional<Path> file() {
        return file;
    }

    /**
     * Reads the file again (on SIGHUP; tcpserver reads its rules per connection). A file that cannot be
     * read or is wrong leaves the rules as they were and throws, the message naming the file and why.
     */
    void reload() {
        Path path = file.orElseThrow(() -> new IllegalStateException("no rules file to read again"));
        table = read(path).table;
    }

    /** Reads a rules file; an {@link IllegalArgumentException} names the file, the line and the fault. */
    static AccessRules read(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException | UncheckedIOException e) {
            throw new IllegalArgumentException("cannot read rules file " + file + ": " + Formats.reason(e));
        }
        return new AccessRules(Optional.of(file), table(file.toString(), lines));
    }

    static AccessRules parse(String name, List<String> lines) {
        return new AccessRules(Optional.empty(), table(name, lines));
    }

    private static Table table(String name, List<String> lines) {
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
        return new Table(List.copyOf(rules), fallback == null ? Decision.ALLOW_ALL : fallback);
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

    /**
     * The kernel refuses to start a program with an environment string ({@code NAME=VALUE} and its NUL)
     * longer than MAX_ARG_STRLEN, 32 pages of 4 KiB; such a value would fail every connection, so it is
     * refused here.
     */
    static final int MAX_SETTING_BYTES = 32 * 4096;

    private static void checkSetting(String name, String value) {
        if (value.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("the value of " + name + " has a NUL character");
        }
        int bytes = (name + "=" + value).getBytes(StandardCharsets.UTF_8).length + 1;
        if (bytes > MAX_SETTING_BYTES) {
            throw new IllegalArgumentException(name + "=VALUE is " + bytes + " bytes, more than the kernel's limit of "
                    + MAX_SETTING_BYTES + " for one environment string");
        }
    }

    private static Decision instructions(String text) {
        int comma = text.indexOf(',');
        String keyword = (comma < 0 ? text : text.substring(0, comma)).strip();
        boolean allow;
        if (keyword.equals("allow")) {
            allow = true;
        } else if (keyword.equals("deny")) {
            allow = false;
        } else {
            throw new IllegalArgumentException("expected allow or deny, found '" + keyword + "'");
        }
        Map<String, String> settings = new LinkedHashMap<>();
        int i = comma + 1; // after a ',': one more NAME=VALUE
        while (comma >= 0) {
            if (text.substring(i).isBlank()) {
                throw new IllegalArgumentException("expected NAME=VALUE after the last ','");
            }
            int eq = text.indexOf('=', i);
            if (eq < 0) {
                throw new IllegalArgumentException("expected NAME=VALUE after ',', found '" + text.substring(i) + "'");
            }
            String name = text.substring(i, eq).strip();
            if (!VARIABLE.matcher(name).matches()) {
                throw new IllegalArgumentException("'" + name + "' is not a variable name");
            }
            int v = eq + 1;
            while (v < text.length() && text.charAt(v) == ' ') {
                v++;
            }
            String value;
            if (v < text.length() && (text.charAt(v) == '"' || text.charAt(v) == '\'')) {
                int close = text.indexOf(text.charAt(v), v + 1);
                if (close < 0) {
                    throw new IllegalArgumentException("the value of " + name + " has no closing " + text.charAt(v));
                }
                value = text.substring(v + 1, close);
                int next = close + 1;
                while (next < text.length() && text.charAt(next) == ' ') {
                    next++;
                }
                if (next < text.length() && text.charAt(next) != ',') {
                    throw new IllegalArgumentException("expected ',' after the value of " + name);
                }
                comma = next < text.length() ? next : -1;
            } else {
                comma = text.indexOf(',', v);
                value = (comma < 0 ? text.substring(v) : text.substring(v, comma)).strip();
            }
            checkSetting(name, value);
            settings.put(name, value);
            i = comma + 1;
        }
        return new Decision(allow, Collections.unmodifiableMap(settings));
    }

    private static final Pattern VARIABLE = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    private static final Pattern IPV4 = Pattern.compile("(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})");
    private static final Pattern IPV4_PREFIX = Pattern.compile("(\\d{1,3}\\.){1,3}");
    private static final Pattern PREFIX_LENGTH = Pattern.compile("\\d{1,3}");
    private static final String FORMS = "write 10.1.2.3, a prefix such as 10.1., 10.0.0.0/8, [::1], [2001:db8::]/32 "
            + "or nothing (the default)";

    /**
     * One address, strictly: an IPv4 address, a tcprules prefix ({@code 10.}, {@code 10.1.}, {@code 10.1.2.}),
     * IPv4 CIDR, or IPv6 in brackets, with a prefix length inside or after them ({@code [2001:db8::/32]},
     * {@code [2001:db8::]/32}). Anything else is refused, never read as a shorter prefix.
     */
    private static Rule rule(String address, Decision decision) {
        byte[] network;
        String bits = null;
        if (address.startsWith("[")) {
            int close = address.indexOf(']');
            if (close < 0) {
                throw new IllegalArgumentException("'" + address + "': '[' without ']'");
            }
            String inside = address.substring(1, close);
            String after = address.substring(close + 1);
            int slash = inside.indexOf('/');
            if (slash >= 0 && after.isEmpty()) {
                bits = inside.substring(slash + 1);
                inside = inside.substring(0, slash);
            } else if (after.startsWith("/")) {
                bits = after.substring(1);
            } else if (!after.isEmpty()) {
                throw new IllegalArgumentException("'" + address + "': unexpected '" + after + "' after ']'");
            }
            network = ipv6(address, inside);
        } else if (IPV4_PREFIX.matcher(address).matches()) { // tcprules prefix: 10. 10.1. 10.1.2.
            String[] parts = address.split("\\.");
            network = new byte[4];
            for (int i = 0; i < parts.length; i++) {
                network[i] = (byte) octet(address, parts[i]);
            }
            return new Rule(network, parts.length * 8, decision);
        } else {
            int slash = address.indexOf('/');
            if (slash >= 0) {
                bits = address.substring(slash + 1);
                address = address.substring(0, slash);
            }
            network = ipv4(address);
        }
        int max = network.length * 8;
        if (bits != null && (!PREFIX_LENGTH.matcher(bits).matches() || Integer.parseInt(bits) > max)) {
            throw new IllegalArgumentException("'" + address + "': the prefix length '" + bits + "' is not a number 0.."
                    + max);
        }
        int length = bits == null ? max : Integer.parseInt(bits);
        if (network.length == 16 && isMappedIpv4(network) && length >= 96) { // clients are compared in IPv4 form
            return new Rule(Arrays.copyOfRange(network, 12, 16), length - 96, decision);
        }
        return new Rule(network, length, decision);
    }

    private static byte[] ipv4(String text) {
        Matcher m = IPV4.matcher(text);
        if (!m.matches()) {
            if (text.contains(":")) {
                throw new IllegalArgumentException("'" + text + "': write an IPv6 address in brackets, as in [::1]");
            }
            throw new IllegalArgumentException("'" + text + "' is not an IP address or prefix; " + FORMS);
        }
        byte[] address = new byte[4];
        for (int i = 0; i < 4; i++) {
            address[i] = (byte) octet(text, m.group(i + 1));
        }
        return address;
    }

    private static int octet(String address, String digits) {
        int value = digits.isEmpty() || digits.length() > 3 || !digits.chars().allMatch(c -> c >= '0' && c <= '9')
                ? 256 : Integer.parseInt(digits);
        if (value > 255) {
            throw new IllegalArgumentException("'" + address + "': '" + digits + "' is not a number 0..255");
        }
        return value;
    }

    /** An IPv6 literal, parsed without DNS; an IPv4-mapped one as its 16 bytes. */
    private static byte[] ipv6(String address, String text) {
        if (!text.contains(":") || !text.chars().allMatch(c -> c == ':' || c == '.' || Character.digit(c, 16) >= 0
                && c < 0x80)) {
            throw new IllegalArgumentException("'" + address + "': '" + text + "' is not an IPv6 address");
        }
        InetAddress parsed;
        try {
            parsed = Inet6Address.ofLiteral(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + address + "': '" + text + "' is not an IPv6 address");
        }
        byte[] bytes = parsed.getAddress();
        if (bytes.length == 4) { // ::ffff:a.b.c.d comes back as IPv4: keep the rule's IPv6 spelling
            byte[] mapped = new byte[16];
            mapped[10] = (byte) 0xff;
            mapped[11] = (byte) 0xff;
            System.arraycopy(bytes, 0, mapped, 12, 4);
            return mapped;
        }
        return bytes;
    }

    /** The decision for a client: its most specific rule, or the default. */
    Decision decide(Optional<InetAddress> client) {
        Table now = table;
        if (client.isEmpty()) {
            return now.fallback;
        }
        byte[] address = client.get().getAddress();
        if (address.length == 16 && isMappedIpv4(address)) {
            address = Arrays.copyOfRange(address, 12, 16);
        }
        Rule best = null;
        for (Rule rule : now.rules) {
            if (rule.matches(address) && (best == null || rule.prefixBits > best.prefixBits)) {
                best = rule;
            }
        }
        return best != null ? best.decision : now.fallback;
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
