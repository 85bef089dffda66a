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

    /** Python's ssl client: sends N bytes, reads until N came back or the end, prints how many came. */
    private static final String TLS_CLIENT = """
            import socket, ssl, sys
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_verify_locations(sys.argv[2])
            n = int(sys.argv[3])
            with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname='localhost') as s:
                    s.sendall(b'x' * n)
                    got = 0
                    while got < n:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += len(chunk)
                    print(got)
            """;

    private static int tlsEcho(String bound, Path ca, int n) throws Exception {
        String port = bound.substring(bound.lastIndexOf(':') + 1);
        return Integer.parseInt(Harness.run(List.of("python3", "-c", TLS_CLIENT, port, ca.toString(),
                String.valueOf(n)), 30).strip());
    }

    private static int plainEcho(String bound, int n) throws Exception {
        return Harness.python("tcp", Harness.targetOf(bound), new byte[n], "shut", -1).length;
    }

    /** Waits until {@code listener}'s requests ended, then its bytes received and sent, as Prometheus reads them. */
    private static List<Double> bytesOf(Harness.InProcess command, String listener) throws InterruptedException {
        String metrics = command.serving.ops().metricsAddress().orElseThrow();
        dev.sockserve.Await.until("the requests on " + listener + " ended",
                () -> scrape(metrics).getOrDefault("sockserve_connections_active listener=" + listener, -1.0) == 0.0);
        Map<String, Double> samples = scrape(metrics);
        return List.of(samples.get("sockserve_bytes_received_total listener=" + listener),
                samples.get("sockserve_bytes_sent_total listener=" + listener));
    }

    @Test
    void execForwardAndTlsCountTheBytesTheirClientsSentAndGot() throws Exception {
        Path dir = Harness.tempDir();
        Path cert = dir.resolve("cert.pem");
        Path key = dir.resolve("key.pem");
        Harness.run(List.of("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-days", "2", "-keyout", key.toString(), "-out", cert.toString(), "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost"), 30);
        // head -c echoes like cat, and ends after 2000 bytes: a TLS client needs no half-close to see the end
        try (Harness.InProcess exec = Harness.start("exec", "--listen", "tcp://127.0.0.1:0", "--listen",
                "tls://127.0.0.1:0", "--listen", "udp://127.0.0.1:0", "--tls-cert", cert.toString(), "--tls-key",
                key.toString(), "--metrics", "tcp://127.0.0.1:0", "--", "head", "-c", "2000");
                Harness.InProcess forward = Harness.start("forward", "--listen", "tcp://127.0.0.1:0", "--to",
                        exec.address(0), "--metrics", "tcp://127.0.0.1:0");
                Harness.InProcess echo = Harness.start("echo", "--listen", "tls://127.0.0.1:0", "--tls-cert",
                        cert.toString(), "--tls-key", key.toString(), "--metrics", "tcp://127.0.0.1:0")) {
            assertEquals(1000, plainEcho(exec.address(0), 1000));
            assertEquals(2000, tlsEcho(exec.address(1), cert, 2000));
            assertEquals(1500, plainEcho(forward.address(0), 1500));
            assertEquals(700, Harness.python("udp", Harness.targetOf(exec.address(2)), new byte[700], "", 20_000).length);
            assertEquals(3000, tlsEcho(echo.address(0), cert, 3000));

            assertEquals(List.of(1500.0, 1500.0), bytesOf(forward, forward.address(0)), "forward's relay");
            // the program's own reads and writes, from TCP_INFO: its own client's and forward's
            assertEquals(List.of(2500.0, 2500.0), bytesOf(exec, exec.address(0)), "exec over tcp");
            assertEquals(List.of(2000.0, 2000.0), bytesOf(exec, exec.address(1)), "exec over tls: plain text");
            assertEquals(List.of(700.0, 700.0), bytesOf(exec, exec.address(2)), "exec's datagram and its reply");
            assertEquals(List.of(3000.0, 3000.0), bytesOf(echo, echo.address(0)), "a service over tls: plain text");
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
