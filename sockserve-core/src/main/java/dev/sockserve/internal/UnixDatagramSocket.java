package dev.sockserve.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ReadOnlyBufferException;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.Channel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.Pipe;
import java.nio.channels.SelectableChannel;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A Unix-domain datagram socket (AF_UNIX, SOCK_DGRAM), which the JDK lacks, called through the
 * Foreign Function &amp; Memory API. Linux on x86_64 and aarch64 only; elsewhere {@link #open()} and
 * {@link #isLive(Path)} throw {@link UnsupportedOperationException}. The calling module needs
 * {@code --enable-native-access=dev.sockserve}.
 *
 * <p>Thread-safety: {@link #receive}, {@link #send} and {@link #close} may run in different threads
 * at once. The descriptor is guarded by a read/write lock: every native call on it holds the read
 * lock, and {@code close} releases the number to the kernel only under the write lock, so a number
 * the kernel hands out again can never be used by an operation that started on this socket. Once
 * closed, operations throw {@link ClosedChannelException}.
 *
 * <p>The socket is always non-blocking. The only waiting calls are {@link #receive(ByteBuffer, Duration)}
 * and the {@link #readiness()} watcher; both block in {@code poll(2)} and therefore belong on platform
 * threads (a virtual thread blocked in a native call pins its carrier).
 */
public final class UnixDatagramSocket implements Channel {

    // Linux values; x86_64 and aarch64 share them (asm-generic).
    private static final int AF_UNIX = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_NONBLOCK = 04000;
    private static final int SOCK_CLOEXEC = 02000000;
    private static final int O_NONBLOCK = 04000;
    private static final int O_CLOEXEC = 02000000;
    private static final int MSG_TRUNC = 0x20;
    private static final int MSG_DONTWAIT = 0x40;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final short POLLIN = 0x1;
    private static final int SHUT_RDWR = 2;
    private static final int ENOENT = 2;
    private static final int EINTR = 4;
    private static final int EAGAIN = 11;
    private static final int ENOMEM = 12;
    private static final int EPROTOTYPE = 91;
    private static final int ECONNREFUSED = 111;

    // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
    private static final int SUN_PATH_OFFSET = 2;
    private static final int SUN_PATH_SIZE = 108;
    private static final int SOCKADDR_UN_SIZE = SUN_PATH_OFFSET + SUN_PATH_SIZE;
    private static final int MAX_PATH_BYTES = SUN_PATH_SIZE - 1; // room for the terminating NUL

    private static final String UNSUPPORTED = platformProblem();
    // Set while the handles bind when the JVM denies native access (--illegal-native-access=deny):
    // reported on every call, rather than one ExceptionInInitializerError and then NoClassDefFoundErrors.
    private static IllegalCallerException nativeAccessDenied;

    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    private static final MethodHandle SOCKET =
            downcall("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), true);
    private static final MethodHandle BIND =
            downcall("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT), true);
    private static final MethodHandle CONNECT =
            downcall("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT), true);
    private static final MethodHandle RECVFROM = downcall("recvfrom",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS), true);
    private static final MethodHandle SENDTO = downcall("sendto",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT), true);
    private static final MethodHandle POLL =
            downcall("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), true);
    private static final MethodHandle PIPE2 =
            downcall("pipe2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), true);
    private static final MethodHandle WRITE =
            downcall("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG), true);
    private static final MethodHandle SHUTDOWN =
            downcall("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), false);
    private static final MethodHandle CLOSE =
            downcall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT), false);
    private static final MethodHandle STRERROR =
            downcall("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT), false);

    // Paths travel to the kernel as bytes in the same encoding the JDK uses for file names.
    private static final Charset PATH_CHARSET = pathCharset();
    private static final UnixDomainSocketAddress UNNAMED = UnixDomainSocketAddress.of("");

    private final int fd;
    private final ReentrantReadWriteLock fdLock = new ReentrantReadWriteLock();
    private final Object stateLock = new Object(); // bind, readiness and close
    private volatile boolean closed;
    private volatile UnixDomainSocketAddress local;

    // readiness(): set once under stateLock; pipe is the publication point for the others
    private volatile Pipe pipe;
    private Thread watcher;
    private int stopRead = -1;
    private int stopWrite = -1;
    private final Object armLock = new Object();
    private boolean armed; // guarded by armLock

    private UnixDatagramSocket(int fd) {
        this.fd = fd;
    }

    /** A new unbound socket: socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC). */
    public static UnixDatagramSocket open() throws IOException {
        requireSupported();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CAPTURE);
            int fd = socket(st, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                throw failure("socket", "", errno(st));
            }
            return new UnixDatagramSocket(fd);
        }
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
                MemorySegment sa = sockaddr(arena, address, "bind");
                MemorySegment st = arena.allocate(CAPTURE);
                if (bind(st, fd, sa) < 0) {
                    throw failure("bind", address.getPath().toString(), errno(st));
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
        Pipe p = pipe;
        if (p != null) {
            drain(p);
        }
        begin();
        try (Arena arena = Arena.ofConfined()) {
            int room = dst.remaining();
            MemorySegment target = MemorySegment.ofBuffer(dst);
            // the kernel writes into native memory only; a heap buffer gets a bounce buffer
            MemorySegment buf = dst.isDirect() ? target : arena.allocate(Math.max(room, 1));
            MemorySegment from = arena.allocate(SOCKADDR_UN_SIZE, 2);
            MemorySegment fromLen = arena.allocate(JAVA_INT);
            MemorySegment st = arena.allocate(CAPTURE);
            long n;
            do {
                fromLen.set(JAVA_INT, 0, SOCKADDR_UN_SIZE);
                n = recvfrom(st, fd, buf, room, MSG_DONTWAIT | MSG_TRUNC, from, fromLen);
            } while (n < 0 && errno(st) == EINTR);
            if (n < 0) {
                int e = errno(st);
                if (e == EAGAIN) {
                    return null;
                }
                throw closed ? new AsynchronousCloseException() : failure("recvfrom", localName(), e);
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
            if (p != null) {
                rearm();
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
            MemorySegment st = arena.allocate(CAPTURE);
            long n;
            do {
                n = sendto(st, fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, sa);
            } while (n < 0 && errno(st) == EINTR);
            if (n < 0) {
                int e = errno(st);
                if (e == EAGAIN) {
                    return 0;
                }
                throw closed ? new AsynchronousCloseException() : failure("sendto", target.getPath().toString(), e);
            }
            src.position(src.position() + (int) n);
            return (int) n;
        } finally {
            end();
        }
    }

    /**
     * A non-blocking {@link Pipe.SourceChannel} that is readable whenever a datagram is waiting, so
     * this socket can share a {@link java.nio.channels.Selector} with JDK channels. Created on the
     * first call; later calls return the same channel. Keep it non-blocking: {@link #receive} drains it.
     *
     * <p>Behind it a platform daemon thread, {@code sockserve-unix-dgram-<path>-poll}, polls the
     * socket and an internal stop pipe. When the socket turns readable it writes one byte to the
     * pipe and then waits for a {@code receive} call before polling again: poll(2) is
     * level-triggered, and without that wait it would write a byte per loop until the datagram is
     * read. {@link #close()} wakes it through the stop pipe and joins it.
     */
    public SelectableChannel readiness() throws IOException {
        synchronized (stateLock) {
            if (closed) {
                throw new ClosedChannelException();
            }
            if (pipe != null) {
                return pipe.source();
            }
            int[] stop = pipe2();
            Pipe p = null;
            try {
                p = Pipe.open();
                p.source().configureBlocking(false);
                // one byte per receive() can never fill it, but a full pipe must not stall the watcher
                p.sink().configureBlocking(false);
            } catch (IOException | RuntimeException e) {
                closeFd(stop[0]);
                closeFd(stop[1]);
                if (p != null) {
                    closeQuietly(p);
                }
                throw e;
            }
            stopRead = stop[0];
            stopWrite = stop[1];
            String name = local == null ? "unbound" : local.getPath().toString();
            watcher = Thread.ofPlatform().daemon().name("sockserve-unix-dgram-" + name + "-poll").unstarted(this::watch);
            pipe = p;
            watcher.start();
            return p.source();
        }
    }

    /**
     * Probes a socket file: true when a server is bound to it (connect(2) from a fresh Unix datagram
     * socket succeeds, or is refused only because the live socket there is of another type),
     * false when the file is stale (ECONNREFUSED) or absent (ENOENT).
     */
    public static boolean isLive(Path path) throws IOException {
        requireSupported();
        UnixDomainSocketAddress address = UnixDomainSocketAddress.of(path);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sa = sockaddr(arena, address, "connect");
            MemorySegment st = arena.allocate(CAPTURE);
            int probe = socket(st, SOCK_DGRAM | SOCK_CLOEXEC);
            if (probe < 0) {
                throw failure("socket", path.toString(), errno(st));
            }
            try {
                int r;
                do {
                    r = connect(st, probe, sa);
                } while (r < 0 && errno(st) == EINTR);
                if (r == 0) {
                    return true;
                }
                int e = errno(st);
                if (e == ECONNREFUSED || e == ENOENT) {
                    return false;
                }
                if (e == EPROTOTYPE) {
                    return true; // a stream server lives there: not a stale file either
                }
                throw failure("connect", path.toString(), e);
            } finally {
                closeFd(probe);
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
            Thread w = watcher;
            if (w != null) {
                try (Arena arena = Arena.ofConfined()) {
                    write(arena.allocate(CAPTURE), stopWrite, arena.allocate(1), 1);
                }
                synchronized (armLock) {
                    armLock.notifyAll();
                }
            }
            // wakes a receive(dst, timeout) blocked in poll(2) on another thread, which holds the fd lock
            shutdown(fd, SHUT_RDWR);
            if (w != null) {
                join(w);
            }
            fdLock.writeLock().lock();
            try {
                closeFd(fd);
                if (w != null) {
                    closeFd(stopRead);
                    closeFd(stopWrite);
                }
            } finally {
                fdLock.writeLock().unlock();
            }
            Pipe p = pipe;
            if (p != null) {
                closeQuietly(p);
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
            MemorySegment pfd = arena.allocate(8, 4);
            pfd.set(JAVA_INT, 0, fd);
            pfd.set(JAVA_SHORT, 4, POLLIN);
            MemorySegment st = arena.allocate(CAPTURE);
            // EINTR and timeouts both return to the caller's loop, which recomputes what is left
            if (poll(st, pfd, 1, millis) < 0 && errno(st) != EINTR) {
                throw failure("poll", localName(), errno(st));
            }
        } finally {
            end();
        }
    }

    private void watch() {
        Pipe p = pipe;
        ByteBuffer one = ByteBuffer.allocate(1);
        try (Arena arena = Arena.ofConfined()) {
            // struct pollfd { int fd; short events; short revents; } x 2
            MemorySegment pfds = arena.allocate(16, 4);
            pfds.set(JAVA_INT, 0, fd);
            pfds.set(JAVA_SHORT, 4, POLLIN);
            pfds.set(JAVA_INT, 8, stopRead);
            pfds.set(JAVA_SHORT, 12, POLLIN);
            MemorySegment st = arena.allocate(CAPTURE);
            while (true) {
                pfds.set(JAVA_SHORT, 6, (short) 0);
                pfds.set(JAVA_SHORT, 14, (short) 0);
                int n;
                fdLock.readLock().lock();
                try {
                    if (closed) {
                        return;
                    }
                    n = poll(st, pfds, 2, -1);
                } finally {
                    fdLock.readLock().unlock();
                }
                if (n < 0) {
                    int e = errno(st);
                    if (e == EINTR) {
                        continue;
                    }
                    if (e == ENOMEM) {
                        Thread.sleep(10); // the kernel's pollfd copy is short of memory: a passing state
                        continue;
                    }
                    System.getLogger(UnixDatagramSocket.class.getName()).log(System.Logger.Level.ERROR,
                            failure("poll", localName(), e).getMessage() + "; readiness watcher stopped");
                    return;
                }
                if (pfds.get(JAVA_SHORT, 14) != 0 || closed) {
                    return;
                }
                if (pfds.get(JAVA_SHORT, 6) == 0) {
                    continue;
                }
                synchronized (armLock) {
                    armed = false; // a receive() from before this byte must not count as its answer
                }
                p.sink().write(one.clear());
                synchronized (armLock) {
                    while (!armed && !closed) {
                        armLock.wait();
                    }
                }
            }
        } catch (IOException | InterruptedException e) {
            // the sink closes only when the socket does; either way the watcher's work is over
        }
    }

    private static void drain(Pipe p) {
        ByteBuffer sink = ByteBuffer.allocate(16);
        try {
            while (p.source().read(sink.clear()) > 0) {
                // a byte per signal: keep reading until the pipe is empty
            }
        } catch (IOException e) {
            // the caller closed the readiness channel itself; there is nothing left to drain
        }
    }

    private void rearm() {
        synchronized (armLock) {
            armed = true;
            armLock.notifyAll();
        }
    }

    private static void join(Thread w) {
        boolean interrupted = false;
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (w.isAlive()) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                break;
            }
            try {
                w.join(Duration.ofNanos(left));
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static void closeQuietly(Pipe p) {
        try {
            p.sink().close();
        } catch (IOException ignored) {
            // closing a pipe end only fails on an already broken descriptor
        }
        try {
            p.source().close();
        } catch (IOException ignored) {
            // as above
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
        sa.set(JAVA_SHORT, 0, (short) AF_UNIX);
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
        return new IOException(op + " unix-dgram:" + path + ": " + strerror(errno));
    }

    private static int[] pipe2() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(JAVA_INT, 2);
            MemorySegment st = arena.allocate(CAPTURE);
            int r;
            try {
                r = (int) PIPE2.invokeExact(st, fds, O_NONBLOCK | O_CLOEXEC);
            } catch (Throwable t) {
                throw unchecked(t);
            }
            if (r < 0) {
                throw failure("pipe2", "", errno(st));
            }
            return new int[] {fds.getAtIndex(JAVA_INT, 0), fds.getAtIndex(JAVA_INT, 1)};
        }
    }

    // ---- libc ------------------------------------------------------------------------------------

    private static String platformProblem() {
        String os = System.getProperty("os.name", "?");
        String arch = System.getProperty("os.arch", "?");
        boolean linux = os.equals("Linux");
        boolean knownArch = arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64");
        return linux && knownArch ? null
                : "Unix datagram sockets are implemented for Linux on x86_64 and aarch64 only, not " + os + " on " + arch
                        + " (the sockaddr_un layout and errno values are Linux-specific)";
    }

    private static void requireSupported() {
        if (UNSUPPORTED != null) {
            throw new UnsupportedOperationException(UNSUPPORTED);
        }
        if (nativeAccessDenied != null) {
            throw new IllegalCallerException("Unix datagram sockets call libc through FFM: run with"
                    + " --enable-native-access=dev.sockserve (ALL-UNNAMED on the class path)", nativeAccessDenied);
        }
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

    @SuppressWarnings("restricted") // the module runs with --enable-native-access=dev.sockserve
    private static MethodHandle downcall(String name, FunctionDescriptor descriptor, boolean errno) {
        if (UNSUPPORTED != null) {
            return null; // never called: open() and isLive() refuse first (requireSupported)
        }
        Linker linker = Linker.nativeLinker();
        MemorySegment symbol = linker.defaultLookup().find(name)
                .orElseThrow(() -> new UnsupportedOperationException("libc has no " + name + "()"));
        try {
            return errno
                    ? linker.downcallHandle(symbol, descriptor, Linker.Option.captureCallState("errno"))
                    : linker.downcallHandle(symbol, descriptor);
        } catch (IllegalCallerException denied) {
            nativeAccessDenied = denied;
            return null;
        }
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    @SuppressWarnings("restricted") // strerror returns a pointer FFM cannot size: read up to its NUL
    private static String strerror(int errno) {
        try {
            MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
            return text.equals(MemorySegment.NULL) ? "errno " + errno : text.reinterpret(1024).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    private static RuntimeException unchecked(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t); // downcalls declare Throwable but throw nothing checked
    }

    private static int socket(MemorySegment st, int type) {
        try {
            return (int) SOCKET.invokeExact(st, AF_UNIX, type, 0);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    private static int bind(MemorySegment st, int fd, MemorySegment sa) {
        try {
            return (int) BIND.invokeExact(st, fd, sa, (int) sa.byteSize());
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    private static int connect(MemorySegment st, int fd, MemorySegment sa) {
        try {
            return (int) CONNECT.invokeExact(st, fd, sa, (int) sa.byteSize());
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    private static long recvfrom(MemorySegment st, int fd, MemorySegment buf, long len, int flags,
            MemorySegment from, MemorySegment fromLen) {
        try {
            return (long) RECVFROM.invokeExact(st, fd, buf, len, flags, from, fromLen);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    private static long sendto(MemorySegment st, int fd, MemorySegment buf, long len, int flags, MemorySegment to) {
        try {
            return (long) SENDTO.invokeExact(st, fd, buf, len, flags, to, (int) to.byteSize());
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    private static int poll(MemorySegment st, MemorySegment fds, long nfds, int timeoutMillis) {
        try {
            return (int) POLL.invokeExact(st, fds, nfds, timeoutMillis);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    private static long write(MemorySegment st, int fd, MemorySegment buf, long len) {
        try {
            return (long) WRITE.invokeExact(st, fd, buf, len);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    private static void shutdown(int fd, int how) {
        try {
            int ignored = (int) SHUTDOWN.invokeExact(fd, how);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    private static void closeFd(int fd) {
        try {
            // Linux releases the number even when close fails (EINTR included): never retry
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }
}
