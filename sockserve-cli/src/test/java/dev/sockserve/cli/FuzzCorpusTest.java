package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Replays the fuzzers' corpus (sockserve-cli/src/test/fuzz, grown by ./fuzz) without Jazzer: no input fails. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FuzzCorpusTest {

    private static int replay(String target, Consumer<byte[]> fuzzer) throws IOException {
        Path corpus = Path.of("src/test/fuzz", target);
        List<Path> inputs;
        try (Stream<Path> files = Files.list(corpus)) {
            inputs = files.sorted().toList();
        }
        for (Path input : inputs) {
            try {
                fuzzer.accept(Files.readAllBytes(input));
            } catch (RuntimeException | AssertionError e) {
                throw new AssertionError(target + " input " + input + " failed: " + e, e);
            }
        }
        return inputs.size();
    }

    @Test
    void everyRulesInputIsReadOrRefusedWithItsLine() throws IOException {
        assertTrue(replay("rules", RulesFuzzer::fuzzerTestOneInput) > 0);
    }

    @Test
    void everyListenInputIsReadOrRefusedInOneLine() throws IOException {
        assertTrue(replay("listen", ListenAddressFuzzer::fuzzerTestOneInput) > 0);
    }

    @Test
    void everyProxyHeaderInputIsReadToItsEndOrRefused() throws IOException {
        assertTrue(replay("proxy", ProxyHeaderFuzzer::fuzzerTestOneInput) > 0);
    }
}
