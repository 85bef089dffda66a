package dev.sockserve.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;

/**
 * The results page: results.csv (one line per step), results.md (a table per scenario with the
 * median of the rounds and each figure's ratio to Netty epoll in the same round) and the charts.
 */
final class Report {
    static final String BAR = "netty-epoll";

    final List<Driver.Row> rows;
    final List<Driver.Scenario> scenarios;
    final List<String> servers;
    final int genThreads;
    final boolean pinned;
    final long warmupMs, measureMs;
    final Duration took;

    Report(List<Driver.Row> rows, List<Driver.Scenario> scenarios, List<String> servers, int genThreads, boolean pinned,
           long warmupMs, long measureMs, Duration took) {
        this.pinned = pinned;
        this.rows = rows;
        this.scenarios = scenarios;
        this.servers = servers;
        this.genThreads = genThreads;
        this.warmupMs = warmupMs;
        this.measureMs = measureMs;
        this.took = took;
    }

    /** The figure a scenario is judged by, and whether higher is better. */
    static String metric(String scenario) {
        return switch (scenario) {
            case "bulk" -> "mb_per_s";
            case "idle" -> "kib_per_conn";
            default -> "ops_per_s";
        };
    }

    static String unit(String scenario) {
        return switch (scenario) {
            case "bulk" -> "MB/s";
            case "idle" -> "KiB/conn";
            case "connect" -> "conn/s";
            default -> "rt/s";
        };
    }

    static boolean hasLatency(String scenario) {
        return scenario.startsWith("pingpong") || scenario.equals("connect") || scenario.equals("udp");
    }

    /** The progress line's figures for one step. */
    static String describe(Driver.Row row) {
        if (row.error() != null) return "FAILED: " + row.error();
        var f = row.figures();
        if (row.scenario().equals("idle")) {
            return String.format(Locale.ROOT, "%.1f KiB/conn, RSS %d -> %d MiB, threads %s -> %s", d(f, "kib_per_conn"),
                    (long) d(f, "rss_before_kib") / 1024, (long) d(f, "rss_after_kib") / 1024, f.get("threads_before"), f.get("threads_after"));
        }
        String s = String.format(Locale.ROOT, "%,.0f %s", d(f, metric(row.scenario())), unit(row.scenario()));
        if (hasLatency(row.scenario())) s += String.format(Locale.ROOT, ", p50 %.0f p99 %.0f p99.9 %.0f us", d(f, "p50_us"), d(f, "p99_us"), d(f, "p999_us"));
        s += String.format(Locale.ROOT, ", cpu server %.2f gen %.2f", d(f, "server_cpu"), d(f, "gen_cpu"));
        if (d(f, "errors") > 0) s += ", errors " + f.get("errors");
        if (d(f, "stalled") > 0) s += ", STALLED " + f.get("stalled") + " connections";
        return s;
    }

    static double d(Map<String, String> figures, String key) {
        if (key.equals("server_us_per_op")) { // derived: the server's CPU time per round trip (or connection)
            return d(figures, "server_cpu") / d(figures, "ops_per_s") * 1e6;
        }
        String v = figures.get(key);
        return v == null ? Double.NaN : Double.parseDouble(v);
    }

    // ---- medians and ratios ----

    List<Driver.Row> of(String scenario, String server) {
        return rows.stream().filter(r -> r.scenario().equals(scenario) && r.server().equals(server) && r.error() == null).toList();
    }

    /** Median over the rounds of one figure. */
    OptionalDouble median(String scenario, String server, String key) {
        return median(of(scenario, server).stream().map(r -> d(r.figures(), key)).filter(v -> !v.isNaN()).toList());
    }

    /** The largest figure of any round: a stall in one round is not averaged away. */
    OptionalDouble max(String scenario, String server, String key) {
        return of(scenario, server).stream().mapToDouble(r -> d(r.figures(), key)).filter(v -> !Double.isNaN(v)).max();
    }

    /** Median over the rounds of server / netty-epoll, each pair measured in the same round. */
    OptionalDouble ratio(String scenario, String server, String key) {
        var ratios = new ArrayList<Double>();
        for (Driver.Row r : of(scenario, server)) {
            for (Driver.Row bar : of(scenario, BAR)) {
                if (bar.round() == r.round()) {
                    double v = d(r.figures(), key) / d(bar.figures(), key);
                    if (!Double.isNaN(v) && !Double.isInfinite(v)) ratios.add(v);
                }
            }
        }
        return median(ratios);
    }

