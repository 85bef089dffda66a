package dev.sockserve.internal;

import dev.sockserve.ProxyHeader;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.zip.CRC32C;

/**
 * Reads one PROXY protocol header (v1 text or v2 binary, told apart by their first bytes) from a source
 * of bytes, taking exactly the header's bytes and never one past it, and never allocating more than
 * {@link #MAX_V2_LENGTH}. Every malformed input is a {@link Malformed} with the reason.
 */
public final class ProxyHeaderParser {

    /** v1: "PROXY" ... CRLF, at most 107 bytes by the specification. */
    static final int MAX_V1_LENGTH = 107;
    /**
     * v2: what follows the 16 fixed bytes. The 216-byte address block of AF_UNIX plus TLVs a proxy
     * sends in practice (ALPN, authority, unique id up to 128, SSL); a longer one is refused.
     */
    public static final int MAX_V2_LENGTH = 2048;

    private static final byte[] V2_SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    private static final byte[] V1_PREFIX = "PROXY ".getBytes(StandardCharsets.US_ASCII);

    /** Where the header's bytes come from: reads exactly {@code n} bytes, or fails at the end of input. */
    @FunctionalInterface
    public interface Source {
        void readFully(byte[] into, int offset, int n) throws IOException;
    }

    /** The input is not a valid PROXY header. */
    public static final class Malformed extends IOException {
        public Malformed(String reason) {
            super(reason, null);
        }
    }

    private ProxyHeaderParser() {
    }

    public static ProxyHeader parse(Source in) throws IOException {
        byte[] head = new byte[16];
        in.readFully(head, 0, 8);
        if (Arrays.equals(head, 0, 6, V1_PREFIX, 0, 6)) {
            return v1(in, head);
        }
        if (!Arrays.equals(head, 0, 8, V2_SIGNATURE, 0, 8)) {
            throw new Malformed("not a PROXY protocol header");
        }
        in.readFully(head, 8, 8);
        if (!Arrays.equals(head, 0, 12, V2_SIGNATURE, 0, 12)) {
            throw new Malformed("not a PROXY protocol header");
        }
        return v2(in, head);
    }

    // ---- v1: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n" ----

    private static ProxyHeader v1(Source in, byte[] head) throws IOException {
        byte[] line = Arrays.copyOf(head, MAX_V1_LENGTH);
        int n = 8;
        // "PROXY UNKNOWN\r\n" is the shortest line: read up to it at once, then a byte at a time
        in.readFully(line, n, 7);
        n += 7;
        while (!(line[n - 2] == '\r' && line[n - 1] == '\n')) {
            if (n == MAX_V1_LENGTH) {
                throw new Malformed("v1 header longer than " + MAX_V1_LENGTH + " bytes");
            }
            in.readFully(line, n, 1);
            n++;
        }
        for (int i = 0; i < n - 2; i++) {
            if (line[i] < 0x20 || line[i] > 0x7e) {
                throw new Malformed("v1 header with a byte that is not printable ASCII");
            }
        }
        String[] words = new String(line, 6, n - 8, StandardCharsets.US_ASCII).split(" ", -1);
        if (words[0].equals("UNKNOWN")) {
            return new ProxyHeader(1, Optional.empty(), Optional.empty(), Map.of());
        }
        if (words.length != 5 || !(words[0].equals("TCP4") || words[0].equals("TCP6"))) {
            throw new Malformed("v1 header is not PROXY TCP4|TCP6|UNKNOWN SRC DST SPORT DPORT");
        }
        boolean v6 = words[0].equals("TCP6");
        return new ProxyHeader(1, Optional.of(new InetSocketAddress(ip(words[1], v6), port(words[3]))),
                Optional.of(new InetSocketAddress(ip(words[2], v6), port(words[4]))), Map.of());
    }

    private static InetAddress ip(String text, boolean v6) throws Malformed {
        byte[] bytes = v6 ? ipv6(text) : ipv4(text);
        try {
            return InetAddress.getByAddress(bytes);
        } catch (java.net.UnknownHostException e) {
            throw new Malformed("bad address " + text);
        }
    }

