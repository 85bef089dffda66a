package dev.sockserve.internal;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * The operating-system descriptor of a JDK channel (a connection, a listening socket, a pipe end), which
 * {@link ChildProcesses} hands to a child process as its standard input or output. The JDK has no public
 * way to get it, so this reads it from the JDK's internal {@code sun.nio.ch.SelChImpl#getFDVal()}, which
 * every NIO socket and pipe channel implements; the JVM must
 * run with {@code --add-opens java.base/sun.nio.ch=ALL-UNNAMED} (the {@code ./sockserve} launcher gives it).
 * Kept in this one class so that a JDK that changes it breaks one place, with a clear message.
 */
public final class SocketFd {

    public static final String NEEDED_FLAG = "--add-opens java.base/sun.nio.ch=ALL-UNNAMED";

    private static final MethodHandle GET_FD_VAL = find();

    private SocketFd() {
    }

    private static MethodHandle find() {
        try {
            Class<?> selChImpl = Class.forName("sun.nio.ch.SelChImpl");
            var method = selChImpl.getMethod("getFDVal");
            method.setAccessible(true);
            return MethodHandles.lookup().unreflect(method).asType(MethodType.methodType(int.class, Object.class));
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null; // reported by check(), with what to do
        }
    }

    /** Fails with what to do when the descriptor cannot be read in this JVM. */
    public static void check() {
        if (GET_FD_VAL == null) {
            throw new IllegalStateException("handing a connection to a child process needs its descriptor, which this JVM hides: run it with "
                    + NEEDED_FLAG + " on the class path, or --add-opens java.base/sun.nio.ch=dev.sockserve on the "
                    + "module path (the ./sockserve launcher does)");
        }
    }

    public static int of(java.nio.channels.SelectableChannel channel) {
        check();
        try {
            return (int) GET_FD_VAL.invokeExact((Object) channel);
        } catch (Throwable t) {
            throw new IllegalStateException("cannot read the descriptor of " + channel + ": " + t, t);
        }
    }
}