    static OptionalDouble median(List<Double> values) {
        if (values.isEmpty()) return OptionalDouble.empty();
        var sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int n = sorted.size();
        return OptionalDouble.of(n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2);
    }

    static String num(OptionalDouble v, String format) {
        return v.isPresent() ? String.format(Locale.ROOT, format, v.getAsDouble()) : "n/a";
    }

    static String ratioCell(OptionalDouble v, boolean higherIsBetter) {
        if (v.isEmpty()) return "n/a";
        double r = v.getAsDouble();
        boolean meets = higherIsBetter ? r >= 1.0 : r <= 1.0;
        return String.format(Locale.ROOT, meets ? "**%.2f**" : "%.2f", r);
    }

    // ---- writing ----

    void write(Path dir) throws IOException {
        Files.createDirectories(dir);
        writeCsv(dir.resolve("results.csv"));
        new Charts(this).write(dir);
        Files.writeString(dir.resolve("results.md"), markdown());
    }

    void writeCsv(Path file) throws IOException {
        Set<String> keys = new LinkedHashSet<>();
        rows.forEach(r -> keys.addAll(r.figures().keySet()));
        var sb = new StringBuilder("round,scenario,server," + String.join(",", keys) + ",error\n");
        for (Driver.Row r : rows) {
            sb.append(r.round()).append(',').append(r.scenario()).append(',').append(r.server());
            for (String k : keys) sb.append(',').append(r.figures().getOrDefault(k, ""));
            sb.append(',').append(r.error() == null ? "" : '"' + r.error().replace('"', '\'') + '"').append('\n');
        }
        Files.writeString(file, sb);
    }

