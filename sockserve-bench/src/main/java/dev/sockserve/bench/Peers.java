package dev.sockserve.bench;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringDatagramChannel;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.util.internal.PlatformDependent;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;

/**
 * The JVM echo servers the benchmark measures, each run as its own process:
 * {@code java dev.sockserve.bench.Peers KIND tcp|udp PORT} prints {@code READY <port>} once
 * listening and serves until killed. PORT 0 picks a free port.
 *
 * <p>Kinds: {@code netty-epoll}, {@code netty-iouring}, {@code netty-nio}, {@code jdk-vthreads} (a plain
 * ServerSocket with a virtual thread per connection) and the library rows of sockserve,
 * {@code sockserve-lib[-threads|-bounded|-sync]} ({@link SockserveEcho}: the core with a handler of the
 * bench's own, not the shipped command). The other servers of the run (the shipped command, the C
 * limit, Python, tcpserver) are started by {@link Driver#serverCommand}.
 */
public final class Peers {
    static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    /** The kinds this class serves. */
    public static final List<String> KINDS = List.of("netty-epoll", "netty-iouring", "netty-nio", "jdk-vthreads",
            "sockserve-lib", "sockserve-lib-threads", "sockserve-lib-bounded", "sockserve-lib-sync");

    public static void main(String[] args) throws Exception {
        if (args.length != 3 || !(args[1].equals("tcp") || args[1].equals("udp"))) {
            System.err.println("usage: Peers KIND tcp|udp PORT   (KIND: " + KINDS + ")");
            System.exit(2);
        }
        exitWhenParentDies();
        String kind = args[0];
        boolean udp = args[1].equals("udp");
        int port = Integer.parseInt(args[2]);
        switch (kind) {
            case "netty-epoll" -> {
                // Fail loudly when the native transport cannot load: never measure NIO under epoll's name.
                Epoll.ensureAvailability();
                netty(EpollIoHandler.newFactory(), udp ? EpollDatagramChannel.class : EpollServerSocketChannel.class, udp, port);
            }
            case "netty-iouring" -> {
                if (!IoUring.isAvailable()) { // the kernel (or a seccomp filter) may refuse io_uring_setup: say why
                    System.out.println("UNAVAILABLE io_uring: " + IoUring.unavailabilityCause());
                    System.exit(3);
                }
                netty(IoUringIoHandler.newFactory(), udp ? IoUringDatagramChannel.class : IoUringServerSocketChannel.class, udp, port);
            }
            case "netty-nio" -> netty(NioIoHandler.newFactory(), udp ? NioDatagramChannel.class : NioServerSocketChannel.class, udp, port);
            case "jdk-vthreads" -> {
                if (udp) jdkUdp(port); else jdkTcp(port);
            }
            case "sockserve-lib" -> SockserveEcho.serve("vthreads", udp, port);
            default -> {
                if (!kind.startsWith("sockserve-lib-")) throw new IllegalArgumentException("unknown server kind: " + kind);
                SockserveEcho.serve(kind.substring("sockserve-lib-".length()), udp, port);
            }
        }
    }

    /**
     * No server may outlive the run, even when the driver is killed with SIGKILL and its shutdown
     * hook cannot run: the peer ends itself when its parent process ends.
     */
    static void exitWhenParentDies() {
        ProcessHandle.current().parent().ifPresent(parent -> parent.onExit().thenRun(() -> Runtime.getRuntime().halt(0)));
    }

    static void ready(int port) {
        System.out.println("READY " + port);
        System.out.flush();
    }

    // ---- Netty 4.2, set up as its own examples and docs recommend ----

