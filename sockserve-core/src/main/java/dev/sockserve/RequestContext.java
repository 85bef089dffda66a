package dev.sockserve;

import dev.sockserve.internal.Addresses;
import java.net.SocketAddress;
import java.nio.channels.ByteChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;

/**
 * One request as it travels through the server: its id, addresses, channel and whatever steps,
 * gates and observers attach to it. A handler reaches it through {@link BaseRequestHandler#context()};
 * {@link ConnectionStep}s, {@link RequestGate}s and {@link RequestObserver}s are given it directly.
 *
 * <p>Connection steps may replace the addresses (a PROXY protocol header carries the real client) and
 * wrap the channel (TLS); everything after them, {@code verifyRequest} and the handler included, sees
 * the result. {@link #peerAddress()} stays the socket's own peer.
 */
public final class RequestContext {

    /** A typed key for {@link #attribute(Key)}: {@code static final Key<String> USER = new Key<>("user");}. */
    public record Key<T>(String name) {
        public Key {
            Objects.requireNonNull(name, "name");
        }
    }

    private static final AtomicLong IDS = new AtomicLong();

    private final long id = IDS.incrementAndGet();
    private final long startNanos = System.nanoTime();
    private final BaseServer<?> server;
    private final Object request;
    private final SocketAddress peerAddress;
    private volatile SocketAddress clientAddress;
    private volatile SocketAddress localAddress;
    private volatile ByteChannel channel; // null for a datagram
    private volatile boolean channelWrapped;
    private volatile ConcurrentHashMap<Key<?>, Object> attributes; // made on first use
    private List<Runnable> onCut; // guarded by this, made on first use
    volatile boolean admitted; // steps, gates and verifyRequest passed
    volatile boolean cut; // closed by serverClose() under its handler
    private boolean ended; // guarded by this
    private long bytesIn; // counted by the handler's thread, read after the request ended
    private long bytesOut;

    RequestContext(BaseServer<?> server, Object request, SocketAddress clientAddress, SocketAddress localAddress) {
        this.server = server;
        this.request = request;
        this.peerAddress = clientAddress;
        this.clientAddress = clientAddress;
        this.localAddress = localAddress;
        this.channel = request instanceof SocketChannel connection ? connection : null;
    }

    /** A number unique to this request within the JVM, for logs. */
    public long id() {
        return id;
    }

    public BaseServer<?> server() {
        return server;
    }

    /** The request: an accepted {@link SocketChannel}, or a {@link DatagramRequest}. */
    public Object request() {
        return request;
    }

    /** The accepted connection, for a stream server. */
    public Optional<SocketChannel> connection() {
        return request instanceof SocketChannel connection ? Optional.of(connection) : Optional.empty();
    }

    /** The client's address: the socket's peer, unless a connection step replaced it. */
    public SocketAddress clientAddress() {
        return clientAddress;
    }

    /** The address the client connected to: the server's, unless a connection step replaced it. */
    public SocketAddress localAddress() {
        return localAddress;
    }

    /** The socket's own peer, whatever the steps said: the proxy's address behind a PROXY protocol header. */
    public SocketAddress peerAddress() {
        return peerAddress;
    }

    /** For connection steps: the real client and local addresses (for example from a PROXY protocol header). */
    public void replaceAddresses(SocketAddress client, SocketAddress local) {
        this.clientAddress = Objects.requireNonNull(client, "client");
        this.localAddress = Objects.requireNonNull(local, "local");
    }

    /**
     * The channel the handler reads and writes: the connection itself, or what a step wrapped it in.
     * Empty for a datagram.
     */
    public Optional<ByteChannel> channel() {
        return Optional.ofNullable(channel);
    }

    /** Whether a step wrapped the connection, so the handler must not use the raw socket. */
    public boolean channelWrapped() {
        return channelWrapped;
    }

    /** For connection steps: wraps the channel (for example in TLS); later steps and the handler see the wrapper. */
    public void wrapChannel(UnaryOperator<ByteChannel> wrapper) {
        if (channel == null) {
            throw new IllegalStateException("a datagram request has no channel to wrap");
        }
        channel = Objects.requireNonNull(wrapper.apply(channel), "the wrapper returned null");
        channelWrapped = true;
    }

    @SuppressWarnings("unchecked")
    public <T> Optional<T> attribute(Key<T> key) {
        var map = attributes;
        return map == null ? Optional.empty() : Optional.ofNullable((T) map.get(key));
    }

    public <T> void attribute(Key<T> key, T value) {
        var map = attributes;
        if (map == null) {
            synchronized (this) {
                map = attributes;
                if (map == null) {
                    attributes = map = new ConcurrentHashMap<>(4);
                }
            }
        }
        map.put(key, value);
    }

    /**
     * Runs {@code action} if the server cuts this request while it runs (the close grace period ran out),
     * for work the request started beyond its socket, such as a child process.
     */
    public void onCut(Runnable action) {
        Objects.requireNonNull(action, "action");
        synchronized (this) {
            if (onCut == null) {
                onCut = new ArrayList<>(2);
            }
            onCut.add(action);
        }
    }

    /** True the first time only: a request is ended once, whoever gets there first. */
    synchronized boolean markEnded() {
        boolean first = !ended;
        ended = true;
        return first;
    }

    void runCutActions() {
        List<Runnable> actions;
        synchronized (this) {
            actions = onCut == null ? List.of() : List.copyOf(onCut);
        }
        for (Runnable action : actions) {
            try {
                action.run();
            } catch (RuntimeException e) {
                BaseServer.LOG.log(System.Logger.Level.WARNING, "cutting request " + id + " failed", e);
            }
        }
    }

    /**
     * Adds what a handler read from and wrote to the client, for {@link BaseServer#metrics()} and the
     * request's end event. The core's stream and datagram handlers call it; a handler that moves bytes
     * some other way (a child process on the socket) may call it too.
     */
    public synchronized void countBytes(long in, long out) {
        bytesIn += in;
        bytesOut += out;
    }

    synchronized long bytesIn() {
        return bytesIn;
    }

    synchronized long bytesOut() {
        return bytesOut;
    }

    long startNanos() {
        return startNanos;
    }

    /** How long ago the request was accepted. */
    public Duration age() {
        return Duration.ofNanos(System.nanoTime() - startNanos);
    }

    @Override
    public String toString() {
        return "request " + id + " from " + Addresses.describe(clientAddress) + " on " + server.where();
    }
}