    String markdown() {
        int rounds = rows.stream().mapToInt(Driver.Row::round).max().orElse(0);
        var md = new StringBuilder();
        md.append("# sockserve benchmark results\n\n");
        md.append(String.format(Locale.ROOT, "Run of %s, %d round%s, warm-up %d ms and measure %d ms per step, took %d:%02d. "
                        + "Machine: %d cores, %s %s, Java %s, load generator with %d selector thread%s, %s.%n%n",
                ZonedDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm z")), rounds, rounds == 1 ? "" : "s",
                warmupMs, measureMs, took.toMinutes(), took.toSecondsPart(), Runtime.getRuntime().availableProcessors(),
                System.getProperty("os.name"), System.getProperty("os.version"), System.getProperty("java.version"),
                genThreads, genThreads == 1 ? "" : "s",
                pinned ? "pinned to the last CPU, every server to the others (taskset)" : "processes not pinned to CPUs"));
        md.append("Every figure is the median of the rounds; \"x epoll\" is the median over the rounds of the ratio to Netty epoll "
                + "measured in the same round (the figures that count on this noisy 2-core machine). Bold: meets the target "
                + "(at least 1.0 for throughput, at most 1.0 for p99 latency and memory). CPU is in cores used during the "
                + "measuring window, server and load generator; \"server CPU us/op\" is the server's CPU time per round trip "
                + "(per connection in connect), which the other processes on the machine disturb less than throughput. \"stalled\" "
                + "(the most of any round) counts connections that completed no round trip in the measuring window: a server "
                + "that starves some connections must not look fast, so a request outstanding since before the window also "
                + "enters the latency figures with its age. All servers are echo servers on loopback, each its own process, "
                + "a fresh process for every step.\n\n");

        md.append("## Against Netty epoll\n\n");
        var others = servers.stream().filter(s -> !s.equals(BAR)).toList();
        md.append("| scenario | figure | ").append(String.join(" | ", others)).append(" |\n");
        md.append("|---|---|").append("---|".repeat(others.size())).append('\n');
        for (Driver.Scenario s : scenarios) {
            boolean higher = !s.name().equals("idle");
            md.append("| ").append(s.name()).append(" | ").append(unit(s.name())).append(" |");
            for (String server : others) {
                md.append(' ').append(Peers.runs(server, s.udp()) ? ratioCell(ratio(s.name(), server, metric(s.name())), higher) : "-").append(" |");
            }
            md.append('\n');
            if (s.name().startsWith("pingpong")) {
                md.append("| ").append(s.name()).append(" | p99 |");
                for (String server : others) {
                    md.append(' ').append(Peers.runs(server, s.udp()) ? ratioCell(ratio(s.name(), server, "p99_us"), false) : "-").append(" |");
                }
                md.append('\n');
            }
        }
        md.append('\n');

        md.append("## The load generator's ceiling\n\n");
        md.append("The best figure any server reached in each scenario, and how busy the generator was meanwhile: near ")
                .append(genThreads).append(" core").append(genThreads == 1 ? "" : "s")
                .append(" busy would mean the generator, not the server, set the pace.\n\n");
        md.append("| scenario | fastest server | figure | generator CPU (cores) | server CPU (cores) |\n|---|---|---|---|---|\n");
        for (Driver.Scenario s : scenarios) {
            if (s.name().equals("idle")) continue;
            String best = null;
            double bestValue = -1;
            for (String server : servers) {
                var v = median(s.name(), server, metric(s.name()));
                if (v.isPresent() && v.getAsDouble() > bestValue) { bestValue = v.getAsDouble(); best = server; }
            }
            if (best == null) continue;
            md.append(String.format(Locale.ROOT, "| %s | %s | %,.0f %s | %s | %s |%n", s.name(), best, bestValue, unit(s.name()),
                    num(median(s.name(), best, "gen_cpu"), "%.2f"), num(median(s.name(), best, "server_cpu"), "%.2f")));
        }
        md.append('\n');

        for (Driver.Scenario s : scenarios) {
            md.append("## ").append(s.name()).append("\n\n");
            if (s.name().equals("idle")) {
                md.append("10,000 connections held open after one round trip each: the server's resident memory growth per connection "
                        + "(/proc/PID/status VmRSS, after minus before) and its thread count.\n\n");
                md.append("| server | KiB/conn | x epoll | RSS before MiB | RSS after MiB | threads before | threads after |\n|---|---|---|---|---|---|---|\n");
                for (String server : servers) {
                    if (!Peers.runs(server, s.udp())) continue;
                    md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s |%n", server,
                            num(median(s.name(), server, "kib_per_conn"), "%.1f"), ratioCell(ratio(s.name(), server, "kib_per_conn"), false),
                            num(median(s.name(), server, "rss_before_kib").stream().map(v -> v / 1024).findFirst(), "%.0f"),
                            num(median(s.name(), server, "rss_after_kib").stream().map(v -> v / 1024).findFirst(), "%.0f"),
                            num(median(s.name(), server, "threads_before"), "%.0f"), num(median(s.name(), server, "threads_after"), "%.0f")));
                }
            } else {
                String m = metric(s.name());
                md.append("| server | ").append(unit(s.name())).append(" | x epoll | p50 us | p99 us | p99 x epoll | p99.9 us | server CPU | server CPU us/op | generator CPU | errors | stalled |\n");
                md.append("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
                for (String server : servers) {
                    if (!Peers.runs(server, s.udp())) continue;
                    md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", server,
                            num(median(s.name(), server, m), "%,.0f"), ratioCell(ratio(s.name(), server, m), true),
                            num(median(s.name(), server, "p50_us"), "%.0f"), num(median(s.name(), server, "p99_us"), "%.0f"),
                            ratioCell(ratio(s.name(), server, "p99_us"), false), num(median(s.name(), server, "p999_us"), "%.0f"),
                            num(median(s.name(), server, "server_cpu"), "%.2f"), num(median(s.name(), server, "server_us_per_op"), "%.1f"),
                            num(median(s.name(), server, "gen_cpu"), "%.2f"),
                            num(median(s.name(), server, "errors"), "%.0f"), num(max(s.name(), server, "stalled"), "%.0f")));
                }
            }
            var failed = rows.stream().filter(r -> r.scenario().equals(s.name()) && r.error() != null).toList();
            for (Driver.Row r : failed) md.append("\nFailed: ").append(r.server()).append(" round ").append(r.round()).append(": ").append(r.error()).append('\n');
            md.append('\n');
        }

        md.append("## Charts\n\n");
        for (String chart : Charts.FILES) md.append("![").append(chart).append("](").append(chart).append(")\n\n");
        return md.toString();
    }
}
