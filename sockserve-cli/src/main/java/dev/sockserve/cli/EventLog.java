package dev.sockserve.cli;

import java.io.PrintStream;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

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
        this.out = out;
        this.format = format;
        this.verbose = verbose;
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
        if (verbose) {
            event("ok", "ok " + id + " " + local.tcpserverLocal() + " " + remote.tcpserverRemote(),
                    fields("id", id, "local", local.display(), "remote", remote.display()));
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

    void info(String message) {
        if (verbose) {
            event("info", message, fields("message", message));
        }
    }

    void warning(String message) {
        event("warning", "warning: " + message, fields("message", message));
    }

    void error(String message) {
        event("error", "error: " + message, fields("message", message));
    }

    private static Map<String, Object> fields(Object... keysAndValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }

    private void event(String name, String text, Map<String, Object> fields) {
        String line;
        if (format == Format.TEXT) {
            line = "sockserve: " + text;
        } else {
            StringBuilder json = new StringBuilder("{\"time\":\"").append(Instant.now()).append("\",\"event\":");
            quote(json, name);
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
        synchronized (out) {
            out.println(line);
            out.flush();
        }
    }

    private static void quote(StringBuilder json, String s) {
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
                    if (c < 0x20) {
                        json.append(String.format("\\u%04x", (int) c));
                    } else {
                        json.append(c);
                    }
                }
            }
        }
        json.append('"');
    }

    /**
     * Sends the core library's {@code System.Logger} messages (java.util.logging by default) here: warnings
     * and errors always, information with {@code -v}; a stack trace only with {@code -v}.
     */
    void takeOverJavaLogging() {
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        root.setLevel(verbose ? Level.INFO : Level.WARNING);
        root.addHandler(new Handler() {
            @Override
            public void publish(LogRecord record) {
                if (!isLoggable(record)) {
                    return;
                }
                String message = new Formatter() {
                    @Override
                    public String format(LogRecord r) {
                        return formatMessage(r);
                    }
                }.format(record);
                Throwable thrown = record.getThrown();
                if (thrown != null && !message.contains(String.valueOf(thrown.getMessage()))) {
                    message += ": " + thrown;
                }
                int level = record.getLevel().intValue();
                if (level >= Level.SEVERE.intValue()) {
                    error(message);
                } else if (level >= Level.WARNING.intValue()) {
                    warning(message);
                } else {
                    info(message);
                }
                if (thrown != null && verbose) {
                    synchronized (out) {
                        thrown.printStackTrace(out);
                    }
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
    }
}
