package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code --listen} values are read strictly, and their messages are one safe line. */
class ListenAddressTest {

    @Test
    void theUsualFormsAreRead() {
        assertEquals("tcp://127.0.0.1:7", ListenAddress.parse("tcp://127.0.0.1:7").toString());
        assertEquals("udp://[::1]:0", ListenAddress.parse("udp://[::1]:0").toString());
        assertEquals("unix:/tmp/x.sock", ListenAddress.parse("unix:/tmp/x.sock").toString());
        assertEquals("unix-dgram:/tmp/x.sock", ListenAddress.parse("unix-dgram:/tmp/x.sock").toString());
        assertEquals("tcp://127.0.0.1:9", ListenAddress.parse("tcp://localhost:9",
                host -> java.net.InetAddress.getByName("127.0.0.1")).toString());
    }

    @Test
    void lenientSpellingsAreRefused() {
        for (String bad : List.of("tcp://1.2:7", "tcp://127.0.0.1:+7", "tcp://127.0.0.1:-0", "tcp://127.0.0.1:٧",
                "tcp://256.0.0.1:7", "tcp://[1.2.3.4]:7", "tcp://[::1]x:7", "tcp://a b:7", "tcp://-x:7",
                "tcp://127.0.0.1:123456", "unix:a\0b", "unix:/" + "x".repeat(ListenAddress.MAX_UNIX_PATH_BYTES))) {
            var e = assertThrows(IllegalArgumentException.class, () -> ListenAddress.parse(bad,
                    host -> { throw new java.net.UnknownHostException(host); }), bad);
            assertFalse(e.getMessage().contains("\n") || e.getMessage().contains("\0"), e.getMessage());
        }
    }

    @Test
    void aNewlineInTheValueIsShownEscaped() {
        var e = assertThrows(IllegalArgumentException.class, () -> ListenAddress.parse("tcp://x\nforged:7"));
        assertTrue(e.getMessage().contains("tcp://x\\nforged:7"), e.getMessage());
    }
}
