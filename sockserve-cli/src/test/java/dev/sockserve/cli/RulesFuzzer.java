package dev.sockserve.cli;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/**
 * Jazzer target for the {@code --rules} parser (run with {@code ./fuzz}): any text is either read or refused
 * with the parser's own {@link IllegalArgumentException} naming the line; a file that is read decides
 * every client without failing.
 */
public final class RulesFuzzer {

    private static final List<Optional<InetAddress>> CLIENTS = List.of(Optional.empty(),
            Optional.of(InetAddress.ofLiteral("127.0.0.1")), Optional.of(InetAddress.ofLiteral("10.1.2.3")),
            Optional.of(InetAddress.ofLiteral("::1")), Optional.of(InetAddress.ofLiteral("2001:db8::7")));

    private RulesFuzzer() {
    }

    public static void fuzzerTestOneInput(byte[] data) {
        List<String> lines = new String(data, StandardCharsets.UTF_8).lines().toList();
        AccessRules rules;
        try {
            rules = AccessRules.parse("fuzz", lines);
        } catch (IllegalArgumentException refused) {
            if (!refused.getMessage().startsWith("rules file fuzz line ")) {
                throw new AssertionError("a refusal that names no line: " + refused.getMessage(), refused);
            }
            return;
        }
        for (Optional<InetAddress> client : CLIENTS) {
            if (rules.decide(client) == null) {
                throw new AssertionError("no decision for " + client);
            }
        }
    }
}
