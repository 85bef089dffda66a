package dev.sockserve.bench;

import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.CombinedDomainCategoryPlot;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.util.List;

/** The PNG charts of the results page, drawn with JFreeChart (headless). */
final class Charts {
    static final List<String> FILES = List.of("throughput.png", "latency.png", "idle-memory.png", "ratios.png");

    /** One colour per server, the same in every chart (in the order of {@link Driver#ALL_KINDS}). */
    static final Color[] SERVER_COLOURS = {new Color(0xD62728), new Color(0xFF7F0E), new Color(0x7F7F7F), new Color(0x1F77B4),
            new Color(0xFF9896), new Color(0x2CA02C), new Color(0x17BECF), new Color(0x9467BD), new Color(0x8C564B),
            new Color(0xE377C2), new Color(0xBCBD22), new Color(0xAEC7E8), new Color(0x98DF8A), new Color(0xC5B0D5)};
    static final Color[] PERCENTILE_COLOURS = {new Color(0x6BAED6), new Color(0x2171B5), new Color(0x08306B)};

    final Report report;

    Charts(Report report) {
        this.report = report;
    }

    void write(Path dir) throws IOException {
        System.setProperty("java.awt.headless", "true");
        ChartUtils.saveChartAsPNG(dir.resolve("throughput.png").toFile(), throughput(), 900, 560);
        ChartUtils.saveChartAsPNG(dir.resolve("latency.png").toFile(), latency(), 900, 1100);
        ChartUtils.saveChartAsPNG(dir.resolve("idle-memory.png").toFile(), idleMemory(), 900, 500);
        ChartUtils.saveChartAsPNG(dir.resolve("ratios.png").toFile(), ratios(), 1000, 560);
    }

    List<Driver.Scenario> pingpongs() {
        return report.scenarios.stream().filter(s -> s.name().startsWith("pingpong") && s.generator().equals("c")).toList();
    }

    /** Round trips per second against the number of connections, one line per server. */
    JFreeChart throughput() {
        var data = new XYSeriesCollection();
        var renderer = new XYLineAndShapeRenderer(true, true);
        for (String server : report.servers) {
            var series = new XYSeries(server);
            for (Driver.Scenario s : pingpongs()) {
                report.median(s.name(), server, "ops_per_s").ifPresent(v -> series.add(s.connections(), v));
            }
            if (series.getItemCount() == 0) continue; // a udp-only server
            renderer.setSeriesStroke(data.getSeriesCount(), new BasicStroke(2f));
            renderer.setSeriesPaint(data.getSeriesCount(), colour(server));
            data.addSeries(series);
        }
        var x = logAxis("connections (log)");
        var y = new NumberAxis("round trips per second (64-byte pingpong)");
        var plot = new XYPlot(data, x, y, renderer);
        return styled(new JFreeChart("Throughput against connections", JFreeChart.DEFAULT_TITLE_FONT, plot, true));
    }

    /** p50, p99 and p99.9 per server, one panel per pingpong scenario, log scale. */
    JFreeChart latency() {
        var combined = new CombinedDomainCategoryPlot(new CategoryAxis("server"));
        CategoryPlot first = null;
        for (Driver.Scenario s : pingpongs()) {
            var data = new DefaultCategoryDataset();
            for (String server : report.servers) {
                report.median(s.name(), server, "p50_us").ifPresent(v -> data.addValue(v, "p50", server));
                report.median(s.name(), server, "p99_us").ifPresent(v -> data.addValue(v, "p99", server));
                report.median(s.name(), server, "p999_us").ifPresent(v -> data.addValue(v, "p99.9", server));
            }
            var renderer = bars();
            for (int i = 0; i < PERCENTILE_COLOURS.length; i++) renderer.setSeriesPaint(i, PERCENTILE_COLOURS[i]);
            var plot = new CategoryPlot(data, null, logAxis(s.name() + " (us)"), renderer);
            combined.add(plot, 1);
            if (first == null) first = plot;
        }
        if (first != null) combined.setFixedLegendItems(first.getLegendItems()); // p50, p99, p99.9 once, not per panel
        combined.getDomainAxis().setCategoryLabelPositions(CategoryLabelPositions.UP_45);
        return styled(new JFreeChart("Latency percentiles (lower is better)", JFreeChart.DEFAULT_TITLE_FONT, combined, true));
    }