    private static byte[] ipv4(String text) throws Malformed {
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) {
            throw new Malformed("bad IPv4 address");
        }
        byte[] b = new byte[4];
        for (int i = 0; i < 4; i++) {
            String p = parts[i];
            if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(Character::isDigit) || (p.length() > 1 && p.charAt(0) == '0')) {
                throw new Malformed("bad IPv4 address");
            }
            int v = Integer.parseInt(p);
            if (v > 255) {
                throw new Malformed("bad IPv4 address");
            }
            b[i] = (byte) v;
        }
        return b;
    }

    private static byte[] ipv6(String text) throws Malformed {
        if (text.isEmpty() || text.length() > 45 || !text.chars().allMatch(c -> Character.digit(c, 16) >= 0 || c == ':' || c == '.')
                || !text.contains(":")) {
            throw new Malformed("bad IPv6 address");
        }
        try {
            // only hex digits, colons and dots reach here: no name lookup can happen
            return InetAddress.getByName(text).getAddress(); // 4 bytes for an IPv4-mapped address
        } catch (java.net.UnknownHostException e) {
            throw new Malformed("bad IPv6 address");
        }
    }

    private static int port(String text) throws Malformed {
        if (text.isEmpty() || text.length() > 5 || !text.chars().allMatch(Character::isDigit)
                || (text.length() > 1 && text.charAt(0) == '0')) {
            throw new Malformed("bad port");
        }
        int p = Integer.parseInt(text);
        if (p > 65535) {
            throw new Malformed("bad port");
        }
        return p;
    }

    // ---- v2 ----

    private static ProxyHeader v2(Source in, byte[] head) throws IOException {
        int versionCommand = head[12] & 0xff;
        if (versionCommand >> 4 != 2) {
            throw new Malformed("v2 header with version " + (versionCommand >> 4));
        }
        int command = versionCommand & 0x0f;
        if (command > 1) {
            throw new Malformed("v2 header with unknown command " + command);
        }
        int family = (head[13] & 0xff) >> 4;
        int length = ((head[14] & 0xff) << 8) | (head[15] & 0xff);
        if (length > MAX_V2_LENGTH) {
            throw new Malformed("v2 header of " + length + " bytes, more than " + MAX_V2_LENGTH);
        }
        byte[] body = new byte[length];
        in.readFully(body, 0, length);
        int addressLength = switch (family) {
            case 0 -> 0;
            case 1 -> 12;
            case 2 -> 36;
            case 3 -> 216;
            default -> throw new Malformed("v2 header with unknown address family " + family);
        };
        if (length < addressLength) {
            throw new Malformed("v2 header too short for its addresses");
        }
        Map<Integer, byte[]> tlvs = tlvs(body, addressLength, length, head);
        if (command == 0 || family == 0) { // LOCAL, or UNSPEC: the proxy's own connection
            return new ProxyHeader(2, Optional.empty(), Optional.empty(), tlvs);
        }
        ByteBuffer b = ByteBuffer.wrap(body);
        SocketAddress source;
        SocketAddress destination;
        switch (family) {
            case 1, 2 -> {
                byte[] src = new byte[family == 1 ? 4 : 16];
                byte[] dst = new byte[src.length];
                b.get(src).get(dst);
                int sport = b.getShort() & 0xffff;
                int dport = b.getShort() & 0xffff;
                source = new InetSocketAddress(InetAddress.getByAddress(src), sport);
                destination = new InetSocketAddress(InetAddress.getByAddress(dst), dport);
            }
            default -> {
                source = unixPath(body, 0);
                destination = unixPath(body, 108);
            }
        }
        return new ProxyHeader(2, Optional.of(source), Optional.of(destination), tlvs);
    }

    private static SocketAddress unixPath(byte[] body, int offset) throws Malformed {
        int end = offset;
        while (end < offset + 108 && body[end] != 0) {
            end++;
        }
        try {
            return UnixDomainSocketAddress.of(new String(body, offset, end - offset, StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            throw new Malformed("v2 header with a bad Unix path");
        }
    }

    private static Map<Integer, byte[]> tlvs(byte[] body, int from, int to, byte[] head) throws Malformed {
        Map<Integer, byte[]> tlvs = new HashMap<>();
        int i = from;
        while (i < to) {
            if (to - i < 3) {
                throw new Malformed("v2 header with a truncated TLV");
            }
            int type = body[i] & 0xff;
            int len = ((body[i + 1] & 0xff) << 8) | (body[i + 2] & 0xff);
            int value = i + 3;
            if (value + len > to) {
                throw new Malformed("v2 header with a TLV longer than the header");
            }
            if (type == ProxyHeader.PP2_TYPE_CRC32C) {
                checkCrc(body, value, len, head);
            } else if (type == ProxyHeader.PP2_TYPE_SSL) {
                if (len < 5) {
                    throw new Malformed("v2 header with a short SSL TLV");
                }
                tlvs.put(type, Arrays.copyOfRange(body, value, value + 5)); // client flags and verify result
                tlvs.putAll(tlvs(body, value + 5, value + len, head));
            } else if (type != ProxyHeader.PP2_TYPE_NOOP) {
                tlvs.put(type, Arrays.copyOfRange(body, value, value + len));
            }
            i = value + len;
        }
        return tlvs;
    }

    /** The CRC32c of the whole header with the checksum's own four bytes as zero must match them. */
    private static void checkCrc(byte[] body, int value, int len, byte[] head) throws Malformed {
        if (len != 4) {
            throw new Malformed("v2 header with a CRC32C TLV of " + len + " bytes");
        }
        int expected = ByteBuffer.wrap(body, value, 4).getInt();
        byte[] copy = body.clone();
        Arrays.fill(copy, value, value + 4, (byte) 0);
        CRC32C crc = new CRC32C();
        crc.update(head, 0, 16);
        crc.update(copy);
        if ((int) crc.getValue() != expected) {
            throw new Malformed("v2 header whose CRC32C does not match");
        }
    }
}
