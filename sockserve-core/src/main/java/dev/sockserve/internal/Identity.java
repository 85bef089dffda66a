package dev.sockserve.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.OptionalInt;

/**
 * The process's user and group: looking names up (through the C library, so NSS sources count) and
 * switching for good ({@code setgroups}, {@code setresgid}, {@code setresuid}). glibc's wrappers of these
 * change every thread of the process, which is what a JVM with its many threads needs. Linux x86-64 and
 * aarch64 layouts of {@code struct passwd} and {@code struct group}. Its own class, apart from
 * {@link Posix}, so that the command's privilege drop loads nothing else.
 */
public final class Identity {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle GETPWNAM = handle("getpwnam", FunctionDescriptor.of(ADDRESS, ADDRESS));
    private static final MethodHandle GETPWUID = handle("getpwuid", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final MethodHandle GETGRNAM = handle("getgrnam", FunctionDescriptor.of(ADDRESS, ADDRESS));
    private static final MethodHandle SETGROUPS = errno("setgroups", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle SETRESGID = errno("setresgid", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SETRESUID = errno("setresuid", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final long PW_UID = 16; // after pw_name and pw_passwd
    private static final long PW_GID = 20;
    private static final long GR_GID = 16; // after gr_name and gr_passwd

    private Identity() {
    }

    private static MethodHandle handle(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), descriptor);
    }

    private static MethodHandle errno(String name, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(), descriptor,
                Linker.Option.captureCallState("errno"));
    }

    /** A user: its uid and primary gid. */
    public record User(int uid, int gid) {
    }

    /** The user named {@code name}, or with that number; empty when there is none. */
    public static java.util.Optional<User> user(String nameOrId) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pw;
            if (nameOrId.matches("\\d{1,10}")) {
                pw = (MemorySegment) GETPWUID.invokeExact((int) Long.parseLong(nameOrId));
                if (pw.address() == 0) {
                    return java.util.Optional.empty();
                }
            } else {
                pw = (MemorySegment) GETPWNAM.invokeExact(arena.allocateFrom(nameOrId));
            }
            if (pw.address() == 0) {
                return java.util.Optional.empty();
            }
            MemorySegment p = pw.reinterpret(PW_GID + 4);
            return java.util.Optional.of(new User(p.get(JAVA_INT, PW_UID), p.get(JAVA_INT, PW_GID)));
        } catch (Throwable t) {
            throw new IllegalStateException("cannot look up user " + nameOrId + ": " + t, t);
        }
    }

    /** The group named {@code name}, or the number itself; empty when no group has that name. */
    public static OptionalInt group(String nameOrId) {
        if (nameOrId.matches("\\d{1,10}")) {
            return OptionalInt.of((int) Long.parseLong(nameOrId));
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment gr = (MemorySegment) GETGRNAM.invokeExact(arena.allocateFrom(nameOrId));
            return gr.address() == 0 ? OptionalInt.empty() : OptionalInt.of(gr.reinterpret(GR_GID + 4).get(JAVA_INT, GR_GID));
        } catch (Throwable t) {
            throw new IllegalStateException("cannot look up group " + nameOrId + ": " + t, t);
        }
    }

    /**
     * Switches the whole process, every thread, to {@code gid} with no supplementary group, then to
     * {@code uid}, for good (real, effective and saved ids). The group goes first: once the user is no
     * longer root, it could not.
     */
    public static void become(int uid, int gid) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Linker.Option.captureStateLayout());
            check("setgroups", (int) SETGROUPS.invokeExact(state, 0L, MemorySegment.NULL), state);
            check("setresgid", (int) SETRESGID.invokeExact(state, gid, gid, gid), state);
            check("setresuid", (int) SETRESUID.invokeExact(state, uid, uid, uid), state);
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("cannot change the process's user: " + t, t);
        }
    }

    private static void check(String call, int result, MemorySegment state) throws IOException {
        if (result != 0) {
            int errno = state.get(JAVA_INT, Linker.Option.captureStateLayout().byteOffset(
                    java.lang.foreign.MemoryLayout.PathElement.groupElement("errno")));
            throw new IOException(call + " failed: " + Posix.strerror(errno));
        }
    }
}
