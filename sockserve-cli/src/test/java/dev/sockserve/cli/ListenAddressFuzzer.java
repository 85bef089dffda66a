package dev.sockserve.cli;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;

/**
 * Jazzer target for the {@code --listen} parser (run with {@code ./fuzz}): any value is either read or
 * refused with the parser's own {@link IllegalArgumentException}, whose message is one line; a value
 * that is read prints as a value that reads back the same. Host names resolve to loopback, never by DNS.
 */
public final class ListenAddressFuzzer {

    private static final ListenAddress.Resolver NO_DNS = host -> {
        if (host.contains(":")) {
            return InetAddress.getByName(host); // an IPv6 literal: parsed, never looked up
        }
        if (host.chars().allMatch(c -> c == '.' || c >= '0' && c <= '9')) {
            throw new AssertionError("an IPv4 literal reached the resolver: " + host);
        }
        return InetAddress.getLoopbackAddress();
    };

    private ListenAddressFuzzer() {
    }

    public static void fuzzerTestOneInput(byte[] data) {
        String text = new String(data, StandardCharsets.UTF_8);
        ListenAddress address;
        try {
            address = ListenAddress.parse(text, NO_DNS);
        } catch (IllegalArgumentException refused) {
            if (refused.getMessage().lines().count() != 1) {
                throw new AssertionError("a refusal of more than one line: " + refused.getMessage(), refused);
            }
            return;
        }
        ListenAddress again = ListenAddress.parse(address.toString(), NO_DNS);
        if (!again.equals(address)) {
            throw new AssertionError("'" + text + "' read as " + address + ", which reads back as " + again);
        }
    }
}
