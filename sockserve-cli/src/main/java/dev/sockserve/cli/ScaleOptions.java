package dev.sockserve.cli;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** Serving one address from several processes: --workers, --reuse-port, --health (and a worker's own flags). */
final class ScaleOptions {

    @Option(names = "--workers", paramLabel = "N",
            description = "Run N worker processes, each serving every listener through its own SO_REUSEPORT socket "
                    + "(the kernel spreads clients among them), under this process, which restarts a worker that "
                    + "ends, forwards SIGTERM and SIGINT to all and exits 0 once all have drained. tcp://, tls:// and "
                    + "udp:// listeners only (a UDP port must be given). The limits on requests apply to each worker. "
                    + "Default: 1 (this process serves).")
    int workers = 1;

    @Option(names = "--reuse-port",
            description = "SO_REUSEPORT on tcp://, tls:// and udp:// listeners: other processes that set it too (a "
                    + "new sockserve started before this one stops) serve the same port, the kernel spreading clients "
                    + "among them. Default: off.")
    boolean reusePort;

    @Option(names = "--health", paramLabel = "URL", converter = ServeOptions.ListenConverter.class,
            description = "tcp://HOST:PORT answering 'ok' and closing while serving, refusing connections from the "
                    + "first SIGTERM or SIGINT on, so a load balancer sends new clients elsewhere (under several "
                    + "workers, their supervisor serves it). Default: none.")
    ListenAddress health;

    /** A worker of {@code --workers}: its number (1..N), given by the supervisor. */
    @Option(names = "--worker", hidden = true)
    Integer worker;

    /** A worker's listeners' ports, in --listen order: port 0 resolved once by the supervisor. */
    @Option(names = "--worker-ports", hidden = true, split = ",")
    List<Integer> workerPorts = new ArrayList<>();

    boolean isWorker() {
        return worker != null;
    }

    boolean supervises() {
        return workers > 1 && worker == null;
    }

    void check() {
        if (workers < 1) {
            throw new IllegalArgumentException("--workers must be at least 1, was " + workers);
        }
        if (health != null && health.kind() != ListenAddress.Kind.TCP) {
            throw new IllegalArgumentException("--health takes tcp://HOST:PORT, was " + health);
        }
    }

    /** A worker's listeners: the same, with the ports the supervisor chose. */
    List<ListenAddress> workerListeners(List<ListenAddress> listeners) {
        if (workerPorts.size() != listeners.size()) {
            throw new IllegalArgumentException("--worker-ports gives " + workerPorts.size() + " ports for "
                    + listeners.size() + " listeners");
        }
        List<ListenAddress> out = new ArrayList<>();
        for (int i = 0; i < listeners.size(); i++) {
            InetSocketAddress a = (InetSocketAddress) listeners.get(i).address();
            out.add(new ListenAddress(listeners.get(i).kind(), new InetSocketAddress(a.getAddress(), workerPorts.get(i))));
        }
        return out;
    }
}
