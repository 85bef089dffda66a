package dev.sockserve.cli;

import dev.sockserve.internal.Posix;
import dev.sockserve.internal.Relay;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channel;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code --inetd} when descriptor 0 is a connected socket (inetd's {@code nowait}): one request, then the
 * command exits. {@code exec} runs the program on descriptors 0 and 1 as they are (they are the socket),
 * with the usual environment, and exits with its status; a service is served through a listener of its
 * own on 127.0.0.1 and a relay, and exits 0.
 */
final class InetdOnce {

    private InetdOnce() {
    }

    /** The connected socket on descriptor 0, if that is what --inetd was given. */
    static Optional<SocketChannel> connection() throws IOException {
        Channel inherited = System.inheritedChannel();
        return inherited instanceof SocketChannel connected ? Optional.of(connected) : Optional.empty();
    }

    /** Runs the program on the inherited socket; its exit status (128 + N if a signal N ended it). */
    static int exec(SocketChannel connection, List<String> program, String localName, ServeOptions options,
            EventLog log) throws IOException, InterruptedException {
        SocketAddress local = connection.getLocalAddress();
        SocketAddress remote = connection.getRemoteAddress();
        Peer remotePeer = Peer.of(remote);
        AccessRules rules = options.rules == null ? AccessRules.allowAll() : AccessRules.read(options.rules);
        AccessRules.Decision decision = rules.decide(remote instanceof InetSocketAddress inet
                ? Optional.ofNullable(inet.getAddress()) : Optional.empty());
        Peer localPeer = new Peer(local, localName);
        if (!decision.allow()) {
            log.deny(0, localPeer, remotePeer, "rules");
            return 0;
        }
        ListenAddress.Kind kind = local instanceof UnixDomainSocketAddress ? ListenAddress.Kind.UNIX : ListenAddress.Kind.TCP;
        ExecProgram exec = new ExecProgram(program, SocketActivation.withoutVariables(System.getenv()), localName, null,
                options.maxPacketSize, ExecProgram.DEFAULT_DATAGRAM_TIMEOUT); // only its environment is used here
        Map<String, String> env = exec.environment(kind,
                new Gatekeeper.Admitted(null, 0, localPeer, remotePeer, decision.settings()), null);
        ProcessBuilder builder = new ProcessBuilder(program).inheritIO(); // descriptors 0 and 1 are the socket
        builder.environment().clear();
        builder.environment().putAll(env);
        try {
            Posix.becomeSubreaper(); // what the program leaves running becomes this process's, and ends with it
        } catch (IOException | RuntimeException e) {
            log.warning("processes the program leaves running will outlive the command: " + e.getMessage());
        }
        Process process = builder.start();
        log.pid(process.pid(), remotePeer.ip().orElse(remotePeer.display()));
        int status = process.waitFor();
        log.end(process.pid(), status);
        endLeftovers();
        return status;
    }

    /** Ends what the program left running (re-parented here): SIGTERM, then SIGKILL to what is left after a second. */
    private static void endLeftovers() throws InterruptedException {
        List<ProcessHandle> left = ProcessHandle.current().children().toList();
        left.forEach(ProcessHandle::destroy);
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(1);
        for (ProcessHandle p : left) {
            try {
                p.onExit().get(Math.max(0, deadline - System.nanoTime()), java.util.concurrent.TimeUnit.NANOSECONDS);
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
                p.destroyForcibly();
            }
        }
    }

    /** Serves the inherited connection with the service (a listener on 127.0.0.1 and a relay); then 0. */
    static int service(SocketChannel connection, Sockserve.Starter starter, EventLog log) throws Exception {
        ServeOptions options = starter.options();
        options.ops.inetd = false;
        options.listen = new java.util.ArrayList<>(List.of(ListenAddress.tcp("127.0.0.1", 0)));
        try (Serving serving = starter.start(log)) {
            Thread serve = Thread.ofPlatform().name("sockserve-inetd").start(serving::serve);
            String bound = serving.boundAddresses().get(0);
            String hostPort = bound.substring("tcp://".length());
            int colon = hostPort.lastIndexOf(':');
            try (SocketChannel upstream = SocketChannel.open(new InetSocketAddress(hostPort.substring(0, colon),
                    Integer.parseInt(hostPort.substring(colon + 1))))) {
                Relay.run(new Relay.Side(connection, connection::shutdownOutput, connection),
                        new Relay.Side(upstream, upstream::shutdownOutput, upstream), "sockserve-inetd-relay");
            }
            serving.stop();
            serve.join();
        }
        return 0;
    }
}
