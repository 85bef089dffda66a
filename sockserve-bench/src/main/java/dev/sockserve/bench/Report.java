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
 * The results page: results.csv (one line per step), results.md (the targets of issue 11, a summary
 * against Netty epoll, a table per scenario with the median of the rounds and each figure's ratio to
 * the bar measured in the same round) and the charts.
 */
final class Report {
    static final String BAR = "netty-epoll";
    static final String EXEC_BAR = "tcpserver";
    static final String LIMIT = "c-epoll";
    static final String URING = "netty-iouring";
    static final String PRODUCT = "sockserve";
    /** Above this many cores, the generator may have set the pace: the row's throughput and p99 do not count. */
    static final double GENERATOR_BOUND = 0.8;

    final List<Driver.Row> rows;
    final List<Driver.Scenario> scenarios;
    final List<String> servers;
    final boolean pinned;
    final long warmupMs, measureMs;
    final Duration took;
    final String load;

    Report(List<Driver.Row> rows, List<Driver.Scenario> scenarios, List<String> servers, boolean pinned,
           long warmupMs, long measureMs, Duration took, String load) {
        this.load = load;
        this.pinned = pinned;
        this.rows = rows;
        this.scenarios = scenarios;
        this.servers = servers;
        this.warmupMs = warmupMs;
        this.measureMs = measureMs;
        this.took = took;
    }

    static String bar(Driver.Scenario s) {
        return s.group() == Driver.Group.EXEC ? EXEC_BAR : BAR;
    }

    /** The figure a scenario is judged by. */
    static String metric(String scenario) {
        if (scenario.endsWith("bulk")) return "mb_per_s";
        if (scenario.startsWith("idle")) return "kib_per_conn";
        if (scenario.endsWith("startup")) return "first_echo_ms";
        return "ops_per_s";
    }

    static boolean higherIsBetter(String key) {
        return key.equals("ops_per_s") || key.equals("mb_per_s");
    }

    static String unit(String scenario) {
        if (scenario.endsWith("bulk")) return "MB/s";
        if (scenario.startsWith("idle")) return "KiB/conn";
        if (scenario.endsWith("startup")) return "ms to first echo";
        if (scenario.endsWith("connect")) return "conn/s";
        return "rt/s";
    }

    /** The progress line's figures for one step. */
    static String describe(Driver.Row row) {
        if (row.error() != null) return "FAILED: " + row.error();
        var f = row.figures();
        if (row.scenario().startsWith("idle")) {
            return String.format(Locale.ROOT, "%.0f conns: %.2f KiB/conn, RSS %d -> %d MiB, threads %s -> %s", d(f, "connections"),
                    d(f, "kib_per_conn"), (long) d(f, "rss_before_kib") / 1024, (long) d(f, "rss_after_kib") / 1024,
                    f.get("threads_before"), f.get("threads_after"));
        }
        if (row.scenario().endsWith("startup")) {
            return String.format(Locale.ROOT, "first echo %.0f ms, idle RSS %.1f MiB, %s threads", d(f, "first_echo_ms"),
                    d(f, "rss_kib") / 1024, f.get("threads"));
        }
        String s = String.format(Locale.ROOT, "%,.0f %s, p50 %.0f p99 %.0f us", d(f, metric(row.scenario())), unit(row.scenario()),
                d(f, "p50_us"), d(f, "p99_us"));
        s += String.format(Locale.ROOT, ", cpu server %.2f (%.1f us/op) gen %.2f (%.1f us/op)", d(f, "server_cpu"),
                d(f, "server_us_per_op"), d(f, "gen_cpu"), d(f, "gen_us_per_op"));
        if (d(f, "errors") > 0) s += ", errors " + f.get("errors");
        if (d(f, "stalled") > 0) s += ", STALLED " + f.get("stalled") + " connections";
        if (d(f, "late") > 0) s += ", late " + f.get("late");
        return s;
    }

    static double d(Map<String, String> figures, String key) {
        String v = figures.get(key);
        if (v == null && key.equals("server_us_per_op")) { // the Java generator gives cores only
            return d(figures, "server_cpu") / d(figures, "ops_per_s") * 1e6;
        }
        if (v == null && key.equals("gen_us_per_op")) {
            return d(figures, "gen_cpu") / d(figures, "ops_per_s") * 1e6;
        }
        return v == null ? Double.NaN : Double.parseDouble(v);
    }

