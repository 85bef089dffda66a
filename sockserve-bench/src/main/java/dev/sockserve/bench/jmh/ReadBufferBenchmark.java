package dev.sockserve.bench.jmh;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;

/**
 * Moving one message across a loopback connection (write on one end, read it on the other, same
 * thread): what a handler's read costs with a heap byte[] (the JDK copies through a temporary
 * direct buffer), a direct ByteBuffer (no copy), or the InputStream/OutputStream a
 * StreamRequestHandler sees over the channel.
 *
 * <p>{@code ./bench --jmh ReadBufferBenchmark}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class ReadBufferBenchmark {
    @Param({"64", "16384"})
    int size;

    SocketChannel writer, reader;
    ByteBuffer heapOut, heapIn, directOut, directIn;
    byte[] bytes;
    InputStream in;
    OutputStream out;

    @Setup(Level.Trial)
    public void connect() throws IOException {
        try (var listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            writer = SocketChannel.open(listener.getLocalAddress());
            reader = listener.accept();
        }
        writer.setOption(StandardSocketOptions.TCP_NODELAY, true);
        heapOut = ByteBuffer.allocate(size);
        heapIn = ByteBuffer.allocate(size);
        directOut = ByteBuffer.allocateDirect(size);
        directIn = ByteBuffer.allocateDirect(size);
        bytes = new byte[size];
        in = Channels.newInputStream(reader);
        out = Channels.newOutputStream(writer);
    }

    @TearDown(Level.Trial)
    public void close() throws IOException {
        writer.close();
        reader.close();
    }

    static void transfer(SocketChannel from, ByteBuffer out, SocketChannel to, ByteBuffer in) throws IOException {
        out.clear();
        while (out.hasRemaining()) from.write(out);
        in.clear();
        while (in.hasRemaining()) to.read(in);
    }

    @Benchmark
    public ByteBuffer heapByteBuffer() throws IOException {
        transfer(writer, heapOut, reader, heapIn);
        return heapIn;
    }

    @Benchmark
    public ByteBuffer directByteBuffer() throws IOException {
        transfer(writer, directOut, reader, directIn);
        return directIn;
    }

    @Benchmark
    public byte[] streams() throws IOException {
        out.write(bytes);
        int n = 0;
        while (n < size) n += in.read(bytes, n, size - n);
        return bytes;
    }
}
