package dev.sockserve.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the server tells its operator, on standard error. Quiet by default apart from errors; with
 * {@code -v} one line per event in tcpserver's form ({@code status: 1/40}, {@code pid N from IP},
 * {@code ok N LOCAL REMOTE}, {@code end N status S}, {@code deny N LOCAL REMOTE REASON}), or with
 * {@code --log-format json} one JSON object per line. The core library's own messages (it logs through
 * {@code System.Logger}) come out the same way.
 */
final class EventLog {

    enum Format { TEXT, JSON }

    private final PrintStream out;
    private final Format format;
    private final boolean verbose;

    EventLog(PrintStream out, Format format, boolean verbose) {
        this(out, format, verbose, System::nanoTime);
    }

    EventLog(PrintStream out, Format format, boolean verbose, LongSupplier clock) {
        this(out, format, verbose, clock, new LinkedHashMap<>(), null);
    }

    private EventLog(PrintStream out, Format format, boolean verbose, LongSupplier clock, Map<String, Repeats> repeats,
            Supplier<String> listener) {
        this.out = out;
        this.format = format;
        this.verbose = verbose;
        this.clock = clock;
        this.repeats = repeats;
        this.listener = listener;
    }

    /**
     * The same log for one listener's events: each JSON event also carries {@code listener} (its address as
     * bound, {@code tcp://127.0.0.1:7007}); the text lines stay tcpserver's.
     */
    EventLog forListener(Supplier<String> name) {
        return new EventLog(out, format, verbose, clock, repeats, name);
    }

    /** {@code status: ACTIVE/LIMIT}, or {@code ACTIVE/unlimited} (JSON: limit 0) when there is none. */
    void status(int active, int limit) {
        if (verbose) {
            event("status", "status: " + active + "/" + (limit > 0 ? String.valueOf(limit) : "unlimited"),
                    fields("active", active, "limit", limit));
        }
    }

    void pid(long pid, String remoteIp) {
        if (verbose) {
            event("pid", "pid " + pid + " from " + remoteIp, fields("pid", pid, "remote_ip", remoteIp));
        }
    }

    void ok(long id, Peer local, Peer remote) {
        ok(id, local, remote, "");
    }

    /** {@code detail}: " PROTOCOL CIPHER" for a TLS connection, or empty. */
    void ok(long id, Peer local, Peer remote, String detail) {
        if (verbose) {
            String[] tls = detail.isBlank() ? new String[0] : detail.strip().split(" ");
            event("ok", "ok " + id + " " + local.tcpserverLocal() + " " + remote.tcpserverRemote() + detail,
                    tls.length == 2 ? fields("id", id, "local", local.display(), "remote", remote.display(),
                            "tls_protocol", tls[0], "tls_cipher", tls[1])
                            : fields("id", id, "local", local.display(), "remote", remote.display()));
        }
    }

    void end(long id, int status) {
        if (verbose) {
            event("end", "end " + id + " status " + status, fields("id", id, "status", status));
        }
    }

    void deny(long id, Peer local, Peer remote, String reason) {
        if (verbose) {
            event("deny", "deny " + id + " " + local.tcpserverLocal() + " " + remote.tcpserverRemote() + " " + reason,
                    fields("id", id, "local", local.display(), "remote", remote.display(), "reason", reason));
        }
    }

    /** {@link #cut(long, String, String)} on this view's listener. */
    void cut(long id, String reason) {
        cut(id, reason, listener == null ? "?" : listener.get());
    }

    /** A connection the server ended: always logged, with the request's id, why, and the listener. */
    void cut(long id, String reason, String listener) {
        event("cut", "cut " + id + " " + reason + " on " + listener,
                fields("id", id, "reason", reason, "listener", listener));
    }

    void info(String message) {
        if (verbose) {
            event("info", message, fields("message", message));
        }
    }

    /** Why the command could not start: one line, {@code sockserve: MESSAGE} (JSON: an "error" event). */
    void refused(String message) {
        if (format == Format.TEXT && message.startsWith("sockserve ")) { // already names the command and service
            printLine(Formats.escape(message));
        } else {
            event("error", message, fields("message", message));
        }
    }

    /** A warning; repeats from the same place come out at most once a second, with a count (see {@link #limited}). */
    void warning(String message) {
        limited("warning", message, null, callerOf());
    }

    void error(String message) {
        limited("error", message, null, callerOf());
    }

    /** An error the command did not expect (a bug): the stack trace goes with it, into the JSON object's "stack". */
    void error(String message, Throwable thrown) {
        limited("error", message, thrown, callerOf());
    }

