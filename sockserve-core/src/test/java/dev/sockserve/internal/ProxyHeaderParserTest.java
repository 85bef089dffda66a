package dev.sockserve.internal;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.ProxyHeader;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.util.Optional;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The PROXY protocol parser on its own: every form of the specification, and what it must refuse. */
class ProxyHeaderParserTest {

    /** Bytes to parse, counting what the parser took: it must never read past the header. */
    static final class Bytes implements ProxyHeaderParser.Source {
        final byte[] data;
        int taken;

        Bytes(byte[] data) {
            this.data = data;
        }

        @Override
        public void readFully(byte[] into, int offset, int n) throws IOException {
            if (taken + n > data.length) {
                throw new EOFException("end of input");
            }
            System.arraycopy(data, taken, into, offset, n);
            taken += n;
        }
    }

    static ProxyHeader parse(byte[] header, String after) throws IOException {
        byte[] all = new byte[header.length + after.length()];
        System.arraycopy(header, 0, all, 0, header.length);
        System.arraycopy(after.getBytes(US_ASCII), 0, all, header.length, after.length());
        Bytes in = new Bytes(all);
        ProxyHeader parsed = ProxyHeaderParser.parse(in);
        assertEquals(header.length, in.taken, "took exactly the header's bytes");
        return parsed;
    }

    static final byte[] SIG = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

    /** A v2 header: command 0 LOCAL / 1 PROXY, family/protocol byte, then the body. */
    static byte[] v2(int command, int familyProtocol, byte[] body) {
        ByteBuffer b = ByteBuffer.allocate(16 + body.length);
        b.put(SIG).put((byte) (0x20 | command)).put((byte) familyProtocol).putShort((short) body.length).put(body);
        return b.array();
    }

    static byte[] tlv(int type, byte[] value) {
        return ByteBuffer.allocate(3 + value.length).put((byte) type).putShort((short) value.length).put(value).array();
    }

