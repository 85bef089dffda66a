package dev.sockserve.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
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
import java.util.List;

/**
 * The few Linux C library calls that a child process per request ({@code sockserve exec}, the
 * {@code processes()} policy) needs and the JDK lacks, through the Foreign Function
 * &amp; Memory API: {@code posix_spawnp} with file actions (the child gets the accepted socket itself as
 * its standard input and output, and no other descriptor), {@code pidfd_open} and {@code poll} to learn
 * of a child's end on one platform thread, {@code waitpid} to reap it, {@code kill}, and
 * {@code SO_PEERCRED} for Unix clients. Every call is short and non-blocking except {@code poll}, which
 * only {@link ChildReaper}'s platform thread makes.
 */
@SuppressWarnings("restricted") // native access is the point of this class; the JVM flag grants it
public final class Posix {

    public static final int SIGKILL = 9;
    public static final int SIGTERM = 15;
    public static final int POLLIN = 1;

    private static final int F_GETFL = 3;
    private static final int F_SETFL = 4;
    private static final int O_NONBLOCK = 0x800;
    private static final int EFD_NONBLOCK = 0x800;
    private static final int EFD_CLOEXEC = 0x80000;
    private static final int WNOHANG = 1;
    private static final int EINTR = 4;
    private static final short POSIX_SPAWN_SETPGROUP = 0x02;
    private static final short POSIX_SPAWN_SETSIGDEF = 0x04;
    private static final short POSIX_SPAWN_SETSIGMASK = 0x08;
    private static final int SOL_SOCKET = 1;
    private static final int SO_PEERCRED = 17;
    private static final int SO_ATTACH_FILTER = 26;
    // glibc's opaque types, with room to spare (x86-64: 336, 80 and 128 bytes)
    private static final long SPAWNATTR_SIZE = 512;
    private static final long FILE_ACTIONS_SIZE = 256;
    private static final long SIGSET_SIZE = 256;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    private static final MethodHandle POSIX_SPAWN = errnoReturning("posix_spawn",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    private static final MethodHandle FA_INIT = errnoReturning("posix_spawn_file_actions_init",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle FA_DESTROY = errnoReturning("posix_spawn_file_actions_destroy",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle FA_ADDDUP2 = errnoReturning("posix_spawn_file_actions_adddup2",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    // glibc 2.34+: closes every descriptor from 3 up in the child, so it holds nothing but its connection
    private static final MethodHandle FA_ADDCLOSEFROM = errnoReturning("posix_spawn_file_actions_addclosefrom_np",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle ATTR_INIT = errnoReturning("posix_spawnattr_init",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle ATTR_DESTROY = errnoReturning("posix_spawnattr_destroy",
            FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle ATTR_SETFLAGS = errnoReturning("posix_spawnattr_setflags",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_SHORT));
    private static final MethodHandle ATTR_SETPGROUP = errnoReturning("posix_spawnattr_setpgroup",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle ATTR_SETSIGMASK = errnoReturning("posix_spawnattr_setsigmask",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle ATTR_SETSIGDEFAULT = errnoReturning("posix_spawnattr_setsigdefault",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SIGEMPTYSET = errnoReturning("sigemptyset", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle SIGFILLSET = errnoReturning("sigfillset", FunctionDescriptor.of(JAVA_INT, ADDRESS));

    private static final MethodHandle FCNTL_GET = settingErrno("fcntl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle FCNTL_SET = settingErrno("fcntl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle PIDFD_OPEN = settingErrno("pidfd_open", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle WAITPID = settingErrno("waitpid", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle KILL = settingErrno("kill", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle POLL = settingErrno("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle EVENTFD = settingErrno("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle READ = settingErrno("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = settingErrno("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle CLOSE = settingErrno("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle GETSOCKOPT = settingErrno("getsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SETSOCKOPT = settingErrno("setsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle STRERROR = plain("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private Posix() {
    }

    private static MemorySegment symbol(String name) {
        return LINKER.defaultLookup().find(name).orElseThrow(() -> new UnsatisfiedLinkError(
                "the C library has no " + name + " (a child process per request needs Linux with glibc 2.36 or newer)"));
    }

    /** A function that returns an error number itself (the posix_spawn family). */
    private static MethodHandle errnoReturning(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(symbol(name), descriptor);
    }

    private static MethodHandle plain(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(symbol(name), descriptor);
    }

    /** A function that returns -1 and sets errno; its handle takes the call-state segment first. */
    private static MethodHandle settingErrno(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        Linker.Option[] all = new Linker.Option[options.length + 1];
        System.arraycopy(options, 0, all, 0, options.length);
        all[options.length] = Linker.Option.captureCallState("errno");
        return LINKER.downcallHandle(symbol(name), descriptor, all);
    }

    public static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    private static IOException failure(String what, int errno) {
        return new IOException(what + ": " + strerror(errno));
    }

    /**
     * Starts {@code executable} (a path, found once at start-up rather than searched on the PATH for every
     * connection) with {@code argv}, with {@code socketFd} as its standard input, and as its standard output too when
     * {@code asOutput} (else its output goes to the server's standard error, never to the server's own
     * standard output, which may be a protocol stream),
     * standard error shared with the server, no other descriptor, default signal dispositions and an
     * empty signal mask, its own process group, and the given environment ({@code NAME=value} strings).
     *
     * @return the child's pid
     */
    public static int spawnWithSocket(int socketFd, boolean asOutput, String executable, List<String> argv, List<String> environment)
            throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment actions = arena.allocate(FILE_ACTIONS_SIZE, 16);
            MemorySegment attr = arena.allocate(SPAWNATTR_SIZE, 16);
            MemorySegment noSignals = arena.allocate(SIGSET_SIZE, 16);
            MemorySegment allSignals = arena.allocate(SIGSET_SIZE, 16);
            check("posix_spawn_file_actions_init", (int) FA_INIT.invokeExact(actions));
            try {
                check("posix_spawnattr_init", (int) ATTR_INIT.invokeExact(attr));
                try {
                    check("adddup2", (int) FA_ADDDUP2.invokeExact(actions, socketFd, 0));
                    check("adddup2", (int) FA_ADDDUP2.invokeExact(actions, asOutput ? socketFd : 2, 1));
                    check("addclosefrom", (int) FA_ADDCLOSEFROM.invokeExact(actions, 3));
                    check("sigemptyset", (int) SIGEMPTYSET.invokeExact(noSignals));
                    check("sigfillset", (int) SIGFILLSET.invokeExact(allSignals));
                    check("setsigmask", (int) ATTR_SETSIGMASK.invokeExact(attr, noSignals));
                    // the JVM ignores or catches some signals; the program must start with the defaults
                    check("setsigdefault", (int) ATTR_SETSIGDEFAULT.invokeExact(attr, allSignals));
                    // a process group of its own: Ctrl-C in the server's terminal reaches the server only, which
                    // then lets the program finish within the grace period, as for SIGTERM
                    check("setpgroup", (int) ATTR_SETPGROUP.invokeExact(attr, 0));
                    check("setflags", (int) ATTR_SETFLAGS.invokeExact(attr,
                            (short) (POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)));
                    MemorySegment pid = arena.allocate(JAVA_INT);
                    MemorySegment argvArray = cStrings(arena, argv);
                    MemorySegment envArray = cStrings(arena, environment);
                    int error = (int) POSIX_SPAWN.invokeExact(pid, arena.allocateFrom(executable), actions, attr,
                            argvArray, envArray);
                    if (error != 0) {
                        throw failure("cannot run " + executable, error);
                    }
                    return pid.get(JAVA_INT, 0);
                } finally {
                    int ignored = (int) ATTR_DESTROY.invokeExact(attr);
                }
            } finally {
                int ignored = (int) FA_DESTROY.invokeExact(actions);
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void check(String what, int error) throws IOException {
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

    /** Clears {@code O_NONBLOCK}: the program expects a blocking socket, as after {@code accept}. */
    public static void makeBlocking(int fd) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int flags = (int) FCNTL_GET.invokeExact(state, fd, F_GETFL);
            if (flags < 0) {
                throw failure("fcntl(F_GETFL)", errno(state));
            }
            if ((flags & O_NONBLOCK) != 0 && (int) FCNTL_SET.invokeExact(state, fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
                throw failure("fcntl(F_SETFL)", errno(state));
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    public static int pidfdOpen(int pid) throws IOException {
        return intCall("pidfd_open", PIDFD_OPEN, pid, 0);
    }

    /** {@code waitpid(pid, WNOHANG)}: the raw wait status, or -1 when the child has not ended yet. */
    public static int reap(int pid) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment status = arena.allocate(JAVA_INT);
            while (true) {
                int r = (int) WAITPID.invokeExact(state, pid, status, WNOHANG);
                if (r == pid) {
                    return status.get(JAVA_INT, 0);
                }
                if (r == 0) {
                    return -1;
                }
                if (errno(state) != EINTR) {
                    throw failure("waitpid(" + pid + ")", errno(state));
                }
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Sends a signal; false when the process is already gone. */
    public static boolean kill(int pid, int signal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            return (int) KILL.invokeExact(state, pid, signal) == 0;
        } catch (Throwable t) {
            return false;
        }
    }

    public static int eventFd() throws IOException {
        return intCall("eventfd", EVENTFD, 0, EFD_NONBLOCK | EFD_CLOEXEC);
    }

    public static void signalEventFd(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment one = arena.allocate(JAVA_LONG);
            one.set(JAVA_LONG, 0, 1L);
            long ignored = (long) WRITE.invokeExact(state, fd, one, 8L);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    public static void drainEventFd(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment value = arena.allocate(JAVA_LONG);
            long ignored = (long) READ.invokeExact(state, fd, value, 8L);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Waits until one of {@code fds} is readable or {@code timeoutMillis} passed (-1: for ever); marks the
     * readable ones in {@code ready}. Blocks: call it on a platform thread only.
     */
    public static void pollReadable(int[] fds, boolean[] ready, int timeoutMillis) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment pollfds = arena.allocate(8L * fds.length, 8);
            for (int i = 0; i < fds.length; i++) {
                pollfds.set(JAVA_INT, 8L * i, fds[i]);
                pollfds.set(JAVA_SHORT, 8L * i + 4, (short) POLLIN);
            }
            int r = (int) POLL.invokeExact(state, pollfds, (long) fds.length, timeoutMillis);
            if (r < 0 && errno(state) != EINTR) {
                throw failure("poll", errno(state));
            }
            for (int i = 0; i < fds.length; i++) {
                ready[i] = r > 0 && pollfds.get(JAVA_SHORT, 8L * i + 6) != 0;
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    public static void close(int fd) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int ignored = (int) CLOSE.invokeExact(state, fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** The peer of a Unix socket: pid, uid, gid ({@code SO_PEERCRED}). */
    public record PeerCredentials(int pid, int uid, int gid) {
    }

    public static PeerCredentials peerCredentials(int fd) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            MemorySegment cred = arena.allocate(12, 4);
            MemorySegment length = arena.allocate(JAVA_INT);
            length.set(JAVA_INT, 0, 12);
            if ((int) GETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_PEERCRED, cred, length) < 0) {
                throw failure("getsockopt(SO_PEERCRED)", errno(state));
            }
            return new PeerCredentials(cred.get(JAVA_INT, 0), cred.get(JAVA_INT, 4), cred.get(JAVA_INT, 8));
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
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
    public static void attachFilter(int fd, List<Bpf> program) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
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
            if ((int) SETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, 16) < 0) {
                throw failure("setsockopt(SO_ATTACH_FILTER)", errno(state));
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static int intCall(String name, MethodHandle handle, int a, int b) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            int r = (int) handle.invokeExact(state, a, b);
            if (r < 0) {
                throw failure(name, errno(state));
            }
            return r;
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
