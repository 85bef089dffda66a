package dev.sockserve;

/**
 * Thrown by a {@link ConnectionStep} to refuse a request: the request is shut down and logged with this
 * message as its reason, without reaching a handler or {@code handleError}.
 */
public class RequestRefusedException extends RuntimeException {

    private final transient System.Logger.Level level; // null: the step's refusalLevel()

    /** A refusal logged at the step's {@link ConnectionStep#refusalLevel()}. */
    public RequestRefusedException(String reason) {
        this(reason, null);
    }

    /** A refusal logged at {@code level} (a failed TLS handshake is routine: DEBUG). */
    public RequestRefusedException(String reason, System.Logger.Level level) {
        super(reason, null, false, false);
        this.level = level;
    }

    /** The level it is logged at; empty for the step's own. */
    public java.util.Optional<System.Logger.Level> level() {
        return java.util.Optional.ofNullable(level);
    }
}