    /** Resident memory per idle connection at 10,000 connections. */
    JFreeChart idleMemory() {
        var data = new DefaultCategoryDataset();
        for (String server : report.servers) {
            report.median("idle", server, "kib_per_conn").ifPresent(v -> data.addValue(v, "10,000 connections", server));
            report.median("idle-max", server, "kib_per_conn").ifPresent(v -> data.addValue(v, String.format(java.util.Locale.ROOT, "%,d connections", Driver.IDLE_MAX), server));
        }
        var plot = new CategoryPlot(data, new CategoryAxis("server"), new NumberAxis("KiB of RSS per connection"), bars());
        plot.getDomainAxis().setCategoryLabelPositions(CategoryLabelPositions.UP_45);
        return styled(new JFreeChart("Memory per idle connection (lower is better)", JFreeChart.DEFAULT_TITLE_FONT, plot, true));
    }

    /** Each server's figure as a ratio to Netty epoll in the same round; the line at 1.0 is the target. */
    JFreeChart ratios() {
        var data = new DefaultCategoryDataset();
        for (String server : report.servers) {
            if (server.equals(Report.BAR)) continue;
            for (Driver.Scenario s : report.scenarios) {
                // lower is better in idle and start-up (their own tables), paced is judged by CPU and p99, exec by tcpserver
                if (s.idle() || s.startup() || s.name().equals("paced") || s.group() != Driver.Group.ECHO) continue;
                if (!Driver.runs(server, s)) continue;
                report.ratio(s, server, Report.metric(s.name())).ifPresent(v -> data.addValue(v, server, s.name()));
            }
        }
        var renderer = bars();
        for (int i = 0; i < data.getRowCount(); i++) renderer.setSeriesPaint(i, colour((String) data.getRowKey(i)));
        var plot = new CategoryPlot(data, new CategoryAxis("scenario"), new NumberAxis("ratio to Netty epoll (higher is better)"), renderer);
        plot.addRangeMarker(new ValueMarker(1.0, Color.RED, new BasicStroke(2f)));
        plot.getDomainAxis().setCategoryLabelPositions(CategoryLabelPositions.UP_45);
        return styled(new JFreeChart("Throughput ratio to Netty epoll, same run", JFreeChart.DEFAULT_TITLE_FONT, plot, true));
    }

    static Color colour(String server) {
        int i = Driver.ALL_KINDS.indexOf(server);
        return SERVER_COLOURS[Math.max(i, 0) % SERVER_COLOURS.length];
    }

    /** A base-10 log axis with ticks at the powers of ten, labelled as plain numbers. */
    static LogAxis logAxis(String label) {
        var axis = new LogAxis(label);
        axis.setBase(10);
        axis.setSmallestValue(1);
        axis.setStandardTickUnits(NumberAxis.createIntegerTickUnits()); // whole powers of ten
        axis.setNumberFormatOverride(new DecimalFormat("#,##0"));
        axis.setMinorTickMarksVisible(true);
        return axis;
    }

    static BarRenderer bars() {
        var r = new BarRenderer();
        r.setBarPainter(new StandardBarPainter());
        r.setShadowVisible(false);
        r.setItemMargin(0.02);
        return r;
    }

    static JFreeChart styled(JFreeChart chart) {
        chart.setBackgroundPaint(Color.WHITE);
        if (chart.getPlot() instanceof CategoryPlot p) p.setBackgroundPaint(new Color(0xF4F4F4));
        if (chart.getPlot() instanceof XYPlot p) p.setBackgroundPaint(new Color(0xF4F4F4));
        return chart;
    }
}
