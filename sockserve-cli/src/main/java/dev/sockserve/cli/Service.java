package dev.sockserve.cli;

import dev.sockserve.BaseRequestHandler;
import dev.sockserve.DatagramRequest;
import dev.sockserve.DatagramRequestHandler;
import dev.sockserve.StreamRequestHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/** The classic small services, over streams and datagrams, byte for byte as their RFCs say. */
enum Service {
    ECHO(7, 862, "returns every byte it receives, until the client closes; over UDP, each datagram's data"),
    DISCARD(9, 863, "reads and drops everything; over UDP it never replies"),
    DAYTIME(13, 867, "sends one line with the date and time, then closes; over UDP, one line per datagram"),
    QOTD(17, 865, "sends one quote (under 512 characters), then closes; over UDP, one quote per datagram"),
    CHARGEN(19, 864, "streams the RFC 864 character ring until the client goes away; over UDP, one line per datagram"),
    TIME(37, 868, "sends 4 bytes, the big-endian seconds since 1900-01-01, then closes; over UDP, per datagram");

    /** Seconds from 1900-01-01 to 1970-01-01 (RFC 868). */
    static final long SECONDS_1900_TO_1970 = 2_208_988_800L;

    final int port;
    final int rfc;
    final String summary;

    Service(int port, int rfc, String summary) {
        this.port = port;
        this.rfc = rfc;
        this.summary = summary;
    }

    String command() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** 7000 + the service's port: unprivileged, and easy to remember. */
    int defaultPort() {
        return 7000 + port;
    }

    // ---- the bytes ----

    private static final int RING_LINES = 95;
    private static final int LINE_CHARS = 72;
    /** Every line of the RFC 864 ring once: line N holds characters N..N+71 of the 95 printable ones, then CR LF. */
    static final byte[] CHARGEN_RING = ring();

    private static byte[] ring() {
        byte[] ring = new byte[RING_LINES * (LINE_CHARS + 2)];
        int at = 0;
        for (int line = 0; line < RING_LINES; line++) {
            for (int i = 0; i < LINE_CHARS; i++) {
                ring[at++] = (byte) (' ' + (line + i) % RING_LINES);
            }
            ring[at++] = '\r';
            ring[at++] = '\n';
        }
        return ring;
    }

    static byte[] chargenLine(int line) {
        int from = (line % RING_LINES) * (LINE_CHARS + 2);
        return java.util.Arrays.copyOfRange(CHARGEN_RING, from, from + LINE_CHARS + 2);
    }

    private static final List<String> QUOTES = List.of(
            "\"Be conservative in what you do, be liberal in what you accept from others.\"\r\n  -- Jon Postel, RFC 793\r\n",
            "\"Well begun is half done.\"\r\n  -- Aristotle\r\n",
            "\"The purpose of computing is insight, not numbers.\"\r\n  -- Richard Hamming\r\n",
            "\"Simplicity is prerequisite for reliability.\"\r\n  -- Edsger W. Dijkstra\r\n");
    private static final AtomicInteger NEXT_QUOTE = new AtomicInteger();
    private static final AtomicInteger NEXT_LINE = new AtomicInteger();

    static byte[] quote() {
        return QUOTES.get(Math.floorMod(NEXT_QUOTE.getAndIncrement(), QUOTES.size())).getBytes(StandardCharsets.US_ASCII);
    }

    private static final DateTimeFormatter DAYTIME_FORMAT =
            DateTimeFormatter.ofPattern("EEEE, MMMM d, yyyy HH:mm:ss-zzz", Locale.US);

    /** RFC 867's suggested form: {@code Tuesday, February 22, 1982 17:37:43-PST}, then CR LF. */
    static byte[] daytime() {
        return (DAYTIME_FORMAT.format(ZonedDateTime.now()) + "\r\n").getBytes(StandardCharsets.US_ASCII);
    }

    /** RFC 868: seconds since 1900 as a 32-bit big-endian number (it wraps in 2036, as the RFC's does). */
    static byte[] time() {
        long seconds = Instant.now().getEpochSecond() + SECONDS_1900_TO_1970;
        return new byte[] {(byte) (seconds >>> 24), (byte) (seconds >>> 16), (byte) (seconds >>> 8), (byte) seconds};
    }

    // ---- handlers ----

    /** A stream handler that reads with the {@code --read-timeout}. */
    private abstract static class TimedHandler extends StreamRequestHandler {
        private final Optional<Duration> readTimeout;

        TimedHandler(Optional<Duration> readTimeout) {
            this.readTimeout = readTimeout;
        }

        @Override
        protected Optional<Duration> timeout() {
            return readTimeout;
        }

        @Override
        protected int rbufsize() {
            return 0; // whole reads straight from the socket: nothing to gain from a second buffer
        }
    }

    Supplier<BaseRequestHandler<SocketChannel>> streamHandlers(Optional<Duration> readTimeout) {
        return () -> new TimedHandler(readTimeout) {
            @Override
            protected boolean disableNagleAlgorithm() {
                return Service.this == ECHO; // an echo is sent at once, not held for the client's ACK
            }

            @Override
            protected void handle() throws IOException {
                serveStream(rfile(), wfile());
            }
        };
    }

    /**
     * Echo and discard hold no array of their own: rfile() lends its buffer only while bytes wait, so an
     * idle connection costs no buffer; chargen writes the one shared ring.
     */
    private void serveStream(InputStream in, OutputStream out) throws IOException {
        switch (this) {
            case ECHO -> in.transferTo(out);
            case DISCARD -> in.transferTo(OutputStream.nullOutputStream());
            case CHARGEN -> {
                while (true) { // ends when the client goes away and the write fails
                    out.write(CHARGEN_RING);
                }
            }
            case QOTD -> out.write(quote());
            case DAYTIME -> out.write(daytime());
            case TIME -> out.write(time());
        }
    }

    Supplier<BaseRequestHandler<DatagramRequest>> datagramHandlers() {
        return () -> new DatagramRequestHandler() {
            @Override
            protected void handle() throws IOException {
                switch (Service.this) {
                    case ECHO -> { // sent as it came, without the two copies through wfile()
                        if (packet().length > 0 || server().options().sendEmptyReplies()) {
                            socket().send(ByteBuffer.wrap(packet()), clientAddress());
                        }
                    }
                    case DISCARD -> { }
                    case CHARGEN -> wfile().write(chargenLine(NEXT_LINE.getAndIncrement() & Integer.MAX_VALUE));
                    case QOTD -> wfile().write(quote());
                    case DAYTIME -> wfile().write(daytime());
                    case TIME -> wfile().write(time());
                }
            }
        };
    }
}
