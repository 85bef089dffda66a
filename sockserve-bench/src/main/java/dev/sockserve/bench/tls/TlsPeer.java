package dev.sockserve.bench.tls;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.File;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * Netty 4.2's TLS echo, the peer of the TLS scenarios: {@code TlsPeer jdk|openssl PORT CERT KEY} prints
 * {@code READY <port>} once listening. {@code jdk}: SslHandler with the JDK's provider, the same JSSE
 * sockserve uses; {@code openssl}: netty-tcnative's BoringSSL. Epoll, one event loop per core.
 */
public final class TlsPeer {

    public static void main(String[] args) throws Exception {
        SslProvider provider = args[0].equals("openssl") ? SslProvider.OPENSSL : SslProvider.JDK;
        if (provider == SslProvider.OPENSSL && !OpenSsl.isAvailable()) {
            System.out.println("UNAVAILABLE BoringSSL: " + OpenSsl.unavailabilityCause());
            System.exit(3);
        }
        SslContext ssl = SslContextBuilder.forServer(new File(args[2]), new File(args[3])).sslProvider(provider)
                .protocols("TLSv1.3", "TLSv1.2").build();
        var group = new MultiThreadIoEventLoopGroup(EpollIoHandler.newFactory());
        var bound = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(ssl.newHandler(ch.alloc()), ECHO);
                    }
                }).bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), Integer.parseInt(args[1]))).sync().channel();
        System.out.println("READY " + ((InetSocketAddress) bound.localAddress()).getPort());
        bound.closeFuture().sync();
    }

    private static final ChannelHandler ECHO = new Echo();

    @ChannelHandler.Sharable
    private static final class Echo extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.write(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