    private static String callerOf() {
        return StackWalker.getInstance().walk(frames -> frames
                .filter(f -> !f.getClassName().equals(EventLog.class.getName()))
                .findFirst().map(f -> f.getClassName() + "#" + f.getMethodName() + ":" + f.getLineNumber()).orElse("?"));
    }

    /** Repeats of one kind of warning or error (the same place in the code) within {@link #REPEAT_WINDOW}. */
    private static final class Repeats {
        long windowStart;
        int suppressed;
        String level;
        String lastMessage;
    }

    /** At most one line a second for each place that warns: a flood of bad datagrams must not flood the log. */
    static final long REPEAT_WINDOW = 1_000_000_000L;

    private final Map<String, Repeats> repeats; // shared with the listeners' views
    private final Supplier<String> listener; // null: the process's own log
    private final LongSupplier clock;

    private void limited(String level, String message, Throwable thrown, String key) {
        long now = clock.getAsLong();
        int suppressed;
        long since;
        synchronized (repeats) {
            Repeats r = repeats.computeIfAbsent(key, k -> new Repeats());
            if (r.level != null && now - r.windowStart < REPEAT_WINDOW) {
                r.suppressed++;
                r.lastMessage = message;
                return;
            }
            suppressed = r.suppressed;
            since = now - r.windowStart;
            r.level = level;
            r.windowStart = now;
            r.suppressed = 0;
            r.lastMessage = message;
        }
        String text = suppressed == 0 ? message
                : message + " (" + suppressed + " more like this in the last " + Formats.duration(
                        Duration.ofMillis(since / 1_000_000)) + ")";
        emit(level, text, suppressed, thrown);
    }

    private void emit(String level, String text, int suppressed, Throwable thrown) {
        Map<String, Object> fields = fields("message", text);
        if (suppressed > 0) {
            fields.put("repeats", suppressed);
        }
        if (thrown != null) {
            fields.put("stack", stackTrace(thrown));
        }
        event(level, level + ": " + text, fields);
        if (thrown != null && format == Format.TEXT && verbose) {
            for (String line : stackTrace(thrown).split("\n")) {
                printLine("sockserve: | " + Formats.escape(line.replace("\t", "    ")));
            }
        }
    }

    /** Lines held back by the rate limit and not yet counted in a later line: one line each, at the end. */
    void flushRepeats() {
        List<String[]> pending = new ArrayList<>();
        synchronized (repeats) {
            for (Repeats r : repeats.values()) {
                if (r.suppressed > 0) {
                    pending.add(new String[] {r.level, r.lastMessage, String.valueOf(r.suppressed)});
                    r.suppressed = 0;
                }
            }
        }
        for (String[] p : pending) {
            String text = p[2] + " more like this: " + p[1];
            event(p[0], p[0] + ": " + text, fields("message", text, "repeats", Integer.parseInt(p[2])));
        }
    }

    private static String stackTrace(Throwable thrown) {
        StringWriter trace = new StringWriter();
        thrown.printStackTrace(new PrintWriter(trace));
        return trace.toString().stripTrailing();
    }

    private static Map<String, Object> fields(Object... keysAndValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }

    /** One line: in text, everything from outside escaped (a client's socket path cannot start a line of its own). */
    private void event(String name, String text, Map<String, Object> fields) {
        String line;
        if (format == Format.TEXT) {
            line = "sockserve: " + Formats.escape(text);
        } else {
            StringBuilder json = new StringBuilder("{\"time\":\"").append(Instant.now()).append("\",\"event\":");
            quote(json, name);
            if (listener != null && !fields.containsKey("listener")) {
                json.append(",\"listener\":");
                quote(json, listener.get());
            }
            for (Map.Entry<String, Object> e : fields.entrySet()) {
                json.append(',');
                quote(json, e.getKey());
                json.append(':');
                if (e.getValue() instanceof Number n) {
                    json.append(n);
                } else {
                    quote(json, String.valueOf(e.getValue()));
                }
            }
            line = json.append('}').toString();
        }
        printLine(line);
    }

    private void printLine(String line) {
        synchronized (out) {
            out.println(line);
            out.flush();
        }
    }

