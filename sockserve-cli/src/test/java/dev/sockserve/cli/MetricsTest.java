package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.management.ObjectName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** --metrics: the exposition read by Prometheus' own parser (python3's prometheus_client), and the JMX MBeans. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@ExtendWith(NoLeaks.class)
class MetricsTest {

    /** Fetches /metrics; prints the Content-Type, then one line per sample: NAME LABELS VALUE, as parsed. */
    private static final String SCRAPE = """
            import sys, urllib.request
            from prometheus_client.parser import text_string_to_metric_families
            with urllib.request.urlopen('http://' + sys.argv[1] + '/metrics', timeout=10) as r:
                print(r.headers['Content-Type'])
                text = r.read().decode('utf-8')
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    labels = ','.join(k + '=' + v for k, v in sorted(s.labels.items()))
                    print(s.name, labels or '-', repr(float(s.value)))
            """;

    private static final String FROM_127_0_0_2 = """
            import socket, sys
            host, port = sys.argv[1].rsplit(':', 1)
            s = socket.create_connection((host, int(port)), timeout=10, source_address=('127.0.0.2', 0))
            try:
                s.recv(10)
            except OSError:
                pass
            """;

    @Test
    void theCountersReadByPrometheusParser() throws Exception {
        Path dir = Harness.tempDir();
        Path rules = Files.writeString(dir.resolve("rules"), "127.0.0.2:deny\n:allow\n");
        try (Harness.InProcess server = Harness.start("echo", "--listen", "tcp://127.0.0.1:0", "--listen",
                "udp://127.0.0.1:0", "--max-packet-size", "4", "--rules", rules.toString(),
                "--metrics", "tcp://127.0.0.1:0")) {
            String tcp = server.address(0);
            String udp = server.address(1);
            for (int i = 0; i < 2; i++) {
                assertEquals("hello", new String(Harness.python("tcp", Harness.targetOf(tcp),
                        "hello".getBytes(StandardCharsets.US_ASCII), "shut", -1), StandardCharsets.US_ASCII));
            }
            Harness.python("udp", Harness.targetOf(udp), "0123456789".getBytes(StandardCharsets.US_ASCII), "", 2000);
            Harness.run(List.of("python3", "-c", FROM_127_0_0_2, Harness.targetOf(tcp)), 20);
            String metrics = server.serving.ops().metricsAddress().orElseThrow();

            // the tcp listener's counters are final once its three requests ended
            dev.sockserve.Await.until("the requests ended", () -> server.serving.ops().metricsAddress().isPresent()
                    && scrape(metrics).getOrDefault("sockserve_connections_active listener=" + tcp, -1.0) == 0.0);
            List<String> lines = Harness.run(List.of("python3", "-c", SCRAPE, metrics), 20).lines().toList();
            assertEquals("text/plain; version=0.0.4; charset=utf-8", lines.get(0));
            Map<String, Double> samples = parse(lines.subList(1, lines.size()));
            assertEquals(3.0, samples.get("sockserve_connections_accepted_total listener=" + tcp), samples.toString());
            assertEquals(1.0, samples.get("sockserve_connections_refused_total listener=" + tcp + ",reason=rules"));
            assertEquals(10.0, samples.get("sockserve_bytes_received_total listener=" + tcp));
            assertEquals(10.0, samples.get("sockserve_bytes_sent_total listener=" + tcp));
            assertEquals(0.0, samples.get("sockserve_handler_errors_total listener=" + tcp));
            assertEquals(1.0, samples.get("sockserve_datagrams_truncated_total listener=" + udp));
            assertEquals(1.0, samples.get("sockserve_connections_accepted_total listener=" + udp));
            assertTrue(samples.get("process_open_fds -") > 3, samples.toString());
            assertTrue(samples.get("jvm_memory_heap_used_bytes -") > 0);
            assertTrue(samples.get("jvm_threads_live -") > 1);

            ObjectName name = new ObjectName("dev.sockserve:type=Server,name="
                    + ObjectName.quote("tcp " + Harness.targetOf(tcp)));
            assertEquals(3L, ManagementFactory.getPlatformMBeanServer().getAttribute(name, "Accepted"));
            assertEquals(10L, ManagementFactory.getPlatformMBeanServer().getAttribute(name, "BytesSent"));
            server.close();
            assertTrue(ManagementFactory.getPlatformMBeanServer().queryNames(new ObjectName("dev.sockserve:*"), null)
                    .isEmpty(), "an MBean outlived its server");
        } finally {
            Harness.deleteTree(dir);
        }
    }

    private static Map<String, Double> scrape(String address) {
        try {
            List<String> lines = Harness.run(List.of("python3", "-c", SCRAPE, address), 20).lines().toList();
            return parse(lines.subList(1, lines.size()));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private static Map<String, Double> parse(List<String> lines) {
        Map<String, Double> samples = new HashMap<>();
        for (String line : lines) {
            int last = line.lastIndexOf(' ');
            samples.put(line.substring(0, last), Double.parseDouble(line.substring(last + 1)));
        }
        return samples;
    }
}
