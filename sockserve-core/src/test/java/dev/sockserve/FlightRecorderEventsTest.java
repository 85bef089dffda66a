package dev.sockserve;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** The core's JFR events in a real recording, and the counters behind BaseServer.metrics(). */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class FlightRecorderEventsTest {

    @Test
    void aRecordingSeesAcceptTheEndWithBytesAndHandlerErrors() throws Exception {
        Path file = Files.createTempFile("sockserve-", ".jfr");
        try (Recording recording = new Recording()) {
            for (String name : List.of("ConnectionAccepted", "RequestEnded", "HandlerError")) {
                recording.enable("dev.sockserve." + name);
            }
            recording.start();
            var server = new ThreadingTcpServer(new InetSocketAddress("127.0.0.1", 0), StreamRequestHandler.of(h -> {
                byte[] line = h.rfile().readNBytes(5);
                if (new String(line, US_ASCII).equals("boom!")) {
                    throw new IllegalStateException("boom");
                }
                h.wfile().write(line);
                h.wfile().write(line);
            }));
            try (Serving serving = Serving.start(server)) {
                for (String message : List.of("hello", "boom!")) {
                    try (SocketChannel client = SocketChannel.open(server.serverAddress())) {
                        client.write(ByteBuffer.wrap(message.getBytes(US_ASCII)));
                        client.shutdownOutput();
                        client.read(ByteBuffer.allocate(20)); // the reply, or the end
                    }
                }
                Await.until("both requests ended", () -> server.activeRequests() == 0
                        && server.metrics().getAccepted() == 2 && server.metrics().getErrors() == 1);
                assertEquals(10, server.metrics().getBytesReceived());
                assertEquals(10, server.metrics().getBytesSent());
            }
            recording.stop();
            recording.dump(file);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(file);
        Files.delete(file);
        Map<String, List<RecordedEvent>> byName = events.stream()
                .collect(Collectors.groupingBy(e -> e.getEventType().getName()));
        assertEquals(2, byName.get("dev.sockserve.ConnectionAccepted").size(), byName.keySet().toString());
        assertEquals(1, byName.get("dev.sockserve.HandlerError").size());
        RecordedEvent ok = byName.get("dev.sockserve.RequestEnded").stream()
                .filter(e -> e.getString("outcome").equals("COMPLETED")).findFirst().orElseThrow();
        assertEquals(5, ok.getLong("bytesIn"));
        assertEquals(10, ok.getLong("bytesOut"));
        assertTrue(ok.getDuration("requestDuration").toNanos() > 0);
        assertTrue(ok.getString("listener").startsWith("tcp 127.0.0.1:"), ok.getString("listener"));
    }
}