    // ---- medians and ratios ----

    List<Driver.Row> of(String scenario, String server) {
        return rows.stream().filter(r -> r.scenario().equals(scenario) && r.server().equals(server) && r.error() == null).toList();
    }

    /** Median over the rounds of one figure. */
    OptionalDouble median(String scenario, String server, String key) {
        return median(of(scenario, server).stream().map(r -> d(r.figures(), key)).filter(v -> !v.isNaN() && v >= 0).toList());
    }

    /** The largest figure of any round: a stall in one round is not averaged away. */
    OptionalDouble max(String scenario, String server, String key) {
        return of(scenario, server).stream().mapToDouble(r -> d(r.figures(), key)).filter(v -> !Double.isNaN(v)).max();
    }

    /** Median over the rounds of server / other, each pair measured in the same round. */
    OptionalDouble ratio(String scenario, String server, String other, String key) {
        var ratios = new ArrayList<Double>();
        for (Driver.Row r : of(scenario, server)) {
            for (Driver.Row bar : of(scenario, other)) {
                if (bar.round() == r.round()) {
                    double v = d(r.figures(), key) / d(bar.figures(), key);
                    if (!Double.isNaN(v) && !Double.isInfinite(v) && v >= 0) ratios.add(v);
                }
            }
        }
        return median(ratios);
    }

    OptionalDouble ratio(Driver.Scenario s, String server, String key) {
        return ratio(s.name(), server, bar(s), key);
    }

