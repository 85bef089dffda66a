package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sockserve.LeakCheck;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Wrong flags, addresses, rules and programs are refused at start-up with one line naming them; help says it all. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
@ExtendWith(LeakCheck.class)
class CommandLineTest {

    private static void assertRefused(int exitCode, String named, String... args) {
        Harness.Refusal refusal = Harness.refuse(args);
        assertEquals(exitCode, refusal.exitCode(), refusal.message());
        assertEquals(1, refusal.message().strip().lines().count(), "one line: " + refusal.message());
        assertTrue(refusal.message().contains(named), "names " + named + ": " + refusal.message());
    }

    @Test
    void tlsGetsACarrierPerCpuAndTheEnvironmentStillDecides() {
        String cpus = Integer.toString(Runtime.getRuntime().availableProcessors());
        assertEquals(cpus, Sockserve.carriers(new String[] {"echo", "--listen", "tls://127.0.0.1:0"}, null));
        assertEquals(cpus, Sockserve.carriers(new String[] {"forward", "--listen=tcp://127.0.0.1:0", "--to=tls://h:1"}, null));
        assertEquals(null, Sockserve.carriers(new String[] {"echo", "--listen", "tcp://127.0.0.1:0"}, null),
                "plain text keeps the recommended one carrier fewer than the CPUs");
        assertEquals("3", Sockserve.carriers(new String[] {"echo", "--listen", "tls://127.0.0.1:0"}, "3"));
    }

    @Test
    void unknownFlagIsNamed() {
        assertRefused(2, "--lisen", "echo", "--lisen", "tcp://127.0.0.1:0");
    }

    @Test
    void badAddressesAreNamed() {
        assertRefused(2, "tcp://127.0.0.1", "echo", "--listen", "tcp://127.0.0.1");
        assertRefused(2, "port 'x'", "echo", "--listen", "tcp://127.0.0.1:x");
        assertRefused(2, "70000", "echo", "--listen", "udp://127.0.0.1:70000");
        assertRefused(2, "http://x:1", "echo", "--listen", "http://x:1");
        assertRefused(2, "brackets", "echo", "--listen", "tcp://::1:7");
        assertRefused(2, "no socket path", "echo", "--listen", "unix:");
    }

    @Test
    void badNumbersAndDurationsAreNamed() {
        assertRefused(2, "-c must be at least 1, was 0", "echo", "--listen", "tcp://127.0.0.1:0", "-c", "0");
        assertRefused(2, "-c needs", "echo", "--listen", "tcp://127.0.0.1:0", "-c", "4", "--concurrency", "synchronous");
        assertRefused(2, "'soon'", "echo", "--listen", "tcp://127.0.0.1:0", "--grace", "soon");
        assertRefused(2, "-C", "echo", "--listen", "tcp://127.0.0.1:0", "-C", "many");
        assertRefused(2, "--concurrency", "echo", "--listen", "tcp://127.0.0.1:0", "--concurrency", "forks");
        assertRefused(2, "--read-spin must be between 0 and 1 second, was 2s", "echo", "--listen", "tcp://127.0.0.1:0",
                "--read-spin", "2s");
        assertRefused(2, "'fast'", "echo", "--listen", "tcp://127.0.0.1:0", "--read-spin", "fast");
    }

    @Test
    void malformedRulesFileIsRefusedWithItsLineNumber() throws Exception {
        Path rules = Files.createTempFile("sockserve-rules-", ".txt");
        try {
            Files.writeString(rules, "# local clients\n127.0.0.1:allow\n10.0.0.0/33:deny\n");
            assertRefused(2, "line 3", "echo", "--listen", "tcp://127.0.0.1:0", "--rules", rules.toString());
            Files.writeString(rules, "127.0.0.1:permit\n");
            assertRefused(2, "line 1", "echo", "--listen", "tcp://127.0.0.1:0", "--rules", rules.toString());
            Files.writeString(rules, "127.0.0.1:allow\n..:allow\n");
            assertRefused(2, "line 2", "echo", "--listen", "tcp://127.0.0.1:0", "--rules", rules.toString());
        } finally {
            Files.delete(rules);
        }
    }

    @Test
    void execNeedsAListenerAndAProgramThatExists() {
        assertRefused(2, "--listen", "exec", "--", "cat");
        assertRefused(2, "PROGRAM", "exec", "--listen", "tcp://127.0.0.1:0");
        assertRefused(2, "no-such-program-here", "exec", "--listen", "tcp://127.0.0.1:0", "--", "no-such-program-here");
    }

    @Test
    void noServiceIsAUsageError() {
        assertRefused(2, "sockserve --help");
        assertRefused(2, "nonsense", "nonsense");
    }

