package dev.sockserve.bench;

import dev.sockserve.Concurrency;
import dev.sockserve.DatagramRequestHandler;
import dev.sockserve.ServerOptions;
import dev.sockserve.StreamRequestHandler;
import dev.sockserve.ThreadingTcpServer;
import dev.sockserve.ThreadingUdpServer;

import java.net.InetSocketAddress;

/**
 * sockserve's echo peer, one process per concurrency policy. The handlers are ordinary blocking
 * code on purpose: that is what sockserve promises to make fast.
 */
final class SockserveEcho {
    /** Above the largest connection count of any scenario, so bounded(n) measures the admission cost only. */
    static final int BOUND = 12_000;

    static final class Echo extends StreamRequestHandler {
        // Every peer sets TCP_NODELAY (Netty's childOption, the Python handler's setup): so does this one,
        // the socketserver way. Without it a 64 KiB echo waits on delayed ACKs (12 MB/s instead of ~1.8 GB/s).
        @Override protected boolean disableNagleAlgorithm() { return true; }

        // The plainest blocking echo there is. rfile() lends its read buffer only while bytes wait, so an
        // idle connection holds no buffer (a handler-owned byte[16384] cost 16 KiB per idle connection).
        @Override public void handle() throws Exception {
            rfile().transferTo(wfile());
        }
    }

    static final class EchoDatagram extends DatagramRequestHandler {
        @Override public void handle() throws Exception {
            rfile().transferTo(wfile());
        }
    }

    static Concurrency policy(String name) {
        return switch (name) {
            case "vthreads" -> Concurrency.virtualThreads();
            case "threads" -> Concurrency.threads().daemonThreads(true);
            case "bounded" -> Concurrency.bounded(BOUND);
            case "sync" -> Concurrency.synchronous();
            default -> throw new IllegalArgumentException("unknown sockserve policy: " + name);
        };
    }

    static void serve(String policyName, boolean udp, int port) throws Exception {
        var address = new InetSocketAddress(Peers.LOOPBACK, port);
        var options = ServerOptions.defaults().requestQueueSize(4096).concurrency(policy(policyName));
        if (udp) {
            var server = new ThreadingUdpServer(address, EchoDatagram::new, options);
            Peers.ready(((InetSocketAddress) server.serverAddress()).getPort());
            server.serveForever();
        } else {
            var server = new ThreadingTcpServer(address, Echo::new, options);
            Peers.ready(((InetSocketAddress) server.serverAddress()).getPort());
            server.serveForever();
        }
    }
}
