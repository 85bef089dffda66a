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
import java.util.ArrayList;
import java.util.List;

/**
 * The one place sockserve calls the C library, through the Foreign Function &amp; Memory API: the Unix
 * datagram socket ({@link UnixDatagramSocket}), child processes ({@link ChildProcesses}) and the few
 * descriptor calls they share. One linker set-up, one errno capture, one {@code strerror}, the Linux
 * constants and the {@code pollfd} layout once.
 *
 * <p>Every call returns its result, or {@code -errno} when it failed (the shape of Netty's native
 * transport); {@link #check} turns a failure into an {@link IOException} naming the call and the
 * system's reason. Linux only (x86_64 and aarch64 share these values). Where the platform is another,
 * or the JVM denies native access, {@link #requireAvailable()} and every call throw an exception whose
 * message names the cause and what to do, never an {@link ExceptionInInitializerError}.
 */
@SuppressWarnings("restricted") // native access is the point of this class; --enable-native-access grants it
public final class Posix {

    // errno values (asm-generic)
    public static final int ENOENT = 2;
    public static final int ESRCH = 3;
    public static final int EINTR = 4;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EPROTOTYPE = 91;
    public static final int ECONNREFUSED = 111;

    public static final int SIGKILL = 9;
    public static final int SIGTERM = 15;

    public static final int AF_UNIX = 1;
    public static final int SOCK_DGRAM = 2;
    public static final int SOCK_NONBLOCK = 04000;
    public static final int SOCK_CLOEXEC = 02000000;
    public static final int O_NONBLOCK = 04000;
    public static final int O_CLOEXEC = 02000000;
    public static final int MSG_TRUNC = 0x20;
    public static final int MSG_DONTWAIT = 0x40;
    public static final int MSG_NOSIGNAL = 0x4000;
    public static final int SHUT_RDWR = 2;
    public static final short POLLIN = 0x1;

    private static final int F_GETFL = 3;
    private static final int F_SETFL = 4;
    private static final int EFD_NONBLOCK = 04000;
    private static final int EFD_CLOEXEC = 02000000;
    private static final int WNOHANG = 1;
    private static final int PR_SET_CHILD_SUBREAPER = 36;
    private static final int SOL_SOCKET = 1;
    private static final int SO_PEERCRED = 17;
    private static final int SO_TYPE = 3;
    private static final int SO_DOMAIN = 39;
    private static final int IPPROTO_TCP = 6;
    private static final int TCP_INFO = 11;
    private static final int F_SETFD = 2;
    private static final int FD_CLOEXEC = 1;
    // struct tcp_info's offsets (linux/tcp.h, the same on x86_64 and aarch64)
    private static final long TCP_INFO_SIZE = 232;
    private static final long TCPI_BYTES_RECEIVED = 128;
    private static final long TCPI_NOTSENT_BYTES = 144;
    private static final long TCPI_BYTES_SENT = 200;
    private static final long TCPI_BYTES_RETRANS = 208;
    // tcpi_state (offset 0) once the peer's FIN arrived
    private static final int TCP_TIME_WAIT = 6;
    private static final int TCP_CLOSE_WAIT = 8;
    private static final int TCP_LAST_ACK = 9;
    private static final int TCP_CLOSING = 11;

    private static final int SO_ATTACH_FILTER = 26;
    private static final short POSIX_SPAWN_SETPGROUP = 0x02;
    private static final short POSIX_SPAWN_SETSIGDEF = 0x04;
    private static final short POSIX_SPAWN_SETSIGMASK = 0x08;
    // glibc's opaque spawn types, with room to spare (x86-64: 336, 80 and 128 bytes)
    private static final long SPAWNATTR_SIZE = 512;
    private static final long FILE_ACTIONS_SIZE = 256;
    private static final long SIGSET_SIZE = 256;