    @Test
    void anUnknownServiceNamesTheServicesAndTheClosest() {
        assertRefused(2, "'ecoh' is not a service; the services are echo, discard, daytime, qotd, chargen, time, exec, "
                + "forward; did you mean 'echo'?", "ecoh");
        assertRefused(2, "the services are echo", "zzzzzzzz");
        assertRefused(2, "unexpected 'daytimes': echo takes options only; the services are echo, discard, daytime, "
                + "qotd, chargen, time, exec, forward; did you mean 'daytime'?", "echo", "daytimes");
        assertRefused(2, "one service at a time", "echo", "time");
        assertRefused(2, "did you mean --listen?", "echo", "--lisen", "tcp://127.0.0.1:0");
    }

    @Test
    void aProgramsArgumentsWithoutTheDashesAreExplained() {
        assertRefused(2, "'-n' is not an option of exec; a program's arguments go after --, as in 'sockserve exec "
                + "--listen URL -- cat -n'", "exec", "--listen", "tcp://127.0.0.1:0", "cat", "-n");
    }

    @Test
    void theCoresRefusalNamesTheFlagAndTheValueAsWritten() {
        assertRefused(2, "--backlog must be at least 1, was 0", "echo", "--listen", "tcp://127.0.0.1:0", "--backlog", "0");
        assertRefused(2, "--max-packet-size must be 1..65535, was 70000", "echo", "--max-packet-size", "70000");
        assertRefused(2, "--read-spin must be between 0 and 1 second, was 2s", "echo", "--read-spin", "2s");
        assertRefused(2, "--write-timeout must be positive, was 0s", "echo", "--write-timeout", "0");
        Harness.Refusal refusal = Harness.refuse("echo", "--read-spin", "1500ms");
        assertTrue(refusal.message().contains("was 1500ms") && !refusal.message().contains("PT"), refusal.message());
    }

    @Test
    void withJsonLogsARefusalAfterParsingIsOneJsonObject() {
        for (String[] args : List.of(new String[] {"echo", "--log-format", "json", "--backlog", "0"},
                new String[] {"echo", "--log-format", "json", "--rules", "/nonexistent/access.rules"})) {
            Harness.Refusal refusal = Harness.refuse(args);
            assertEquals(2, refusal.exitCode(), refusal.message());
            String line = refusal.message().strip();
            assertTrue(line.startsWith("{\"time\":") && line.endsWith("}") && line.contains("\"event\":\"error\""),
                    line);
        }
    }

    @Test
    void aRulesFileThatCannotBeReadGivesTheSystemsReason() {
        assertRefused(2, "/nonexistent/access.rules: No such file or directory", "echo", "--rules",
                "/nonexistent/access.rules");
    }

    @Test
    void aTakenPortIsRefusedWithTheAddress() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            String address = "127.0.0.1:" + taken.getLocalPort();
            assertRefused(1, address, "echo", "--listen", "tcp://" + address);
        }
    }

    private static String help(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream stream = new PrintStream(out, true, StandardCharsets.UTF_8);
        Sockserve.Parsed parsed = Sockserve.parse(args, stream, stream);
        assertEquals(0, parsed.exitCode());
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void everyServiceHelpSaysWhatItDoesItsDefaultAddressAndEveryOptionsDefault() {
        for (Service service : Service.values()) {
            String help = help(service.command(), "--help");
            assertTrue(help.contains("RFC " + service.rfc), help);
            assertTrue(help.contains("Default address: tcp://127.0.0.1:" + (7000 + service.port)), help);
            for (String option : new String[] {"--listen", "--concurrency", "-c=", "-C=", "--rules", "-v ", "--log-format",
                "--grace", "--read-timeout", "--write-timeout", "--read-spin", "--backlog", "--max-packet-size"}) {
                assertTrue(help.contains(option), service + " help lacks " + option);
            }
            // every option states its default
            long options = help.lines().filter(l -> l.matches("\\s+(-\\w, )?--?[\\w-]+.*") && !l.contains("--help")
                    && !l.contains("--version")).count();
            assertEquals(options, countDefaults(help), help);
        }
        String exec = help("exec", "--help");
        assertTrue(exec.contains("TCPREMOTEIP") && exec.contains("Default -c: 40"), exec);
        String top = help("--help");
        assertTrue(top.contains("tcp://127.0.0.1:7007") && top.contains("exec"), top);
        String echo = help("echo", "--help");
        assertTrue(echo.contains("Default: 10s.") && echo.contains("Default: 50us.") && echo.contains("Default: 1m.")
                && !echo.contains("PT"), echo);
    }

    private static long countDefaults(String help) {
        return java.util.regex.Pattern.compile("Default:").matcher(help).results().count();
    }
}