    static byte[] concat(byte[]... parts) {
        var out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    @Test
    void v1Tcp4AndTcp6AndUnknown() throws IOException {
        var h = parse("PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n".getBytes(US_ASCII), "GET /");
        assertEquals(Optional.of(new InetSocketAddress("192.0.2.1", 56324)), h.source());
        assertEquals(Optional.of(new InetSocketAddress("198.51.100.1", 443)), h.destination());
        assertEquals(1, h.version());
        var six = parse("PROXY TCP6 2001:db8::1 ::1 1 65535\r\n".getBytes(US_ASCII), "x");
        assertEquals(Optional.of(new InetSocketAddress("2001:db8::1", 1)), six.source());
        var unknown = parse("PROXY UNKNOWN\r\n".getBytes(US_ASCII), "hello");
        assertFalse(unknown.proxied());
        var unknownWithAddresses = parse("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n".getBytes(US_ASCII), "");
        assertFalse(unknownWithAddresses.proxied(), "the rest of an UNKNOWN line is ignored, as the spec says");
    }

    @ParameterizedTest
    @ValueSource(strings = {"PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n", "PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n",
        "PROXY TCP4 01.2.3.4 1.2.3.4 1 2\r\n", "PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n", "PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n",
        "PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n", "PROXY TCP6 example.com ::1 1 2\r\n", "PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n\r\n",
        "PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n", "GET / HTTP/1.1\r\n\r\n"})
    void malformedV1IsRefused(String line) {
        assertThrows(ProxyHeaderParser.Malformed.class, () -> parse(line.getBytes(US_ASCII), ""));
    }

    @Test
    void aV1LineWithoutItsEndWithin107BytesIsRefused() {
        String line = "PROXY TCP4 " + "1".repeat(120) + "\r\n";
        var e = assertThrows(ProxyHeaderParser.Malformed.class, () -> ProxyHeaderParser.parse(new Bytes(line.getBytes(US_ASCII))));
        assertTrue(e.getMessage().contains("longer than 107"), e.getMessage());
    }

    @Test
    void v2Inet4WithTlvsIncludingSslAndAValidCrc() throws IOException {
        byte[] addresses = ByteBuffer.allocate(12).put(new byte[] {(byte) 192, 0, 2, 7}).put(new byte[] {10, 0, 0, 1})
                .putShort((short) 40000).putShort((short) 443).array();
        byte[] ssl = concat(new byte[] {0x07, 0, 0, 0, 0}, tlv(0x21, "TLSv1.3".getBytes(US_ASCII)),
                tlv(0x22, "alice".getBytes(US_ASCII)));
        byte[] body = concat(addresses, tlv(0x01, "h2".getBytes(US_ASCII)), tlv(0x02, "example.test".getBytes(US_ASCII)),
                tlv(0x05, new byte[] {1, 2, 3}), tlv(0x20, ssl), tlv(0x04, new byte[5]), tlv(0xE0, new byte[] {9}),
                tlv(0x03, new byte[4]));
        byte[] header = v2(1, 0x11, body);
        CRC32C crc = new CRC32C();
        crc.update(header);
        ByteBuffer.wrap(header).putInt(header.length - 4, (int) crc.getValue());
        var h = parse(header, "after");
        assertEquals(Optional.of(new InetSocketAddress("192.0.2.7", 40000)), h.source());
        assertEquals(Optional.of(new InetSocketAddress("10.0.0.1", 443)), h.destination());
        assertEquals(Optional.of("h2"), h.alpn());
        assertEquals(Optional.of("example.test"), h.authority());
        assertArrayEquals(new byte[] {1, 2, 3}, h.uniqueId().orElseThrow());
        assertEquals(Optional.of("TLSv1.3"), h.sslVersion());
        assertEquals(Optional.of("alice"), h.sslCommonName());
        assertArrayEquals(new byte[] {9}, h.tlvs().get(0xE0), "an unknown type is kept as bytes");

        ByteBuffer.wrap(header).putInt(header.length - 4, (int) crc.getValue() + 1);
        var e = assertThrows(ProxyHeaderParser.Malformed.class, () -> parse(header, ""));
        assertTrue(e.getMessage().contains("CRC32C"), e.getMessage());
    }

    @Test
    void v2Inet6UnixAndLocal() throws IOException {
        byte[] six = ByteBuffer.allocate(36).put(new byte[15]).put((byte) 1).put(new byte[15]).put((byte) 1)
                .putShort((short) 5).putShort((short) 6).array();
        assertEquals(Optional.of(new InetSocketAddress("::1", 5)), parse(v2(1, 0x21, six), "").source());
        byte[] unix = new byte[216];
        System.arraycopy("/run/client.sock".getBytes(US_ASCII), 0, unix, 0, 16);
        System.arraycopy("/run/server.sock".getBytes(US_ASCII), 0, unix, 108, 16);
        var u = parse(v2(1, 0x31, unix), "");
        assertEquals(Optional.of(UnixDomainSocketAddress.of("/run/client.sock")), u.source());
        var local = parse(v2(0, 0x11, new byte[12]), "health check");
        assertFalse(local.proxied(), "LOCAL: the proxy's own connection");
        assertFalse(parse(v2(1, 0x00, new byte[0]), "").proxied(), "UNSPEC");
    }

    @Test
    void malformedV2IsRefusedWithoutAllocatingWhatTheHeaderClaims() {
        byte[] tooLong = ByteBuffer.allocate(16).put(SIG).put((byte) 0x21).put((byte) 0x11).putShort((short) 65535).array();
        var e = assertThrows(ProxyHeaderParser.Malformed.class, () -> ProxyHeaderParser.parse(new Bytes(tooLong)));
        assertTrue(e.getMessage().contains("more than 2048"), e.getMessage());
        assertThrows(ProxyHeaderParser.Malformed.class, () -> parse(v2(1, 0x11, new byte[11]), ""), "short addresses");
        assertThrows(ProxyHeaderParser.Malformed.class, () -> parse(v2(2, 0x11, new byte[12]), ""), "command 2");
        assertThrows(ProxyHeaderParser.Malformed.class, () -> parse(v2(1, 0x41, new byte[12]), ""), "family 4");
        byte[] truncatedTlv = concat(new byte[12], new byte[] {0x01, 0x00, 0x09, 'h'});
        assertThrows(ProxyHeaderParser.Malformed.class, () -> parse(v2(1, 0x11, truncatedTlv), ""), "TLV past the end");
        byte[] version3 = v2(1, 0x11, new byte[12]);
        version3[12] = 0x31;
        assertThrows(ProxyHeaderParser.Malformed.class, () -> parse(version3, ""), "version 3");
    }

    @Test
    void cidrsMatchTheirNetworksOnly() throws Exception {
        assertTrue(Cidr.parse("10.0.0.0/8").contains(java.net.InetAddress.getByName("10.200.1.1")));
        assertFalse(Cidr.parse("10.0.0.0/8").contains(java.net.InetAddress.getByName("11.0.0.1")));
        assertTrue(Cidr.parse("127.0.0.1").contains(java.net.InetAddress.getByName("::ffff:127.0.0.1")));
        assertTrue(Cidr.parse("[2001:db8::]/32").contains(java.net.InetAddress.getByName("2001:db8:1::5")));
        assertFalse(Cidr.parse("::1/128").contains(java.net.InetAddress.getByName("127.0.0.1")));
        assertTrue(Cidr.parse("192.168.0.0/23").contains(java.net.InetAddress.getByName("192.168.1.255")));
        assertFalse(Cidr.parse("192.168.0.0/23").contains(java.net.InetAddress.getByName("192.168.2.0")));
        for (String bad : new String[] {"..", "1..", "+127.", "10.0.0.0/33", "example.com", "1.2.3", "::1/129", ""}) {
            assertThrows(IllegalArgumentException.class, () -> Cidr.parse(bad), bad);
        }
    }
}