    /** {@code struct pollfd { int fd; short events; short revents; }}. */
    private static final StructLayout POLLFD = MemoryLayout.structLayout(JAVA_INT.withName("fd"),
            JAVA_SHORT.withName("events"), JAVA_SHORT.withName("revents"));
    private static final long POLLFD_FD = POLLFD.byteOffset(MemoryLayout.PathElement.groupElement("fd"));
    private static final long POLLFD_EVENTS = POLLFD.byteOffset(MemoryLayout.PathElement.groupElement("events"));
    private static final long POLLFD_REVENTS = POLLFD.byteOffset(MemoryLayout.PathElement.groupElement("revents"));

    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    private static final String UNAVAILABLE; // why the C library cannot be called here; null when it can
    private static final boolean DENIED; // UNAVAILABLE because the JVM denies native access
    private static final Calls C; // null when UNAVAILABLE is set

    static {
        String problem = platformProblem();
        boolean denied = false;
        Calls calls = null;
        if (problem == null) {
            try {
                calls = new Calls();
            } catch (IllegalCallerException e) {
                denied = true;
                problem = "sockserve calls the C library through FFM (Unix datagram sockets, child processes), "
                        + "and this JVM denies it native access: run it with --enable-native-access=dev.sockserve "
                        + "(ALL-UNNAMED on the class path)";
            } catch (RuntimeException e) {
                problem = "cannot bind the C library: " + e.getMessage();
            }
        }
        UNAVAILABLE = problem;
        DENIED = denied;
        C = calls;
    }

    private Posix() {
    }

    /** The downcall handles, bound once; a class of its own so that binding can fail with a message. */
    private static final class Calls {
        final Linker linker = Linker.nativeLinker();
        final List<String> missing = new ArrayList<>();

