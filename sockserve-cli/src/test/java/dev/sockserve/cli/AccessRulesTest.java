package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** tcprules' order (exact, shorter prefixes, default), CIDR, settings, and the line named on an error. */
class AccessRulesTest {

    private static final AccessRules RULES = AccessRules.parse("test", List.of(
            "# office",
            "10.1.2.3:allow,WHO=\"the boss, himself\",LEVEL=9",
            "10.1.:deny",
            "10.:allow,WHO='ten'",
            "192.168.0.0/16:deny",
            "192.168.7.0/24:allow",
            "[::1]:allow,WHO=ipv6",
            "[fd00::/8]:deny",
            ":deny"));

    private static AccessRules.Decision decide(String ip) throws Exception {
        return RULES.decide(Optional.of(InetAddress.getByName(ip)));
    }

    @Test
    void exactAddressBeatsShorterPrefixes() throws Exception {
        assertEquals(new AccessRules.Decision(true, Map.of("WHO", "the boss, himself", "LEVEL", "9")), decide("10.1.2.3"));
        assertFalse(decide("10.1.2.4").allow());
        assertEquals(new AccessRules.Decision(true, Map.of("WHO", "ten")), decide("10.9.9.9"));
    }

    @Test
    void longerCidrBeatsShorterOne() throws Exception {
        assertFalse(decide("192.168.1.1").allow());
        assertTrue(decide("192.168.7.200").allow());
    }

    @Test
    void ipv6AndTheDefault() throws Exception {
        assertEquals(Map.of("WHO", "ipv6"), decide("::1").settings());
        assertFalse(decide("fd00::5").allow());
        assertFalse(decide("8.8.8.8").allow());
        assertFalse(RULES.decide(Optional.empty()).allow()); // a Unix client gets the default
        assertTrue(AccessRules.parse("empty", List.of("10.:deny")).decide(Optional.of(InetAddress.getByName("11.0.0.1"))).allow());
    }

    @Test
    void ipv6AddressesAreShownInTheirShortForm() throws Exception {
        for (String ip : List.of("::1", "::", "fd00::2", "2001:db8::1:0:0:1", "2001:db8:0:1:1:1:1:1", "1::")) {
            assertEquals(ip, dev.sockserve.internal.Addresses.ip(InetAddress.getByName(ip)));
        }
    }

    @Test
    void errorsNameTheLine() {
        for (String bad : List.of("10.0.0.1 allow", "10.0.0.1:maybe", "300.1.1.1:allow", "10.0.0.0/40:deny",
                "example.com:allow", "1.2.3.4:allow,=x", "1.2.3.4:allow,A=\"open")) {
            var e = assertThrows(IllegalArgumentException.class, () -> AccessRules.parse("f", List.of("# c", bad)));
            assertTrue(e.getMessage().startsWith("rules file f line 2: "), e.getMessage());
        }
    }

    @Test
    void malformedPrefixesAreRefusedNotReadAsShorterOnes() {
        // ".." once parsed as the empty prefix: "..:allow" allowed all of IPv4
        for (String bad : List.of("..", "1..", "+127.", ".1.", "1.2.3.4.", "1.2.3.4.5", "1.2.3", "01234.", "1.2.3.4/",
                "1.2.3.4/+8", "1.2.3.4/ 8", "[::1]/129", "[::1]x", "[1.2.3.4]", "::1", "[::1/64]/64", "٣.", "1.2.3.٤",
                "10.0.0.0/8/8", "[::1%lo]", "[]")) {
            var e = assertThrows(IllegalArgumentException.class, () -> AccessRules.parse("f", List.of(bad + ":allow")),
                    bad);
            assertTrue(e.getMessage().startsWith("rules file f line 1: "), e.getMessage());
        }
    }

    @Test
    void theUsualIpv6CidrSpellingIsAccepted() throws Exception {
        AccessRules rules = AccessRules.parse("f", List.of("[2001:db8::]/32:allow", "[2001:db8:1::/48]:deny", ":deny"));
        assertTrue(rules.decide(Optional.of(InetAddress.getByName("2001:db8:ffff::1"))).allow());
        assertFalse(rules.decide(Optional.of(InetAddress.getByName("2001:db8:1::1"))).allow());
        assertFalse(rules.decide(Optional.of(InetAddress.getByName("2001:db9::1"))).allow());
    }

    @Test
    void anIpv4MappedRuleMatchesTheIpv4Client() throws Exception {
        AccessRules rules = AccessRules.parse("f", List.of("[::ffff:10.0.0.0]/104:allow", ":deny"));
        assertTrue(rules.decide(Optional.of(InetAddress.getByName("10.9.9.9"))).allow());
        assertFalse(rules.decide(Optional.of(InetAddress.getByName("11.0.0.1"))).allow());
    }

    @Test
    void aValueTheKernelWouldRefuseIsRefusedAtStartUp() {
        String big = "x".repeat(AccessRules.MAX_SETTING_BYTES);
        var e = assertThrows(IllegalArgumentException.class,
                () -> AccessRules.parse("f", List.of("# c", "127.0.0.1:allow,BIG=" + big)));
        assertTrue(e.getMessage().startsWith("rules file f line 2: BIG=VALUE is "), e.getMessage().substring(0, 80));
        String fits = "x".repeat(AccessRules.MAX_SETTING_BYTES - "BIG=".length() - 1);
        assertEquals(fits, AccessRules.parse("f", List.of("127.0.0.1:allow,BIG=" + fits)).decide(
                Optional.of(InetAddress.getLoopbackAddress())).settings().get("BIG"));
        assertThrows(IllegalArgumentException.class, () -> AccessRules.parse("f", List.of("127.0.0.1:allow,A=\0")));
    }

    @Test
    void aTrailingCommaIsRefused() {
        for (String bad : List.of("127.0.0.1:allow,", "127.0.0.1:allow,A=1,", "127.0.0.1:allow,A='1', ")) {
            assertThrows(IllegalArgumentException.class, () -> AccessRules.parse("f", List.of(bad)), bad);
        }
        assertEquals(Map.of("A", "1", "B", "x y"),
                AccessRules.parse("f", List.of("127.0.0.1:allow, A=1 ,B = 'x y'")).decide(
                        Optional.of(InetAddress.getLoopbackAddress())).settings());
    }

    @Test
    void aRulesFileThatCannotBeReadGivesTheSystemsReason() throws Exception {
        var missing = assertThrows(IllegalArgumentException.class,
                () -> AccessRules.read(java.nio.file.Path.of("/nonexistent/rules")));
        assertTrue(missing.getMessage().endsWith("/nonexistent/rules: No such file or directory"), missing.getMessage());
        var directory = assertThrows(IllegalArgumentException.class, () -> AccessRules.read(java.nio.file.Path.of("/")));
        assertTrue(directory.getMessage().endsWith(": Is a directory"), directory.getMessage());
    }
}
