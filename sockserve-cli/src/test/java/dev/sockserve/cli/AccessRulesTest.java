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
            assertEquals(ip, Peer.ipv6(InetAddress.getByName(ip).getAddress()));
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
}
