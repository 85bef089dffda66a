package dev.sockserve.internal;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.util.Arrays;

/**
 * A network in CIDR notation: {@code 10.0.0.0/8}, {@code 127.0.0.1} (one address), {@code ::1/128},
 * {@code [2001:db8::]/32}. An IPv4 network also matches the IPv4-mapped IPv6 form of its addresses.
 */
public record Cidr(byte[] network, int prefix) {

    /** Parses a network; an {@link IllegalArgumentException} says what is wrong with it. */
    public static Cidr parse(String text) {
        String t = text.strip();
        int slash = t.indexOf('/');
        String address = slash < 0 ? t : t.substring(0, slash);
        if (address.startsWith("[") && address.endsWith("]")) {
            address = address.substring(1, address.length() - 1);
        }
        boolean v6 = address.contains(":");
        if (address.isEmpty() || !address.chars().allMatch(c -> Character.digit(c, v6 ? 16 : 10) >= 0 || c == '.' || c == ':')
                || (!v6 && address.split("\\.", -1).length != 4)) {
            throw new IllegalArgumentException("not an IP address or network: " + text);
        }
        byte[] bytes;
        try {
            bytes = InetAddress.getByName(address).getAddress(); // a literal only: no name is looked up
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("not an IP address or network: " + text);
        }
        if (v6 && bytes.length == 4) {
            throw new IllegalArgumentException("write an IPv4-mapped network as IPv4: " + text);
        }
        int max = bytes.length * 8;
        int prefix = max;
        if (slash >= 0) {
            String p = t.substring(slash + 1);
            if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(Character::isDigit)) {
                throw new IllegalArgumentException("bad prefix length in " + text);
            }
            prefix = Integer.parseInt(p);
            if (prefix > max) {
                throw new IllegalArgumentException("prefix length " + prefix + " is longer than " + max + " in " + text);
            }
        }
        return new Cidr(bytes, prefix);
    }

    public boolean contains(InetAddress address) {
        byte[] a = address.getAddress();
        if (a.length == 16 && network.length == 4 && isV4Mapped(a)) {
            a = Arrays.copyOfRange(a, 12, 16);
        }
        if (a.length != network.length) {
            return false;
        }
        int full = prefix / 8;
        if (!Arrays.equals(a, 0, full, network, 0, full)) {
            return false;
        }
        int rest = prefix % 8;
        if (rest == 0) {
            return true;
        }
        int mask = 0xff << (8 - rest) & 0xff;
        return (a[full] & mask) == (network[full] & mask);
    }

    /** Whether {@code address} is an IP socket address inside this network (a Unix address never is). */
    public boolean contains(SocketAddress address) {
        return address instanceof InetSocketAddress inet && inet.getAddress() != null && contains(inet.getAddress());
    }

    private static boolean isV4Mapped(byte[] a) {
        for (int i = 0; i < 10; i++) {
            if (a[i] != 0) {
                return false;
            }
        }
        return a[10] == (byte) 0xff && a[11] == (byte) 0xff;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Cidr c && c.prefix == prefix && Arrays.equals(c.network, network);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(network) * 31 + prefix;
    }

    @Override
    public String toString() {
        try {
            return InetAddress.getByAddress(network).getHostAddress() + "/" + prefix;
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }
}