    /** JSON string escaping, plus lone surrogates and U+2028/U+2029, so every line is valid JSON in UTF-8. */
    static void quote(StringBuilder json, String s) {
        json.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> json.append("\\\"");
                case '\\' -> json.append("\\\\");
                case '\n' -> json.append("\\n");
                case '\r' -> json.append("\\r");
                case '\t' -> json.append("\\t");
                default -> {
                    boolean loneSurrogate = Character.isSurrogate(c) && !(Character.isHighSurrogate(c)
                            && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1)))
                            && !(Character.isLowSurrogate(c) && i > 0 && Character.isHighSurrogate(s.charAt(i - 1)));
                    if (c < 0x20 || c == 0x7f || c == 0x2028 || c == 0x2029 || loneSurrogate) {
                        json.append(String.format("\\u%04x", (int) c));
                    } else {
                        json.append(c);
                    }
                }
            }
        }
        json.append('"');
    }

    /** The core's names for its options, as the command's flags: its messages reach the user in the command's words. */
    private static final Map<String, String> CORE_NAMES = Map.of("maxPacketSize", "--max-packet-size",
            "requestQueueSize", "--backlog", "closeGracePeriod", "--grace", "writeTimeout", "--write-timeout",
            "readSpin", "--read-spin");
    private static final Pattern CORE_NAME = Pattern.compile(
            "\\b(" + String.join("|", CORE_NAMES.keySet()) + ")\\b");
    private static final Pattern ISO_DURATION = Pattern.compile(
            "\\bPT(\\d+H)?(\\d+M)?(\\d+(\\.\\d+)?S)?\\b");

    /** A message of the core in the command's words: flags for option names, {@code 10s} for {@code PT10S}. */
    static String inCommandWords(String message) {
        String named = CORE_NAME.matcher(message).replaceAll(m -> CORE_NAMES.get(m.group(1)));
        return ISO_DURATION.matcher(named).replaceAll(m -> m.group().equals("PT") ? "PT"
                : Matcher.quoteReplacement(Formats.duration(Duration.parse(m.group()))));
    }

    /**
     * Sends the core library's {@code System.Logger} messages (java.util.logging by default) here: warnings
     * and errors always, information with {@code -v}. An I/O error with a client (a reset, a timeout) is one
     * line without a stack trace; anything else carries its stack trace (text: with {@code -v}, as lines
     * starting {@code sockserve: |}; JSON: in the object's "stack"). Also takes over standard error and
     * the uncaught-exception handler, so nothing reaches standard error but this log's lines.
     */
    void takeOverJavaLogging() {
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        root.setLevel(verbose ? Level.INFO : Level.WARNING);
        root.addHandler(new Handler() {
            @Override
            public void publish(LogRecord record) {
                if (isLoggable(record)) {
                    fromCore(record);
                }
            }

            @Override
            public void flush() {
                out.flush();
            }

            @Override
            public void close() {
            }
        });
        Thread.setDefaultUncaughtExceptionHandler((thread, e) ->
                limited("error", "thread " + thread.getName() + " ended by " + e, e, "uncaught:" + e.getClass()));
        System.setErr(new PrintStream(new LineSink(line -> limited("error", line, null, "stderr")), true,
                StandardCharsets.UTF_8));
    }

    void fromCore(LogRecord record) {
        String message = new Formatter() {
            @Override
            public String format(LogRecord r) {
                return formatMessage(r);
            }
        }.format(record);
        Throwable thrown = record.getThrown();
        boolean clientCaused = thrown instanceof IOException;
        if (thrown != null && !message.contains(String.valueOf(thrown.getMessage()))) {
            message += ": " + thrown;
        }
        message = inCommandWords(message);
        int level = record.getLevel().intValue();
        String key = record.getSourceClassName() + "#" + record.getSourceMethodName() + ":" + record.getLevel()
                + (thrown == null ? "" : ":" + thrown.getClass().getName());
        String name = level >= Level.SEVERE.intValue() ? "error" : "warning";
        if (level >= Level.WARNING.intValue() && String.valueOf(record.getSourceClassName()).endsWith(".LogLimiter")) {
            emit(name, message, 0, clientCaused ? null : thrown); // the core limited it already, with its count
        } else if (level >= Level.WARNING.intValue()) {
            limited(name, message, clientCaused ? null : thrown, key);
        } else {
            info(message);
        }
    }

    /** Standard error's bytes, one log line per line written. */
    private static final class LineSink extends OutputStream {
        private final Consumer<String> lines;
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();

        LineSink(Consumer<String> lines) {
            this.lines = lines;
        }

        @Override
        public synchronized void write(int b) {
            if (b == '\n') {
                flushLine();
            } else {
                line.write(b);
            }
        }

        @Override
        public synchronized void flush() {
            if (line.size() > 0) {
                flushLine();
            }
        }

        private void flushLine() {
            String text = line.toString(StandardCharsets.UTF_8);
            line.reset();
            lines.accept(text);
        }
    }
}