        final MethodHandle socket = errno("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        final MethodHandle bind = errno("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        final MethodHandle connect = errno("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        final MethodHandle recvfrom = errno("recvfrom",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS));
        final MethodHandle sendto = errno("sendto",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
        final MethodHandle shutdown = errno("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
        final MethodHandle setsockopt = errno("setsockopt",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        final MethodHandle getsockopt = errno("getsockopt",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        final MethodHandle getsockname = errno("getsockname", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        final MethodHandle poll = errno("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
        final MethodHandle pipe2 = errno("pipe2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        final MethodHandle eventfd = errno("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
        final MethodHandle read = errno("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
        final MethodHandle write = errno("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
        final MethodHandle close = errno("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        final MethodHandle fcntlGet = errno("fcntl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
        final MethodHandle fcntlSet = errno("fcntl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
                Linker.Option.firstVariadicArg(2));
        final MethodHandle kill = errno("kill", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
        final MethodHandle waitpid = errno("waitpid", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
        final MethodHandle pidfdOpen = errno("pidfd_open", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
        final MethodHandle prctl = errno("prctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG),
                Linker.Option.firstVariadicArg(1));
        final MethodHandle strerror = plain("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));

        // the posix_spawn family returns its error number itself
        final MethodHandle spawn = plain("posix_spawn",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        final MethodHandle faInit = plain("posix_spawn_file_actions_init", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        final MethodHandle faDestroy = plain("posix_spawn_file_actions_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        final MethodHandle faDup2 = plain("posix_spawn_file_actions_adddup2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        // glibc 2.34+: closes every descriptor from 3 up in the child, so it holds nothing but its own
        final MethodHandle faCloseFrom = plain("posix_spawn_file_actions_addclosefrom_np",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        final MethodHandle attrInit = plain("posix_spawnattr_init", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        final MethodHandle attrDestroy = plain("posix_spawnattr_destroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        final MethodHandle attrFlags = plain("posix_spawnattr_setflags", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_SHORT));
        final MethodHandle attrPgroup = plain("posix_spawnattr_setpgroup", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        final MethodHandle attrSigmask = plain("posix_spawnattr_setsigmask", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        final MethodHandle attrSigdefault = plain("posix_spawnattr_setsigdefault",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        final MethodHandle sigemptyset = plain("sigemptyset", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        final MethodHandle sigfillset = plain("sigfillset", FunctionDescriptor.of(JAVA_INT, ADDRESS));

        /** A function that returns -1 and sets errno: its handle takes the call-state segment first. */
        private MethodHandle errno(String name, FunctionDescriptor descriptor, Linker.Option... options) {
            Linker.Option[] all = java.util.Arrays.copyOf(options, options.length + 1);
            all[options.length] = Linker.Option.captureCallState("errno");
            return bindTo(name, descriptor, all);
        }

        private MethodHandle plain(String name, FunctionDescriptor descriptor) {
            return bindTo(name, descriptor);
        }

        /** Null for a function this C library lacks (an older glibc): only the callers that need it fail. */
        private MethodHandle bindTo(String name, FunctionDescriptor descriptor, Linker.Option... options) {
            var symbol = linker.defaultLookup().find(name);
            if (symbol.isEmpty()) {
                missing.add(name);
                return null;
            }
            return linker.downcallHandle(symbol.get(), descriptor, options);
        }
    }

    private static String platformProblem() {
        String os = System.getProperty("os.name", "?");
        String arch = System.getProperty("os.arch", "?");
        boolean knownArch = arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64");
        return os.equals("Linux") && knownArch ? null
                : "Unix datagram sockets and child processes per request are implemented for Linux on x86_64 and "
                        + "aarch64 only, not " + os + " on " + arch + " (they call the C library with Linux's constants)";
    }

    /**
     * Throws, with the cause and what to do, when the C library cannot be called here: an
     * {@link UnsupportedOperationException} on another platform, an {@link IllegalCallerException} when
     * the JVM denies native access.
     */
    public static void requireAvailable() {
        if (UNAVAILABLE != null) {
            throw DENIED ? new IllegalCallerException(UNAVAILABLE)
                    : new UnsupportedOperationException(UNAVAILABLE);
        }
    }

    /** As {@link #requireAvailable()}, and fails naming the missing function when the C library is too old. */
    public static void requireFunctions(String why, String... names) {
        requireAvailable();
        for (String name : names) {
            if (C.missing.contains(name)) {
                throw new UnsupportedOperationException(why + " needs " + name + "() from the C library, which this "
                        + "one lacks (glibc 2.36 or newer has it)");
            }
        }
    }

    private static Calls calls() {
        requireAvailable();
        return C;
    }

    // ---- errors -------------------------------------------------------------------------------------

    public static String strerror(int errno) {
        try {
            MemorySegment text = (MemorySegment) calls().strerror.invokeExact(errno);
            return text.equals(MemorySegment.NULL) ? "errno " + errno : text.reinterpret(1024).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    /** {@code what: <the system's reason>}. */
    public static IOException failure(String what, int errno) {
        return new IOException(what + ": " + strerror(errno));
    }

    /** Returns {@code result}, or throws {@link #failure} when it is a negative errno. */
    public static long check(String what, long result) throws IOException {
        if (result < 0) {
            throw failure(what, (int) -result);
        }
        return result;
    }

    private static int result(int r, MemorySegment state) {
        return r < 0 ? -(int) ERRNO.get(state, 0L) : r;
    }

    private static long result(long r, MemorySegment state) {
        return r < 0 ? -(int) ERRNO.get(state, 0L) : r;
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

    // ---- descriptors --------------------------------------------------------------------------------

    /** close(2). Linux releases the number even when close fails (EINTR included): never retry. */
    public static void close(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) calls().close.invokeExact(arena.allocate(CALL_STATE), fd);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    public static long read(int fd, MemorySegment buffer, long length) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            return result((long) calls().read.invokeExact(st, fd, buffer, length), st);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    public static long write(int fd, MemorySegment buffer, long length) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            return result((long) calls().write.invokeExact(st, fd, buffer, length), st);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /** pipe2(2): {read end, write end}. */
    public static int[] pipe(int flags) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            MemorySegment fds = arena.allocate(JAVA_INT, 2);
            check("pipe2", result((int) calls().pipe2.invokeExact(st, fds, flags), st));
            return new int[] {fds.getAtIndex(JAVA_INT, 0), fds.getAtIndex(JAVA_INT, 1)};
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /** Clears {@code O_NONBLOCK}: a program expects blocking standard descriptors, as after {@code accept}. */
    public static void makeBlocking(int fd) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            int flags = (int) check("fcntl(F_GETFL)", result((int) calls().fcntlGet.invokeExact(st, fd, F_GETFL), st));
            if ((flags & O_NONBLOCK) != 0) {
                check("fcntl(F_SETFL)", result((int) C.fcntlSet.invokeExact(st, fd, F_SETFL, flags & ~O_NONBLOCK), st));
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    public static int eventFd() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            return (int) check("eventfd", result((int) calls().eventfd.invokeExact(st, 0, EFD_NONBLOCK | EFD_CLOEXEC), st));
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /** Adds one to an eventfd, or writes one byte to a pipe: wakes whoever polls it. */
    public static void signal(int fd, int bytes) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment one = arena.allocate(JAVA_LONG);
            one.set(JAVA_LONG, 0, 1L);
            long ignored = write(fd, one, bytes);
        }
    }

    /** Reads an eventfd's count (or up to 8 bytes of a pipe), without waiting. */
    public static void drain(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            long ignored = read(fd, arena.allocate(JAVA_LONG), 8);
        }
    }

    /** {@code struct pollfd[n]} in an arena: the descriptors to wait on, all for {@code POLLIN}. */
    public static final class PollSet {
        private final MemorySegment fds;
        private final int count;

        public PollSet(Arena arena, int count) {
            this.fds = arena.allocate(POLLFD, count);
            this.count = count;
        }

        public void set(int i, int fd) {
            fds.set(JAVA_INT, i * POLLFD.byteSize() + POLLFD_FD, fd);
            fds.set(JAVA_SHORT, i * POLLFD.byteSize() + POLLFD_EVENTS, POLLIN);
        }

        /**
         * poll(2): waits until a descriptor is readable (or hung up, or in error) or {@code timeoutMillis}
         * passed (-1: for ever). Blocks in a native call: platform threads only.
         *
         * @return how many are ready, or -errno
         */
        public int poll(int timeoutMillis) {
            for (int i = 0; i < count; i++) {
                fds.set(JAVA_SHORT, i * POLLFD.byteSize() + POLLFD_REVENTS, (short) 0);
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment st = arena.allocate(CALL_STATE);
                return result((int) calls().poll.invokeExact(st, fds, (long) count, timeoutMillis), st);
            } catch (Throwable t) {
                throw unchecked(t);
            }
        }

        public boolean ready(int i) {
            return fds.get(JAVA_SHORT, i * POLLFD.byteSize() + POLLFD_REVENTS) != 0;
        }
    }

    // ---- sockets ------------------------------------------------------------------------------------

    public static int socket(int domain, int type) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            return result((int) calls().socket.invokeExact(st, domain, type, 0), st);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /** bind(2); {@code address} is sized to its socklen_t. */
    public static int bind(int fd, MemorySegment address) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            return result((int) calls().bind.invokeExact(st, fd, address, (int) address.byteSize()), st);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /** connect(2), retried on EINTR; {@code address} is sized to its socklen_t. */
    public static int connect(int fd, MemorySegment address) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            int r;
            do {
                r = result((int) calls().connect.invokeExact(st, fd, address, (int) address.byteSize()), st);
            } while (r == -EINTR);
            return r;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /** recvfrom(2), retried on EINTR: the datagram's real length (MSG_TRUNC), or -errno. */
    public static long recvfrom(int fd, MemorySegment buffer, long length, int flags, MemorySegment from,
            MemorySegment fromLength) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            int room = fromLength.get(JAVA_INT, 0);
            long n;
            do {
                fromLength.set(JAVA_INT, 0, room);
                n = result((long) calls().recvfrom.invokeExact(st, fd, buffer, length, flags, from, fromLength), st);
            } while (n == -EINTR);
            return n;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /** sendto(2), retried on EINTR; {@code to} is sized to its socklen_t. */
    public static long sendto(int fd, MemorySegment buffer, long length, int flags, MemorySegment to) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            long n;
            do {
                n = result((long) calls().sendto.invokeExact(st, fd, buffer, length, flags, to, (int) to.byteSize()), st);
            } while (n == -EINTR);
            return n;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    public static void shutdown(int fd, int how) {
        try (Arena arena = Arena.ofConfined()) {
            int ignored = (int) calls().shutdown.invokeExact(arena.allocate(CALL_STATE), fd, how);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /** The peer of a Unix socket: pid, uid, gid ({@code SO_PEERCRED}). */
    public record PeerCredentials(int pid, int uid, int gid) {
    }

    public static PeerCredentials peerCredentials(int fd) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cred = arena.allocate(12, 4);
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, "SO_PEERCRED");
            return new PeerCredentials(cred.get(JAVA_INT, 0), cred.get(JAVA_INT, 4), cred.get(JAVA_INT, 8));
        }
    }

    /** A socket's family and type ({@code SO_DOMAIN}, {@code SO_TYPE}): {@link #AF_UNIX}, {@link #SOCK_DGRAM}... */
    public record SocketKind(int domain, int type) {
    }

    public static SocketKind socketKind(int fd) throws IOException {
        return new SocketKind(intOption(fd, SOL_SOCKET, SO_DOMAIN, "SO_DOMAIN"), intOption(fd, SOL_SOCKET, SO_TYPE, "SO_TYPE"));
    }

    private static int intOption(int fd, int level, int name, String what) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(JAVA_INT);
            getsockopt(fd, level, name, value, what);
            return value.get(JAVA_INT, 0);
        }
    }

    /** getsockopt(2) into {@code value}, sized to what the option may fill: the length it filled. */
    private static int getsockopt(int fd, int level, int name, MemorySegment value, String what) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            MemorySegment length = arena.allocate(JAVA_INT);
            length.set(JAVA_INT, 0, (int) value.byteSize());
            check("getsockopt(" + what + ")",
                    result((int) calls().getsockopt.invokeExact(st, fd, level, name, value, length), st));
            return length.get(JAVA_INT, 0);
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /** getsockname(2) into {@code address}, a segment of the family's largest size: the length it filled. */
    public static int socketName(int fd, MemorySegment address) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            MemorySegment length = arena.allocate(JAVA_INT);
            length.set(JAVA_INT, 0, (int) address.byteSize());
            check("getsockname", result((int) calls().getsockname.invokeExact(st, fd, address, length), st));
            return length.get(JAVA_INT, 0);
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /** Sets {@code O_NONBLOCK} and {@code FD_CLOEXEC} on a descriptor this process inherited. */
    public static void makeNonBlockingCloseOnExec(int fd) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            int flags = (int) check("fcntl(F_GETFL)", result((int) calls().fcntlGet.invokeExact(st, fd, F_GETFL), st));
            check("fcntl(F_SETFL)", result((int) C.fcntlSet.invokeExact(st, fd, F_SETFL, flags | O_NONBLOCK), st));
            check("fcntl(F_SETFD)", result((int) C.fcntlSet.invokeExact(st, fd, F_SETFD, FD_CLOEXEC), st));
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /**
     * A TCP connection's bytes so far, from {@code TCP_INFO} (Linux 4.19 or newer): received is
     * {@code tcpi_bytes_received} (every byte that arrived in order, read or not), less the one sequence number
     * a FIN from the peer takes; sent is every byte written to it: {@code tcpi_bytes_sent} less
     * {@code tcpi_bytes_retrans} (each byte once) plus {@code tcpi_notsent_bytes} (still queued).
     */
    public record TcpBytes(long received, long sent) {
    }

    public static TcpBytes tcpBytes(int fd) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(TCP_INFO_SIZE, 8);
            if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, "TCP_INFO") < TCPI_BYTES_RETRANS + 8) {
                throw new IOException("getsockopt(TCP_INFO): this kernel reports no byte counts (Linux 4.19 does)");
            }
            int state = info.get(JAVA_BYTE, 0);
            boolean finReceived = state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK || state == TCP_CLOSING
                    || state == TCP_TIME_WAIT;
            long received = info.get(JAVA_LONG, TCPI_BYTES_RECEIVED) - (finReceived ? 1 : 0);
            long sent = info.get(JAVA_LONG, TCPI_BYTES_SENT) - info.get(JAVA_LONG, TCPI_BYTES_RETRANS)
                    + Integer.toUnsignedLong(info.get(JAVA_INT, TCPI_NOTSENT_BYTES));
            return new TcpBytes(received, sent);
        }
    }

    /** One classic BPF instruction ({@code struct sock_filter}). */
    public record Bpf(int code, int jt, int jf, int k) {
    }

    /**
     * Attaches a classic BPF program to a socket ({@code SO_ATTACH_FILTER}): a packet for which it returns 0
     * is dropped before the socket sees it. On a listening TCP socket it runs on the TCP header of every
     * packet that reaches the listener (SYNs and handshake ACKs); on a UDP socket, on each datagram.
     */
    public static void attachFilter(int fd, java.util.List<Bpf> program) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            MemorySegment code = arena.allocate(8L * program.size(), 8);
            for (int i = 0; i < program.size(); i++) {
                Bpf b = program.get(i);
                code.set(JAVA_SHORT, 8L * i, (short) b.code());
                code.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 8L * i + 2, (byte) b.jt());
                code.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 8L * i + 3, (byte) b.jf());
                code.set(JAVA_INT, 8L * i + 4, b.k());
            }
            MemorySegment fprog = arena.allocate(16, 8); // struct sock_fprog: unsigned short len; filter pointer at 8
            fprog.set(JAVA_SHORT, 0, (short) program.size());
            fprog.set(ADDRESS, 8, code);
            check("setsockopt(SO_ATTACH_FILTER)",
                    result((int) calls().setsockopt.invokeExact(st, fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, 16), st));
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    // ---- processes ----------------------------------------------------------------------------------

    /**
     * Starts {@code executable} (a path: searched once by the caller, not per request) with {@code argv} and
     * {@code environment} ({@code NAME=value}): {@code stdin} becomes its descriptor 0 and {@code stdout} its
     * descriptor 1, standard error is shared with this process, and it holds no other descriptor. It starts
     * with the default signal dispositions (the JVM ignores or catches some), an empty signal mask, and in a
     * process group of its own whose id is its pid, so that {@link #kill} of {@code -pid} reaches whatever it
     * starts, and Ctrl-C in the server's terminal reaches the server only.
     *
     * @return the child's pid
     */
    public static int spawn(String executable, List<String> argv, List<String> environment, int stdin, int stdout)
            throws IOException {
        requireFunctions("starting a child process", "posix_spawn_file_actions_addclosefrom_np");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment actions = arena.allocate(FILE_ACTIONS_SIZE, 16);
            MemorySegment attr = arena.allocate(SPAWNATTR_SIZE, 16);
            MemorySegment noSignals = arena.allocate(SIGSET_SIZE, 16);
            MemorySegment allSignals = arena.allocate(SIGSET_SIZE, 16);
            spawnCheck("posix_spawn_file_actions_init", (int) C.faInit.invokeExact(actions));
            try {
                spawnCheck("posix_spawnattr_init", (int) C.attrInit.invokeExact(attr));
                try {
                    spawnCheck("adddup2", (int) C.faDup2.invokeExact(actions, stdin, 0));
                    spawnCheck("adddup2", (int) C.faDup2.invokeExact(actions, stdout, 1));
                    spawnCheck("addclosefrom", (int) C.faCloseFrom.invokeExact(actions, 3));
                    spawnCheck("sigemptyset", (int) C.sigemptyset.invokeExact(noSignals));
                    spawnCheck("sigfillset", (int) C.sigfillset.invokeExact(allSignals));
                    spawnCheck("setsigmask", (int) C.attrSigmask.invokeExact(attr, noSignals));
                    spawnCheck("setsigdefault", (int) C.attrSigdefault.invokeExact(attr, allSignals));
                    spawnCheck("setpgroup", (int) C.attrPgroup.invokeExact(attr, 0));
                    spawnCheck("setflags", (int) C.attrFlags.invokeExact(attr,
                            (short) (POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)));
                    MemorySegment pid = arena.allocate(JAVA_INT);
                    int error = (int) C.spawn.invokeExact(pid, arena.allocateFrom(executable), actions, attr,
                            cStrings(arena, argv), cStrings(arena, environment));
                    if (error != 0) {
                        throw failure("cannot run " + executable, error);
                    }
                    return pid.get(JAVA_INT, 0);
                } finally {
                    int ignored = (int) C.attrDestroy.invokeExact(attr);
                }
            } finally {
                int ignored = (int) C.faDestroy.invokeExact(actions);
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    private static void spawnCheck(String what, int error) throws IOException {
        if (error != 0) {
            throw failure(what, error);
        }
    }

    private static MemorySegment cStrings(Arena arena, List<String> strings) {
        MemorySegment array = arena.allocate(ADDRESS, strings.size() + 1);
        for (int i = 0; i < strings.size(); i++) {
            array.setAtIndex(ADDRESS, i, arena.allocateFrom(strings.get(i)));
        }
        array.setAtIndex(ADDRESS, strings.size(), MemorySegment.NULL);
        return array;
    }

    /** pidfd_open(2): a descriptor that turns readable when the process ends. */
    public static int pidfdOpen(int pid) throws IOException {
        requireFunctions("watching a child process", "pidfd_open");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            return (int) check("pidfd_open(" + pid + ")", result((int) C.pidfdOpen.invokeExact(st, pid, 0), st));
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /**
     * {@code prctl(PR_SET_CHILD_SUBREAPER, 1)}: a process orphaned anywhere below this one is re-parented to
     * this one rather than to PID 1, so this process can still see, signal and reap it.
     */
    public static void becomeSubreaper() throws IOException {
        requireFunctions("adopting orphaned child processes", "prctl");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            check("prctl(PR_SET_CHILD_SUBREAPER)", result((int) C.prctl.invokeExact(st, PR_SET_CHILD_SUBREAPER, 1L), st));
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /** {@code waitpid(pid, WNOHANG)}: the raw wait status, or -1 when the child has not ended yet. */
    public static int reap(int pid) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            MemorySegment status = arena.allocate(JAVA_INT);
            int r;
            do {
                r = result((int) calls().waitpid.invokeExact(st, pid, status, WNOHANG), st);
            } while (r == -EINTR);
            check("waitpid(" + pid + ")", r);
            return r == pid ? status.get(JAVA_INT, 0) : -1;
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }

    /** kill(2): a negative {@code pid} is a process group. 0, or -errno (ESRCH: nothing left to signal). */
    public static int kill(int pid, int signal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(CALL_STATE);
            return result((int) calls().kill.invokeExact(st, pid, signal), st);
        } catch (Throwable t) {
            throw unchecked(t);
        }
    }
}
