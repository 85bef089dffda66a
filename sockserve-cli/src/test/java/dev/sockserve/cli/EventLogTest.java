package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.SocketTimeoutException;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;

/** What the operator reads: one line per event whatever a client sends, valid JSON, no flood. */
class EventLogTest {

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final AtomicLong clock = new AtomicLong();

    private EventLog log(EventLog.Format format, boolean verbose) {
        return new EventLog(new PrintStream(bytes, true, StandardCharsets.UTF_8), format, verbose, clock::get);
    }

    private List<String> lines() {
        return bytes.toString(StandardCharsets.UTF_8).lines().toList();
    }

    private static final String FORGED = "/tmp/x\nsockserve: ok 1 :127.0.0.1:7 :10.0.0.1::1\r\u2028\u001b[31m\\";

    @Test
    void aClientsSocketPathCannotForgeATextLine() {
        EventLog log = log(EventLog.Format.TEXT, true);
        Peer local = Peer.of(UnixDomainSocketAddress.of("/tmp/server.sock"));
        Peer remote = Peer.of(UnixDomainSocketAddress.of(FORGED));
        log.ok(1, local, remote);
        log.deny(2, local, remote, "rules");
        log.warning("client " + remote.display() + " did something");
        assertEquals(3, lines().size(), lines().toString());
        assertEquals("sockserve: ok 1 unix:/tmp/server.sock unix:/tmp/x\\nsockserve: ok 1 :127.0.0.1:7 :10.0.0.1::1"
                + "\\r\\u2028\\x1b[31m\\\\", lines().get(0));
    }

    @Test
    void everyJsonLineIsOneObjectWithTheStackTraceInAField() {
        EventLog log = log(EventLog.Format.JSON, true);
        log.ok(1, Peer.of(UnixDomainSocketAddress.of("/tmp/s")), Peer.of(UnixDomainSocketAddress.of(FORGED)));
        LogRecord bug = new LogRecord(Level.SEVERE, "error while handling a request from " + FORGED);
        bug.setThrown(new IllegalStateException("a bug\nwith two lines"));
        log.fromCore(bug);
        List<String> lines = lines();
        assertEquals(2, lines.size(), lines.toString());
        for (String line : lines) {
            assertTrue(line.startsWith("{\"time\":\"") && line.endsWith("}"), line);
            assertFalse(line.chars().anyMatch(c -> c < 0x20 || c == 0x2028), line);
        }
        assertTrue(lines.get(1).contains("\"stack\":\"java.lang.IllegalStateException: a bug\\nwith two lines\\n\\tat "),
                lines.get(1));
    }

    @Test
    void aClientCausedErrorIsOneLineWithoutAStackTrace() {
        for (EventLog.Format format : EventLog.Format.values()) {
            bytes.reset();
            EventLog log = log(format, true);
            LogRecord timeout = new LogRecord(Level.SEVERE, "error while handling a request from 127.0.0.1:5");
            timeout.setThrown(new SocketTimeoutException("Read timed out"));
            log.fromCore(timeout);
            assertEquals(1, lines().size(), lines().toString());
            assertTrue(lines().get(0).contains("Read timed out") && !lines().get(0).contains("stack")
                    && !lines().get(0).contains("\tat "), lines().get(0));
        }
    }

    @Test
    void theTextLogShowsAStackTraceOnlyWithVerboseAndOnlyOnMarkedLines() {
        EventLog log = log(EventLog.Format.TEXT, true);
        LogRecord bug = new LogRecord(Level.SEVERE, "handler failed");
        bug.setThrown(new IllegalStateException("a bug\nsockserve: forged"));
        log.fromCore(bug);
        List<String> lines = lines();
        assertTrue(lines.size() > 2, lines.toString());
        assertTrue(lines.get(0).startsWith("sockserve: error: handler failed: java.lang.IllegalStateException: a bug\\n"),
                lines.get(0));
        for (String line : lines.subList(1, lines.size())) {
            assertTrue(line.startsWith("sockserve: | "), line);
        }
        bytes.reset();
        log(EventLog.Format.TEXT, false).fromCore(bug);
        assertEquals(1, lines().size(), lines().toString());
    }

    @Test
    void repeatedWarningsAreOneLineASecondWithACount() {
        EventLog log = log(EventLog.Format.TEXT, false);
        for (int i = 0; i < 1000; i++) {
            clock.addAndGet(Duration.ofMillis(1).toNanos() / 2);
            warnFromOnePlace(log, i);
        }
        log.warning("another place warns at once");
        assertEquals(List.of("sockserve: warning: datagram 0 is too long", "sockserve: warning: another place warns at once"),
                lines());
        clock.addAndGet(Duration.ofMillis(600).toNanos());
        warnFromOnePlace(log, 1000);
        assertEquals("sockserve: warning: datagram 1000 is too long (999 more like this in the last 1099ms)",
                lines().get(2));
        warnFromOnePlace(log, 1001);
        log.flushRepeats();
        assertEquals(List.of("sockserve: warning: 1 more like this: datagram 1001 is too long"),
                lines().subList(3, lines().size()));
    }

    @Test
    void whatTheCoreLimitedItselfIsNotLimitedAgainButTheRestIs() {
        EventLog log = log(EventLog.Format.TEXT, false);
        for (String source : List.of("dev.sockserve.internal.LogLimiter", "dev.sockserve.UdpServer")) {
            for (int i = 0; i < 2; i++) {
                LogRecord record = new LogRecord(Level.WARNING, "from " + source + " " + i);
                record.setSourceClassName(source);
                record.setSourceMethodName("log");
                log.fromCore(record);
            }
        }
        assertEquals(List.of("sockserve: warning: from dev.sockserve.internal.LogLimiter 0",
                "sockserve: warning: from dev.sockserve.internal.LogLimiter 1",
                "sockserve: warning: from dev.sockserve.UdpServer 0"), lines());
    }

    private static void warnFromOnePlace(EventLog log, int i) {
        log.warning("datagram " + i + " is too long");
    }

    @Test
    void theCoresOptionNamesAndDurationsReadAsTheCommandsFlags() {
        assertEquals("the reply is longer than --max-packet-size; requests still running after 10s",
                EventLog.inCommandWords("the reply is longer than maxPacketSize; requests still running after PT10S"));
        assertEquals("1500ms 2m 1h30m", EventLog.inCommandWords("PT1.5S PT2M PT1H30M"));
    }

    @Test
    void durationsAreWrittenAsTheFlagsTakeThemAndReadBack() {
        var converter = new ServeOptions.DurationConverter();
        for (Duration d : List.of(Duration.ofSeconds(3), Duration.ofMillis(250), Duration.ofNanos(50_000), Duration.ZERO,
                Duration.ofMillis(1500), Duration.ofSeconds(60), Duration.ofSeconds(90), Duration.ofMinutes(90),
                Duration.ofMillis(12_345), Duration.ofNanos(7))) {
            String written = Formats.duration(d);
            assertFalse(written.contains("PT"), written);
            assertEquals(d, converter.convert(written), written);
        }
        assertEquals("3s", Formats.duration(Duration.ofSeconds(3)));
        assertEquals("250ms", Formats.duration(Duration.ofMillis(250)));
        assertEquals("1m30s", Formats.duration(Duration.ofSeconds(90)));
    }
}
