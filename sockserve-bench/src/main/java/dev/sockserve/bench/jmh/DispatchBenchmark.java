package dev.sockserve.bench.jmh;

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
import org.openjdk.jmh.infra.Blackhole;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * What handing one request to a thread costs: a new virtual thread (sockserve's default), a new
 * platform thread (Python's ThreadingMixIn), or a pooled platform thread, each with a handler body
 * that allocates the 16 KiB read buffer a naive echo handler takes per connection.
 *
 * <p>{@code ./bench --jmh DispatchBenchmark}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class DispatchBenchmark {
    ExecutorService pool;

    @Setup
    public void start() {
        pool = Executors.newFixedThreadPool(2);
    }

    @TearDown
    public void stop() {
        pool.shutdownNow();
    }

    static Runnable handler(Blackhole bh) {
        return () -> bh.consume(new byte[16384]);
    }

    @Benchmark
    public void virtualThreadPerRequest(Blackhole bh) throws InterruptedException {
        Thread.ofVirtual().start(handler(bh)).join();
    }

    @Benchmark
    public void platformThreadPerRequest(Blackhole bh) throws InterruptedException {
        Thread.ofPlatform().start(handler(bh)).join();
    }

    @Benchmark
    public void pooledPlatformThread(Blackhole bh) throws InterruptedException, ExecutionException {
        pool.submit(handler(bh)).get();
    }

    @Benchmark
    public void sameThread(Blackhole bh) {
        handler(bh).run();
    }
}
