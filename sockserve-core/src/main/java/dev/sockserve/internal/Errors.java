package dev.sockserve.internal;

import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedChannelException;

/**
 * Tells I/O failures apart: by type where the JDK gives one, by its message where it does not
 * (ECONNRESET, EPIPE, EMFILE and ENFILE all arrive as a plain {@link java.io.IOException}).
 */
public final class Errors {

    private Errors() {
    }

    /** Whether {@code t} means the client went away: a reset, a broken pipe, or a connection closed under it. */
    public static boolean isPeerGone(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof AsynchronousCloseException || c instanceof ClosedChannelException) {
                return true;
            }
            String m = String.valueOf(c.getMessage());
            if (m.contains("Connection reset") || m.contains("Broken pipe")) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code t} is EMFILE or ENFILE: the process or the system has no descriptor left. */
    public static boolean isDescriptorExhaustion(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (String.valueOf(c.getMessage()).contains("Too many open files")) {
                return true;
            }
        }
        return false;
    }
}