    /** The echo of Netty's examples: write what was read, flush once per read burst. Shareable. */
    @ChannelHandler.Sharable
    static final class NettyTcpEcho extends ChannelInboundHandlerAdapter {
        @Override public void channelRead(ChannelHandlerContext ctx, Object msg) { ctx.write(msg, ctx.voidPromise()); }
        @Override public void channelReadComplete(ChannelHandlerContext ctx) { ctx.flush(); }
        @Override public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) { ctx.close(); } // resets end steps
    }

    @ChannelHandler.Sharable
    static final class NettyUdpEcho extends SimpleChannelInboundHandler<io.netty.channel.socket.DatagramPacket> {
        NettyUdpEcho() { super(false); } // the content is handed on to the reply, not released here
        @Override protected void channelRead0(ChannelHandlerContext ctx, io.netty.channel.socket.DatagramPacket packet) {
            ctx.write(new io.netty.channel.socket.DatagramPacket(packet.content(), packet.sender()), ctx.voidPromise());
        }
        @Override public void channelReadComplete(ChannelHandlerContext ctx) { ctx.flush(); }
        @Override public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) { cause.printStackTrace(); }
    }

    static void netty(IoHandlerFactory io, Class<? extends Channel> channelClass, boolean udp, int port) throws Exception {
        // One group for accept and I/O, default size (2 x cores), as Netty 4.2's EchoServer example does.
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(io);
        System.err.printf("netty: %s, unsafe=%s, allocator=pooled, directBufferPreferred=%s%n",
                channelClass.getSimpleName(), PlatformDependent.hasUnsafe(), PlatformDependent.directBufferPreferred());
        try {
            ChannelFuture bound;
            if (udp) {
                bound = new Bootstrap().group(group).channel(channelClass)
                        .option(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                        .option(ChannelOption.SO_RCVBUF, 1 << 20)
                        .handler(new NettyUdpEcho())
                        .bind(new InetSocketAddress(LOOPBACK, port)).sync();
            } else {
                @SuppressWarnings("unchecked") var c = (Class<? extends io.netty.channel.ServerChannel>) channelClass;
                bound = new ServerBootstrap().group(group).channel(c)
                        .option(ChannelOption.SO_BACKLOG, 4096)
                        .option(ChannelOption.SO_REUSEADDR, true)
                        .option(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                        .childOption(ChannelOption.TCP_NODELAY, true)
                        .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                        .childHandler(new NettyTcpEcho())
                        .bind(new InetSocketAddress(LOOPBACK, port)).sync();
            }
            ready(((InetSocketAddress) bound.channel().localAddress()).getPort());
            bound.channel().closeFuture().sync();
        } finally {
            group.shutdownGracefully();
        }
    }

    // ---- the naive Java 25 server: ServerSocket, a virtual thread per connection ----

    static void jdkTcp(int port) throws IOException {
        try (var listener = new ServerSocket()) {
            listener.setReuseAddress(true);
            listener.bind(new InetSocketAddress(LOOPBACK, port), 4096);
            ready(listener.getLocalPort());
            while (true) {
                Socket s = listener.accept();
                Thread.ofVirtual().start(() -> {
                    try (s) {
                        s.setTcpNoDelay(true);
                        InputStream in = s.getInputStream();
                        OutputStream out = s.getOutputStream();
                        byte[] b = new byte[16384];
                        int n;
                        while ((n = in.read(b)) > 0) out.write(b, 0, n);
                    } catch (IOException e) {
                        // a reset at the end of a step
                    }
                });
            }
        }
    }

    /** A receive loop, and a virtual thread per datagram to answer it: ThreadingUDPServer's shape. */
    static void jdkUdp(int port) throws IOException {
        try (var socket = new DatagramSocket(null)) {
            socket.setReuseAddress(true);
            socket.setReceiveBufferSize(1 << 20);
            socket.bind(new InetSocketAddress(LOOPBACK, port));
            ready(socket.getLocalPort());
            while (true) {
                var packet = new DatagramPacket(new byte[65536], 65536);
                socket.receive(packet);
                Thread.ofVirtual().start(() -> {
                    try {
                        socket.send(new DatagramPacket(packet.getData(), packet.getLength(), packet.getSocketAddress()));
                    } catch (IOException e) {
                        // the generator went away
                    }
                });
            }
        }
    }
}
