package dev.sockserve.cli;

import dev.sockserve.internal.Durations;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.time.Duration;

/** How the command writes values in its messages: durations, the system's reason for an I/O error, outside text. */
final class Formats {

    private Formats() {
    }

    /**
     * As the flags take them and the core's messages write them ({@code 3s}, {@code 250ms}, {@code 50us},
     * {@code 1m30s}); never {@code PT3S}. The core's {@code Durations} is the one formatter.
     */
    static String duration(Duration d) {
        return Durations.format(d);
    }

    /**
     * The system's reason for an I/O error, as {@code strerror} words it ("No such file or directory"),
     * where the JDK's exception carries only the path in its message.
     */
    static String reason(Exception e) {
        Throwable t = e instanceof UncheckedIOException u ? u.getCause() : e;
        if (t instanceof NoSuchFileException) {
            return "No such file or directory";
        }
        if (t instanceof AccessDeniedException) {
            return "Permission denied";
        }
        if (t instanceof NotDirectoryException) {
            return "Not a directory";
        }
        if (t instanceof CharacterCodingException) {
            return "not UTF-8 text";
        }
        if (t instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        if (t instanceof IOException && t.getMessage() != null) {
            return t.getMessage();
        }
        return String.valueOf(t);
    }

    /**
     * Text from outside (a client's socket path, an exception's message) made safe for a one-line log:
     * control characters, line and paragraph separators, format characters (bidirectional overrides) and
     * lone surrogates are written as {@code \n}, {@code \t}, {@code \x1b} or {@code \u2028}, and a backslash
     * as two, so no line can be forged and the original can be read back. Bytes that were not UTF-8 reach
     * the server already replaced by U+FFFD (the JDK decodes socket paths that way).
     */
    static String escape(String s) {
        StringBuilder out = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            String replacement = escapeOf(s, i);
            if (replacement == null) {
                if (out != null) {
                    out.append(c);
                }
                continue;
            }
            if (out == null) {
                out = new StringBuilder(s.length() + 16).append(s, 0, i);
            }
            out.append(replacement);
        }
        return out == null ? s : out.toString();
    }

    private static String escapeOf(String s, int i) {
        char c = s.charAt(i);
        switch (c) {
            case '\\':
                return "\\\\";
            case '\n':
                return "\\n";
            case '\r':
                return "\\r";
            case '\t':
                return "\\t";
            default:
                break;
        }
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
            return String.format("\\x%02x", (int) c);
        }
        if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
            return null;
        }
        if (Character.isLowSurrogate(c) && i > 0 && Character.isHighSurrogate(s.charAt(i - 1))) {
            return null;
        }
        int type = Character.getType(c);
        if (type == Character.SURROGATE || type == Character.LINE_SEPARATOR || type == Character.PARAGRAPH_SEPARATOR
                || type == Character.FORMAT) {
            return String.format("\\u%04x", (int) c);
        }
        return null;
    }
}