    /** Whether the generator ran above 0.8 of a core in a row (median of the rounds). */
    boolean generatorBound(String scenario, String server) {
        var g = median(scenario, server, "gen_cpu");
        return g.isPresent() && g.getAsDouble() > GENERATOR_BOUND;
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

    static boolean meets(double r, boolean higherIsBetter, double target) {
        return higherIsBetter ? r >= target : r <= target;
    }

    /** A ratio, bold when it meets the target, with † when the generator may have set the figure. */
    static String ratioCell(OptionalDouble v, boolean higherIsBetter, boolean generatorBound) {
        if (v.isEmpty()) return "n/a";
        double r = v.getAsDouble();
        return String.format(Locale.ROOT, meets(r, higherIsBetter, 1.0) ? "**%.2f**" : "%.2f", r) + (generatorBound ? " †" : "");
    }

    Driver.Scenario scenario(String name) {
        return scenarios.stream().filter(s -> s.name().equals(name)).findFirst().orElse(null);
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
                        + "Machine: %d cores, %s %s, Java %s, %s, %s.%n%n",
                ZonedDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm z")), rounds, rounds == 1 ? "" : "s",
                warmupMs, measureMs, took.toMinutes(), took.toSecondsPart(), Runtime.getRuntime().availableProcessors(),
                System.getProperty("os.name"), System.getProperty("os.version"), System.getProperty("java.version"),
                pinned ? "generator pinned to the last CPU, every server to the others (taskset)" : "processes not pinned to CPUs", load));
        md.append("`sockserve` is the shipped command as a user starts it (`./sockserve echo --listen tcp://127.0.0.1:PORT`, "
                + "its defaults); `sockserve-lib` is the library with the bench's own echo handler (a library row); "
                + "`sockserve-exec` is `./sockserve exec --listen ... -- cat` against `tcpserver -H -R -l0 ... cat`; "
                + "`c-epoll` is a minimal C epoll echo, the physical limit. The load generator is native (C, epoll, one "
                + "thread) but in `pingpong-64-java`, the Java generator's cross-check. Every figure is the median of the "
                + "rounds; a ratio is the median over the rounds of the ratio measured in the same round, to Netty epoll "
                + "(to tcpserver in the exec rows). Bold: meets 1.0 (at least for throughput, at most for latency, CPU and "
                + "memory). CPU is in cores over the measuring window; \"us/op\" is CPU time per round trip (per connection "
                + "in connect): the server's (its whole process tree, from /proc) and the generator's (getrusage). † marks a "
                + "row where the generator ran above " + GENERATOR_BOUND + " of a core: its throughput and p99 may be the "
                + "generator's, and the server's CPU per operation judges it. \"stalled\" (the most of any round) counts "
                + "connections with no round trip completed in the window; a request outstanding since before the window "
                + "enters the latency figures with its age.\n\n");
        targets(md);
        summary(md);
        generators(md);
        for (Driver.Scenario s : scenarios) scenarioTable(md, s);
        md.append("## Charts\n\n");
        for (String chart : Charts.FILES) md.append("![").append(chart).append("](").append(chart).append(")\n\n");
        return md.toString();
    }

    /** One line of the targets table. */
    private void target(StringBuilder md, String what, OptionalDouble value, boolean higherIsBetter, double target, String note) {
        String verdict = value.isEmpty() ? "not measured" : meets(value.getAsDouble(), higherIsBetter, target) ? "**met**" : "not met";
        if (!note.isEmpty() && value.isPresent()) verdict = note;
        md.append(String.format(Locale.ROOT, "| %s | %s %.2f | %s | %s |%n", what, higherIsBetter ? ">=" : "<=", target,
                num(value, "%.2f"), verdict));
    }

    void targets(StringBuilder md) {
        md.append("## The targets of issue 11 (the shipped command, `sockserve`)\n\n");
        md.append("| target | wanted | measured | verdict |\n|---|---|---|---|\n");
        for (String name : List.of("pingpong-1", "pingpong-64", "pingpong-1000", "pingpong-10000", "bulk")) {
            Driver.Scenario s = scenario(name);
            if (s == null) continue;
            target(md, name + ": server CPU/op x epoll", ratio(s, PRODUCT, "server_us_per_op"), false, 1.0, "");
        }
        for (String name : List.of("pingpong-1", "pingpong-64", "pingpong-1000", "pingpong-10000", "bulk", "connect", "udp")) {
            Driver.Scenario s = scenario(name);
            if (s == null) continue;
            boolean bound = generatorBound(name, PRODUCT) || generatorBound(name, BAR);
            String note = bound ? "not counted: generator above " + GENERATOR_BOUND + " core" : "";
            target(md, name + ": " + unit(name) + " x epoll", ratio(s, PRODUCT, metric(name)), true, 1.0, note);
            target(md, name + ": p99 x epoll", ratio(s, PRODUCT, "p99_us"), false, 1.0, note);
        }
        for (String name : List.of("idle", "idle-max")) {
            Driver.Scenario s = scenario(name);
            if (s == null) continue;
            target(md, String.format(Locale.ROOT, "%s (%,d connections): KiB/conn x epoll", name, s.connections()), ratio(s, PRODUCT, "kib_per_conn"), false, 1.0, "");
        }
        if (scenario("idle-max") != null && Driver.IDLE_MAX < 100_000) {
            md.append("| idle at 100,000 connections | <= 1.00 | | not measured: the descriptor limit here allows ")
                    .append(String.format(Locale.ROOT, "%,d", Driver.IDLE_MAX + 500)).append(" per process |\n");
        }
        Driver.Scenario paced = scenario("paced");
        if (paced != null) {
            target(md, "paced: server CPU/op x epoll", ratio(paced, PRODUCT, "server_us_per_op"), false, 1.0, "");
            target(md, "paced: p99 x epoll", ratio(paced, PRODUCT, "p99_us"), false, 1.0, "");
        }
        for (String name : List.of("pingpong-64", "pingpong-1000", "bulk")) {
            if (scenario(name) == null) continue;
            target(md, name + ": " + unit(name) + " x the C limit", ratio(name, PRODUCT, LIMIT, metric(name)), true, 0.8, "");
        }
        for (String name : List.of("exec-connect", "exec-pingpong", "exec-bulk")) {
            Driver.Scenario s = scenario(name);
            if (s == null) continue;
            target(md, name + ": sockserve-exec x tcpserver", ratio(s, "sockserve-exec", metric(name)), true, 1.0, "");
        }
        if (scenario("startup") != null) {
            target(md, "start-up: ms to first echo (absolute)", median("startup", PRODUCT, "first_echo_ms"), false, 150, "");
            target(md, "start-up: idle RSS MiB (absolute)",
                    median("startup", PRODUCT, "rss_kib").stream().map(v -> v / 1024).findFirst(), false, 40, "");
        }
        md.append('\n');
        md.append("Against Netty io_uring (the ratio the issue asks to report; below 1.0, see RESULTS.md for what it would take):\n\n");
        md.append("| scenario | figure | sockserve x io_uring | io_uring x epoll |\n|---|---|---|---|\n");
        for (Driver.Scenario s : scenarios) {
            if (s.group() == Driver.Group.EXEC || s.startup() || s.generator().equals("java")) continue;
            String m = s.name().equals("paced") ? "server_us_per_op" : metric(s.name());
            md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s |%n", s.name(), s.name().equals("paced") ? "server CPU/op" : unit(s.name()),
                    ratioCell(ratio(s.name(), PRODUCT, URING, m), higherIsBetter(m), false),
                    num(ratio(s.name(), URING, BAR, m), "%.2f")));
        }
        md.append('\n');
    }

    void summary(StringBuilder md) {
        md.append("## Against Netty epoll\n\n");
        var others = servers.stream().filter(s -> !s.equals(BAR) && !Driver.EXEC_KINDS.contains(s)).toList();
        md.append("| scenario | figure | ").append(String.join(" | ", others)).append(" |\n");
        md.append("|---|---|").append("---|".repeat(others.size())).append('\n');
        for (Driver.Scenario s : scenarios) {
            if (s.group() == Driver.Group.EXEC) continue;
            List<String[]> figures = new ArrayList<>();
            String m = metric(s.name());
            figures.add(new String[] {m, unit(s.name())});
            if (!s.idle() && !s.startup()) {
                figures.add(new String[] {"p99_us", "p99"});
                figures.add(new String[] {"server_us_per_op", "server CPU/op"});
            }
            if (s.startup()) figures.add(new String[] {"rss_kib", "idle RSS"});
            for (String[] f : figures) {
                md.append("| ").append(s.name()).append(" | ").append(f[1]).append(" |");
                for (String server : others) {
                    boolean counts = f[0].equals("server_us_per_op") || s.idle() || s.startup();
                    boolean bound = !counts && (generatorBound(s.name(), server) || generatorBound(s.name(), BAR));
                    md.append(' ').append(Driver.runs(server, s) ? ratioCell(ratio(s, server, f[0]), higherIsBetter(f[0]), bound) : "-")
                            .append(" |");
                }
                md.append('\n');
            }
        }
        md.append('\n');
    }

    /** The cross-check: pingpong-64 from the native generator and from the Java one, server by server. */
    void generators(StringBuilder md) {
        if (scenario("pingpong-64") == null || scenario("pingpong-64-java") == null) return;
        md.append("## The two generators (pingpong-64)\n\n");
        md.append("| server | rt/s, C | rt/s, Java | generator us/op, C | generator us/op, Java | generator CPU, C | generator CPU, Java "
                + "| server us/op, C | server us/op, Java |\n|---|---|---|---|---|---|---|---|---|\n");
        for (String server : servers) {
            if (!Driver.runs(server, scenario("pingpong-64"))) continue;
            md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", server,
                    num(median("pingpong-64", server, "ops_per_s"), "%,.0f"), num(median("pingpong-64-java", server, "ops_per_s"), "%,.0f"),
                    num(median("pingpong-64", server, "gen_us_per_op"), "%.1f"), num(median("pingpong-64-java", server, "gen_us_per_op"), "%.1f"),
                    num(median("pingpong-64", server, "gen_cpu"), "%.2f"), num(median("pingpong-64-java", server, "gen_cpu"), "%.2f"),
                    num(median("pingpong-64", server, "server_us_per_op"), "%.1f"), num(median("pingpong-64-java", server, "server_us_per_op"), "%.1f")));
        }
        md.append('\n');
    }

    void scenarioTable(StringBuilder md, Driver.Scenario s) {
        md.append("## ").append(s.name()).append("\n\n");
        String b = bar(s);
        if (s.idle()) {
            md.append(String.format(Locale.ROOT, "%,d connections held open after one round trip each (from 127.0.0.1 to 127.0.0.8): the "
                    + "server's resident memory growth per connection (/proc/PID/status VmRSS, after minus before) and its thread count.%n%n",
                    s.connections()));
            md.append("| server | KiB/conn | x epoll | RSS before MiB | RSS after MiB | threads before | threads after |\n|---|---|---|---|---|---|---|\n");
            for (String server : servers) {
                if (!Driver.runs(server, s)) continue;
                md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s |%n", server,
                        num(median(s.name(), server, "kib_per_conn"), "%.2f"), ratioCell(ratio(s, server, "kib_per_conn"), false, false),
                        num(median(s.name(), server, "rss_before_kib").stream().map(v -> v / 1024).findFirst(), "%.0f"),
                        num(median(s.name(), server, "rss_after_kib").stream().map(v -> v / 1024).findFirst(), "%.0f"),
                        num(median(s.name(), server, "threads_before"), "%.0f"), num(median(s.name(), server, "threads_after"), "%.0f")));
            }
        } else if (s.startup()) {
            md.append("From the process's start to the first echo the driver got back (a fresh connection each try), then, after "
                    + "one idle second, the resident memory and threads of the server's process tree (\"anonymous\": RssAnon, "
                    + "without the mapped files such as libjvm.so and the CDS or AOT archive, which JVMs share).\n\n");
            md.append("| server | ms to first echo | x ").append(b).append(" | idle RSS MiB | of which anonymous MiB | threads |\n|---|---|---|---|---|---|\n");
            for (String server : servers) {
                if (!Driver.runs(server, s)) continue;
                md.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s |%n", server, num(median(s.name(), server, "first_echo_ms"), "%.0f"),
                        ratioCell(ratio(s, server, "first_echo_ms"), false, false),
                        num(median(s.name(), server, "rss_kib").stream().map(v -> v / 1024).findFirst(), "%.1f"),
                        num(median(s.name(), server, "rss_anon_kib").stream().map(v -> v / 1024).findFirst(), "%.1f"),
                        num(median(s.name(), server, "threads"), "%.0f")));
            }
        } else {
            String m = metric(s.name());
            boolean limit = s.group() == Driver.Group.ECHO && servers.contains(LIMIT);
            md.append("| server | ").append(unit(s.name())).append(" | x ").append(b).append(limit ? " | x C limit" : "")
                    .append(" | p50 us | p99 us | p99 x ").append(b).append(" | p99.9 us | server CPU | server us/op | CPU/op x ").append(b)
                    .append(" | generator CPU | generator us/op | errors | stalled |\n");
            md.append("|---|---|---|").append(limit ? "---|" : "").append("---|---|---|---|---|---|---|---|---|---|---|\n");
            for (String server : servers) {
                if (!Driver.runs(server, s)) continue;
                boolean bound = generatorBound(s.name(), server);
                md.append(String.format(Locale.ROOT, "| %s | %s%s | %s |%s %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", server,
                        num(median(s.name(), server, m), "%,.0f"), bound ? " †" : "", ratioCell(ratio(s, server, m), true, false),
                        limit ? " " + num(ratio(s.name(), server, LIMIT, m), "%.2f") + " |" : "",
                        num(median(s.name(), server, "p50_us"), "%.0f"), num(median(s.name(), server, "p99_us"), "%.0f") + (bound ? " †" : ""),
                        ratioCell(ratio(s, server, "p99_us"), false, false), num(median(s.name(), server, "p999_us"), "%.0f"),
                        num(median(s.name(), server, "server_cpu"), "%.2f"), num(median(s.name(), server, "server_us_per_op"), "%.1f"),
                        ratioCell(ratio(s, server, "server_us_per_op"), false, false),
                        num(median(s.name(), server, "gen_cpu"), "%.2f"), num(median(s.name(), server, "gen_us_per_op"), "%.1f"),
                        num(median(s.name(), server, "errors"), "%.0f"), num(max(s.name(), server, "stalled"), "%.0f")));
            }
        }
        var failed = rows.stream().filter(r -> r.scenario().equals(s.name()) && r.error() != null).toList();
        for (Driver.Row r : failed) md.append("\nFailed: ").append(r.server()).append(" round ").append(r.round()).append(": ").append(r.error()).append('\n');
        md.append('\n');
    }
}
