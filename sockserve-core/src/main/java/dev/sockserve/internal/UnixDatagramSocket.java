package dev.sockserve.internal;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ReadOnlyBufferException;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.Channel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectableChannel;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A Unix-domain datagram socket (AF_UNIX, SOCK_DGRAM), which the JDK lacks, over the C library calls of
 * {@link Posix}. Where those cannot be made (another platform, native access denied), {@link #open()}
 * and {@link #isLive(Path)} throw the exception {@link Posix#requireAvailable()} describes.
 *
 * <p>Thread-safety: {@link #receive}, {@link #send} and {@link #close} may run in different threads
 * at once. The descriptor is guarded by a read/write lock: every native call on it holds the read
 * lock, and {@code close} releases the number to the kernel only under the write lock, so a number
 * the kernel hands out again can never be used by an operation that started on this socket. Once
 * closed, operations throw {@link ClosedChannelException}.
 *
 * <p>The socket is always non-blocking. The only waiting calls are {@link #receive(ByteBuffer, Duration)}
 * and the {@link #readiness()} watcher ({@link ReadinessPipe}); both block in {@code poll(2)} and
 * therefore belong on platform threads (a virtual thread blocked in a native call pins its carrier).
 */
public final class UnixDatagramSocket implements Channel {

    // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
    private static final int SUN_PATH_OFFSET = 2;
    private static final int SUN_PATH_SIZE = 108;
    private static final int SOCKADDR_UN_SIZE = SUN_PATH_OFFSET + SUN_PATH_SIZE;
    private static final int MAX_PATH_BYTES = SUN_PATH_SIZE - 1; // room for the terminating NUL

    // Paths travel to the kernel as bytes in the same encoding the JDK uses for file names.
    private static final Charset PATH_CHARSET = pathCharset();
    private static final UnixDomainSocketAddress UNNAMED = UnixDomainSocketAddress.of("");

    private final int fd;
    private final ReentrantReadWriteLock fdLock = new ReentrantReadWriteLock();
    private final Object stateLock = new Object(); // bind, readiness and close
    private volatile boolean closed;
    private volatile UnixDomainSocketAddress local;
    private volatile ReadinessPipe readiness; // set once, under stateLock

    private UnixDatagramSocket(int fd) {
        this.fd = fd;
    }

    /** A new unbound socket: socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC). */
    public static UnixDatagramSocket open() throws IOException {
        Posix.requireAvailable();
        int fd = Posix.socket(Posix.AF_UNIX, Posix.SOCK_DGRAM | Posix.SOCK_NONBLOCK | Posix.SOCK_CLOEXEC);
        if (fd < 0) {
            throw failure("socket", "", -fd);
        }
        return new UnixDatagramSocket(fd);
    }

    /**
     * A socket bound elsewhere (systemd's {@code ListenDatagram=PATH}): checks that {@code fd} is an AF_UNIX
     * SOCK_DGRAM socket bound to a path, makes it non-blocking and close-on-exec, and owns it from then on.
     */
    public static UnixDatagramSocket adopt(int fd) throws IOException {
        Posix.requireAvailable();
        Posix.SocketKind kind = Posix.socketKind(fd);
        if (kind.domain() != Posix.AF_UNIX || kind.type() != Posix.SOCK_DGRAM) {
            throw new IOException("descriptor " + fd + " is not a Unix datagram socket");
        }
        UnixDomainSocketAddress bound = boundAddress(fd);
        Posix.makeNonBlockingCloseOnExec(fd);
        UnixDatagramSocket socket = new UnixDatagramSocket(fd);
        socket.local = bound;
        return socket;
    }

    /** The path the Unix socket on {@code fd} is bound to (getsockname(2)); fails when it is bound to none. */
    public static UnixDomainSocketAddress boundAddress(int fd) throws IOException {
        Posix.requireAvailable();
        UnixDomainSocketAddress bound;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sa = arena.allocate(SOCKADDR_UN_SIZE, 2);
            bound = sender(sa, Posix.socketName(fd, sa));
        }
        if (bound.getPath().toString().isEmpty()) {
            throw new IOException("the Unix socket on descriptor " + fd + " is not bound to a path");
        }
        return bound;
    }

    /**
     * bind(2). The path must not exist (the caller handles stale files). An empty path is refused:
     * Linux would autobind to an abstract name, which a {@link UnixDomainSocketAddress} cannot hold.
     *
     * @throws IOException naming the path, when the kernel refuses or the path exceeds 107 bytes
     */
    public void bind(UnixDomainSocketAddress address) throws IOException {
        Objects.requireNonNull(address, "address");
        synchronized (stateLock) {
            begin();
            try (Arena arena = Arena.ofConfined()) {
                int r = Posix.bind(fd, sockaddr(arena, address, "bind"));
                if (r < 0) {
                    throw failure("bind", address.getPath().toString(), -r);
                }
                local = address;
            } finally {
                end();
            }
        }
    }

    /** The bound address, or empty when unbound. */
    public Optional<UnixDomainSocketAddress> localAddress() {
        return Optional.ofNullable(local);
    }

    /**
     * One datagram, without waiting (MSG_DONTWAIT | MSG_TRUNC). Copies at most {@code dst.remaining()}
     * bytes into {@code dst}, advancing its position.
     *
     * @return null when no datagram is waiting; otherwise the sender and the datagram's real length,
     *         which exceeds the bytes copied when the datagram was truncated. The sender has an empty
     *         path when the peer is unbound (or bound to an abstract name).
     */
    public Received receive(ByteBuffer dst) throws IOException {
        if (dst.isReadOnly()) {
            throw new ReadOnlyBufferException();
        }
        ReadinessPipe watcher = readiness;
        if (watcher != null) {
            watcher.consume();
        }
        begin();
        try (Arena arena = Arena.ofConfined()) {
            int room = dst.remaining();
            MemorySegment target = MemorySegment.ofBuffer(dst);
            // the kernel writes into native memory only; a heap buffer gets a bounce buffer
            MemorySegment buf = dst.isDirect() ? target : arena.allocate(Math.max(room, 1));
            MemorySegment from = arena.allocate(SOCKADDR_UN_SIZE, 2);
            MemorySegment fromLen = arena.allocate(JAVA_INT);
            fromLen.set(JAVA_INT, 0, SOCKADDR_UN_SIZE);
            long n = Posix.recvfrom(fd, buf, room, Posix.MSG_DONTWAIT | Posix.MSG_TRUNC, from, fromLen);
            if (n == -Posix.EAGAIN) {
                return null;
            }
            if (n < 0) {
                throw closed ? new AsynchronousCloseException() : failure("recvfrom", localName(), (int) -n);
            }
            // close() shuts the socket down to wake pollers; that reads as an empty "datagram"
            if (n == 0 && closed) {
                throw new AsynchronousCloseException();
            }
            int copied = (int) Math.min(n, room);
            if (buf != target) {
                MemorySegment.copy(buf, 0, target, 0, copied);
            }
            dst.position(dst.position() + copied);
            return new Received(sender(from, fromLen.get(JAVA_INT, 0)), (int) n);
        } finally {
            end();
            if (watcher != null) {
                watcher.received();
            }
        }
    }

    /**
     * Like {@link #receive(ByteBuffer)}, but waits up to {@code timeout} for a datagram (poll(2)).
     * This blocks in a native call: use it from platform threads only (tests, clients), never from a
     * virtual thread. A concurrent {@link #close()} ends the wait with a {@link ClosedChannelException}.
     *
     * @return null on timeout
     */
    public Received receive(ByteBuffer dst, Duration timeout) throws IOException {
        long budget;
        try {
            budget = Math.max(0, timeout.toNanos());
        } catch (ArithmeticException tooLong) {
            budget = Long.MAX_VALUE;
        }
        long start = System.nanoTime();
        while (true) {
            Received r = receive(dst);
            if (r != null) {
                return r;
            }
            long left = budget - (System.nanoTime() - start);
            if (left <= 0) {
                return null;
            }
            awaitReadable(left);
        }
    }

    /**
     * sendto(2), without waiting: sends {@code src}'s remaining bytes as one datagram to {@code target}
     * and advances {@code src}.
     *
     * @return the bytes sent, or 0 when the socket buffer is full (EAGAIN)
     * @throws IOException naming the target path (ECONNREFUSED, ENOENT for a vanished peer, EMSGSIZE...)
     */
    public int send(ByteBuffer src, UnixDomainSocketAddress target) throws IOException {
        Objects.requireNonNull(target, "target");
        begin();
        try (Arena arena = Arena.ofConfined()) {
            int len = src.remaining();
            MemorySegment data = MemorySegment.ofBuffer(src);
            if (!src.isDirect()) {
                MemorySegment copy = arena.allocate(Math.max(len, 1));
                MemorySegment.copy(data, 0, copy, 0, len);
                data = copy;
            }
            MemorySegment sa = sockaddr(arena, target, "sendto");
            long n = Posix.sendto(fd, data, len, Posix.MSG_DONTWAIT | Posix.MSG_NOSIGNAL, sa);
            if (n == -Posix.EAGAIN) {
                return 0;
            }
            if (n < 0) {
                throw closed ? new AsynchronousCloseException() : failure("sendto", target.getPath().toString(), (int) -n);
            }
            src.position(src.position() + (int) n);
            return (int) n;
        } finally {
            end();
        }
    }

    /**
     * A non-blocking {@link SelectableChannel} that is readable whenever a datagram is waiting, so
     * this socket can share a {@link java.nio.channels.Selector} with JDK channels ({@link ReadinessPipe},
     * whose platform thread is {@code sockserve-unix-dgram-<path>-poll}). Created on the first call; later
     * calls return the same channel. Keep it non-blocking: {@link #receive} drains it.
     */
    public SelectableChannel readiness() throws IOException {
        synchronized (stateLock) {
            if (closed) {
                throw new ClosedChannelException();
            }
            if (readiness == null) {
                UnixDomainSocketAddress a = local;
                readiness = new ReadinessPipe(fd, fdLock.readLock(), a == null ? "unbound" : a.getPath().toString());
            }
            return readiness.source();
        }
    }

    /**
     * Probes a socket file: true when a server is bound to it (connect(2) from a fresh Unix datagram
     * socket succeeds, or is refused only because the live socket there is of another type),
     * false when the file is stale (ECONNREFUSED) or absent (ENOENT).
     */
    public static boolean isLive(Path path) throws IOException {
        Posix.requireAvailable();
        UnixDomainSocketAddress address = UnixDomainSocketAddress.of(path);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sa = sockaddr(arena, address, "connect");
            int probe = Posix.socket(Posix.AF_UNIX, Posix.SOCK_DGRAM | Posix.SOCK_CLOEXEC);
            if (probe < 0) {
                throw failure("socket", path.toString(), -probe);
            }
            try {
                int r = Posix.connect(probe, sa);
                if (r == 0 || r == -Posix.EPROTOTYPE) {
                    return true; // EPROTOTYPE: a stream server lives there, not a stale file either
                }
                if (r == -Posix.ECONNREFUSED || r == -Posix.ENOENT) {
                    return false;
                }
                throw failure("connect", path.toString(), -r);
            } finally {
                Posix.close(probe);
            }
        }
    }

    @Override
    public boolean isOpen() {
        return !closed;
    }

    /** Idempotent. Stops the watcher, closes the pipes and the descriptor; leaves the path in place. */
    @Override
    public void close() throws IOException {
        synchronized (stateLock) {
            if (closed) {
                return;
            }
            closed = true;
            ReadinessPipe watcher = readiness;
            if (watcher != null) {
                watcher.stop();
            }
            // wakes a receive(dst, timeout) blocked in poll(2) on another thread, which holds the fd lock
            Posix.shutdown(fd, Posix.SHUT_RDWR);
            if (watcher != null) {
                watcher.join();
            }
            fdLock.writeLock().lock();
            try {
                Posix.close(fd);
                if (watcher != null) {
                    watcher.close();
                }
            } finally {
                fdLock.writeLock().unlock();
            }
        }
    }

    /** A datagram's sender and its real length (more than was copied when it was truncated). */
    public record Received(UnixDomainSocketAddress sender, int length) { }

    // ---- internals -------------------------------------------------------------------------------

    private void begin() throws ClosedChannelException {
        fdLock.readLock().lock();
        if (closed) {
            fdLock.readLock().unlock();
            throw new ClosedChannelException();
        }
    }

    private void end() {
        fdLock.readLock().unlock();
    }

    private void awaitReadable(long nanos) throws IOException {
        int millis = (int) Math.min(Integer.MAX_VALUE, (nanos + 999_999) / 1_000_000);
        begin();
        try (Arena arena = Arena.ofConfined()) {
            Posix.PollSet pfd = new Posix.PollSet(arena, 1);
            pfd.set(0, fd);
            // EINTR and timeouts both return to the caller's loop, which recomputes what is left
            int r = pfd.poll(millis);
            if (r < 0 && r != -Posix.EINTR) {
                throw failure("poll", localName(), -r);
            }
        } finally {
            end();
        }
    }

    private String localName() {
        UnixDomainSocketAddress a = local;
        return a == null ? "" : a.getPath().toString();
    }

    private static MemorySegment sockaddr(Arena arena, UnixDomainSocketAddress address, String op)
            throws IOException {
        String path = address.getPath().toString();
        byte[] bytes = path.getBytes(PATH_CHARSET);
        if (bytes.length == 0) {
            throw new IOException(op + " unix-dgram:: empty path (autobind to an abstract name is not supported)");
        }
        if (bytes.length > MAX_PATH_BYTES) {
            throw new IOException(op + " unix-dgram:" + path + ": path is " + bytes.length
                    + " bytes, longer than the " + MAX_PATH_BYTES + " a Unix socket address holds");
        }
        // sized to the path plus its NUL, so byteSize() is the socklen_t to pass
        MemorySegment sa = arena.allocate(SUN_PATH_OFFSET + bytes.length + 1, 2);
        sa.set(JAVA_SHORT, 0, (short) Posix.AF_UNIX);
        MemorySegment.copy(bytes, 0, sa, JAVA_BYTE, SUN_PATH_OFFSET, bytes.length);
        return sa;
    }

    private static UnixDomainSocketAddress sender(MemorySegment sa, int len) {
        // unbound peers come back as just the family; abstract names start with a NUL
        if (len <= SUN_PATH_OFFSET || sa.get(JAVA_BYTE, SUN_PATH_OFFSET) == 0) {
            return UNNAMED;
        }
        int max = Math.min(len, SOCKADDR_UN_SIZE) - SUN_PATH_OFFSET;
        int n = 0;
        while (n < max && sa.get(JAVA_BYTE, SUN_PATH_OFFSET + n) != 0) {
            n++;
        }
        byte[] bytes = new byte[n];
        MemorySegment.copy(sa, JAVA_BYTE, SUN_PATH_OFFSET, bytes, 0, n);
        return UnixDomainSocketAddress.of(new String(bytes, PATH_CHARSET));
    }

    private static IOException failure(String op, String path, int errno) {
        return Posix.failure(op + " unix-dgram:" + path, errno);
    }

    private static Charset pathCharset() {
        for (String property : new String[] {"sun.jnu.encoding", "native.encoding"}) {
            String name = System.getProperty(property);
            try {
                if (name != null && Charset.isSupported(name)) {
                    return Charset.forName(name);
                }
            } catch (IllegalArgumentException badName) {
                // try the next
            }
        }
        return StandardCharsets.UTF_8;
    }
}
