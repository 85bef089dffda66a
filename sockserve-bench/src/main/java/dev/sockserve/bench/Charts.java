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
import java.util.List;

/** The PNG charts of the results page, drawn with JFreeChart (headless). */
final class Charts {
    static final List<String> FILES = List.of("throughput.png", "latency.png", "idle-memory.png", "ratios.png");

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
        return report.scenarios.stream().filter(s -> s.name().startsWith("pingpong")).toList();
    }

    /** Round trips per second against the number of connections, one line per server. */
    JFreeChart throughput() {
        var data = new XYSeriesCollection();
        for (String server : report.servers) {
            var series = new XYSeries(server);
            for (Driver.Scenario s : pingpongs()) {
                report.median(s.name(), server, "ops_per_s").ifPresent(v -> series.add(s.connections(), v));
            }
            data.addSeries(series);
        }
        var x = new LogAxis("connections (log)");
        x.setBase(10);
        x.setSmallestValue(1);
        var y = new NumberAxis("round trips per second (64-byte pingpong)");
        var renderer = new XYLineAndShapeRenderer(true, true);
        for (int i = 0; i < report.servers.size(); i++) renderer.setSeriesStroke(i, new BasicStroke(2f));
        var plot = new XYPlot(data, x, y, renderer);
        return styled(new JFreeChart("Throughput against connections", JFreeChart.DEFAULT_TITLE_FONT, plot, true));
    }

    /** p50, p99 and p99.9 per server, one panel per pingpong scenario, log scale. */
    JFreeChart latency() {
        var combined = new CombinedDomainCategoryPlot(new CategoryAxis("server"));
        for (Driver.Scenario s : pingpongs()) {
            var data = new DefaultCategoryDataset();
            for (String server : report.servers) {
                report.median(s.name(), server, "p50_us").ifPresent(v -> data.addValue(v, "p50", server));
                report.median(s.name(), server, "p99_us").ifPresent(v -> data.addValue(v, "p99", server));
                report.median(s.name(), server, "p999_us").ifPresent(v -> data.addValue(v, "p99.9", server));
            }
            var axis = new LogAxis(s.name() + " (us, log)");
            axis.setSmallestValue(1);
            var plot = new CategoryPlot(data, null, axis, bars());
            combined.add(plot, 1);
        }
        combined.getDomainAxis().setCategoryLabelPositions(CategoryLabelPositions.UP_45);
        return styled(new JFreeChart("Latency percentiles (lower is better)", JFreeChart.DEFAULT_TITLE_FONT, combined, true));
    }

    /** Resident memory per idle connection at 10,000 connections. */
    JFreeChart idleMemory() {
        var data = new DefaultCategoryDataset();
        for (String server : report.servers) {
            report.median("idle", server, "kib_per_conn").ifPresent(v -> data.addValue(v, "KiB per idle connection", server));
        }
        var plot = new CategoryPlot(data, new CategoryAxis("server"), new NumberAxis("KiB of RSS per connection"), bars());
        plot.getDomainAxis().setCategoryLabelPositions(CategoryLabelPositions.UP_45);
        return styled(new JFreeChart("Memory per idle connection (10,000 connections, lower is better)", JFreeChart.DEFAULT_TITLE_FONT, plot, false));
    }

    /** Each server's figure as a ratio to Netty epoll in the same round; the line at 1.0 is the target. */
    JFreeChart ratios() {
        var data = new DefaultCategoryDataset();
        for (String server : report.servers) {
            if (server.equals(Report.BAR)) continue;
            for (Driver.Scenario s : report.scenarios) {
                if (s.name().equals("idle")) continue; // lower is better there: its own chart
                report.ratio(s.name(), server, Report.metric(s.name())).ifPresent(v -> data.addValue(v, server, s.name()));
            }
        }
        var plot = new CategoryPlot(data, new CategoryAxis("scenario"), new NumberAxis("ratio to Netty epoll (higher is better)"), bars());
        plot.addRangeMarker(new ValueMarker(1.0, Color.RED, new BasicStroke(2f)));
        plot.getDomainAxis().setCategoryLabelPositions(CategoryLabelPositions.UP_45);
        return styled(new JFreeChart("Throughput ratio to Netty epoll, same run", JFreeChart.DEFAULT_TITLE_FONT, plot, true));
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
