package dev.sockserve;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What a request pays for metrics and Flight Recorder events (issue 14): the core's own accounting code
 * ({@code ServerMetrics.accepted} and {@code ended}, {@code RequestContext.countBytes}, {@code Events.on()}
 * at each event site) and the add per socket read and write that {@code ChannelStreams} makes, against the
 * same request (its context made, as every request's is) without them. In package {@code dev.sockserve} to
 * call that package-private code: on the class path the bench's classes and the core's share the package.
 * {@code requestAccountedRecorded} runs in a JVM whose recording enables the events, for scale.
 *
 * <p>{@code ./bench --jmh AccountingBenchmark}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class AccountingBenchmark {

    private static final InetSocketAddress CLIENT = new InetSocketAddress(InetAddress.getLoopbackAddress(), 40000);
    private static final InetSocketAddress LOCAL = new InetSocketAddress(InetAddress.getLoopbackAddress(), 7);
    private static final Object REQUEST = new Object();
    private static final int MESSAGE = 64; // pingpong-64's message: one read and one write of it

    private UdpServer server;
    private ServerMetrics metrics;
    private long received; // as ChannelStreams counts, per read and per write
    private long sent;

    @Setup
    public void open() {
        server = new UdpServer(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                DatagramRequestHandler.of(h -> { }), ServerOptions.defaults());
        metrics = server.metrics();
    }

    @TearDown
    public void close() {
        server.serverClose();
    }

    @Benchmark
    public RequestContext request() {
        return new RequestContext(server, REQUEST, CLIENT, LOCAL);
    }

    @Benchmark
    public RequestContext requestAccounted() {
        RequestContext request = new RequestContext(server, REQUEST, CLIENT, LOCAL);
        metrics.accepted(request);
        received += MESSAGE;
        sent += MESSAGE;
        request.countBytes(received, sent);
        received = 0;
        sent = 0;
        metrics.ended(request, RequestEnd.COMPLETED);
        return request;
    }

    @Benchmark
    @Fork(value = 1, jvmArgsAppend = "-XX:StartFlightRecording:disk=false,settings=default")
    public RequestContext requestAccountedRecorded() {
        return requestAccounted();
    }
}
