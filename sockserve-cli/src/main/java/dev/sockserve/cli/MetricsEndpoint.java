package dev.sockserve.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.sockserve.BaseServer;
import dev.sockserve.ServerMetrics;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.ToLongFunction;

/**
 * {@code --metrics tcp://HOST:PORT}: the listeners' counters in Prometheus' text exposition format
 * (version 0.0.4) at {@code /metrics}, each labelled {@code listener="tcp://127.0.0.1:7007"}, plus the
 * process's open descriptors, heap and live threads. The JDK's own HTTP server, on one virtual thread per
 * scrape.
 */
final class MetricsEndpoint implements AutoCloseable {

    static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final HttpServer http;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final List<BaseServer<?>> servers;
    private final List<String> names;
    private final List<Operations.Refusals> refusals;

    MetricsEndpoint(ListenAddress where, List<BaseServer<?>> servers, List<String> names,
            List<Operations.Refusals> refusals) throws IOException {
        this.servers = List.copyOf(servers);
        this.names = List.copyOf(names);
        this.refusals = List.copyOf(refusals);
        http = HttpServer.create((InetSocketAddress) where.address(), 16);
        http.setExecutor(executor);
        http.createContext("/metrics", this::scrape);
        http.start();
    }

    String address() {
        InetSocketAddress a = http.getAddress();
        String host = a.getAddress().getHostAddress();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }

    private void scrape(HttpExchange exchange) throws IOException {
        try (exchange) {
            if (!exchange.getRequestURI().getPath().equals("/metrics")) {
                exchange.sendResponseHeaders(404, -1);
                return;
            }
            boolean head = exchange.getRequestMethod().equals("HEAD");
            if (!head && !exchange.getRequestMethod().equals("GET")) {
                exchange.getResponseHeaders().set("Allow", "GET, HEAD");
                exchange.sendResponseHeaders(405, -1);
                return;
            }
            byte[] body = text().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", CONTENT_TYPE);
            exchange.sendResponseHeaders(200, head ? -1 : body.length);
            if (!head) {
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
        }
    }

    /** The exposition: one family after another, each with its HELP and TYPE lines. */
    String text() {
        StringBuilder out = new StringBuilder();
        perListener(out, "sockserve_connections_accepted_total", "counter",
                "Connections accepted and datagrams received.", ServerMetrics::getAccepted);
        perListener(out, "sockserve_connections_active", "gauge", "Requests accepted and not yet ended.",
                m -> m.getActiveRequests());
        family(out, "sockserve_connections_refused_total", "counter",
                "Requests refused, by reason: rules, per-client-limit, rate, loop-guard, tls, proxy, verify, other.");
        for (int i = 0; i < servers.size(); i++) {
            Map<String, Long> byReason = new TreeMap<>();
            refusals.get(i).byReason.forEach((reason, count) -> byReason.put(reason, count.sum()));
            for (Map.Entry<String, Long> e : byReason.entrySet()) {
                out.append("sockserve_connections_refused_total{listener=\"").append(label(names.get(i)))
                        .append("\",reason=\"").append(label(e.getKey())).append("\"} ").append(e.getValue()).append('\n');
            }
        }
        perListener(out, "sockserve_handler_errors_total", "counter", "Requests whose handler failed.",
                ServerMetrics::getErrors);
        perListener(out, "sockserve_bytes_received_total", "counter",
                "Bytes the handlers read from their clients (exec's programs read the socket themselves: not counted).",
                ServerMetrics::getBytesReceived);
        perListener(out, "sockserve_bytes_sent_total", "counter",
                "Bytes the handlers wrote to their clients (exec's programs: not counted).", ServerMetrics::getBytesSent);
        perListener(out, "sockserve_datagrams_truncated_total", "counter",
                "Datagrams longer than --max-packet-size.", ServerMetrics::getTruncatedDatagrams);
        perListener(out, "sockserve_accept_pauses_total", "counter",
                "Times accepting paused: --max-rate reached, or no descriptor left.", ServerMetrics::getAcceptPauses);
        family(out, "process_open_fds", "gauge", "Open file descriptors.");
        out.append("process_open_fds ").append(openDescriptors()).append('\n');
        family(out, "jvm_memory_heap_used_bytes", "gauge", "Heap in use.");
        out.append("jvm_memory_heap_used_bytes ")
                .append(ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed()).append('\n');
        family(out, "jvm_threads_live", "gauge", "Live platform threads.");
        out.append("jvm_threads_live ").append(ManagementFactory.getThreadMXBean().getThreadCount()).append('\n');
        return out.toString();
    }

    private void perListener(StringBuilder out, String name, String type, String help, ToLongFunction<ServerMetrics> value) {
        family(out, name, type, help);
        for (int i = 0; i < servers.size(); i++) {
            out.append(name).append("{listener=\"").append(label(names.get(i))).append("\"} ")
                    .append(value.applyAsLong(servers.get(i).metrics())).append('\n');
        }
    }

    private static void family(StringBuilder out, String name, String type, String help) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    /** A label value as the format wants it: backslash, double quote and newline escaped. */
    static String label(String value) {
        return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    private static long openDescriptors() {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count() - 1; // the directory stream's own descriptor
        } catch (IOException e) {
            return -1;
        }
    }

    @Override
    public void close() {
        http.stop(0);
        executor.close();
    }
}
