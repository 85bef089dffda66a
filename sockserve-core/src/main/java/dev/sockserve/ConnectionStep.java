package dev.sockserve;

import java.io.IOException;
import java.time.Duration;
import java.util.Objects;

/**
 * Work done on a new connection before {@code verifyRequest}: reading a PROXY protocol header, a TLS
 * handshake, a greeting. Steps are given through {@link ServerOptions#step(ConnectionStep)} and run in
 * the order given, on the request's own thread under the threaded policies (so a slow client never
 * stalls accepting) and on the serving thread under {@link Concurrency#synchronous()}.
 *
 * <p>A step may replace the request's addresses ({@link RequestContext#replaceAddresses}) or wrap its
 * channel ({@link RequestContext#wrapChannel}). It refuses the request by throwing
 * {@link RequestRefusedException}; an {@link IOException} (the client went away) or running past the
 * step's {@link #deadline()} (the connection is then closed) refuses it too. A refused request is logged
 * with its reason, counted ({@link BaseServer#refusedRequests()}), reported to the observers, and shut
 * down; it never reaches {@code verifyRequest}, a handler or {@code handleError}.
 *
 * {@snippet :
 * ConnectionStep hello = ConnectionStep.of("hello", Duration.ofSeconds(2), request -> {
 *     var buffer = ByteBuffer.allocate(6);
 *     while (buffer.hasRemaining() && request.connection().orElseThrow().read(buffer) >= 0) { }
 *     if (!"HELLO\n".equals(new String(buffer.array(), 0, buffer.position(), StandardCharsets.US_ASCII))) {
 *         throw new RequestRefusedException("no greeting");
 *     }
 * });
 * }
 */
@FunctionalInterface
public interface ConnectionStep {

    /** How long a step may take unless it says otherwise. */
    Duration DEFAULT_DEADLINE = Duration.ofSeconds(10);

    /** The work; returns normally to let the request go on. */
    void apply(RequestContext request) throws IOException;

    /** How long the step may take; at the deadline the connection is closed and the request refused. */
    default Duration deadline() {
        return DEFAULT_DEADLINE;
    }

    /** A name for log lines. */
    default String name() {
        return getClass().getSimpleName();
    }

    /**
     * The level at which its refusals are logged, unless a {@link RequestRefusedException} says otherwise:
     * INFO by default; a step whose failures mean a misconfiguration or an attack says WARNING.
     */
    default System.Logger.Level refusalLevel() {
        return System.Logger.Level.INFO;
    }

    /** A step from a name, a deadline and a body. */
    static ConnectionStep of(String name, Duration deadline, ConnectionStep body) {
        return of(name, deadline, System.Logger.Level.INFO, body);
    }

    /** A step from a name, a deadline, the level of its refusals and a body. */
    static ConnectionStep of(String name, Duration deadline, System.Logger.Level refusalLevel, ConnectionStep body) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(body, "body");
        if (deadline.isNegative() || deadline.isZero()) {
            throw new IllegalArgumentException("a step's deadline must be positive, was " + deadline);
        }
        return new ConnectionStep() {
            @Override
            public void apply(RequestContext request) throws IOException {
                body.apply(request);
            }

            @Override
            public Duration deadline() {
                return deadline;
            }

            @Override
            public String name() {
                return name;
            }

            @Override
            public System.Logger.Level refusalLevel() {
                return refusalLevel;
            }
        };
    }
}
