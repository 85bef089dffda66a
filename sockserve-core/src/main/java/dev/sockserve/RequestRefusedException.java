package dev.sockserve;

/**
 * Thrown by a {@link ConnectionStep} to refuse a request: the request is shut down and logged with this
 * message as its reason, without reaching a handler or {@code handleError}.
 */
public class RequestRefusedException extends RuntimeException {

    private final transient System.Logger.Level level;

    /** A refusal logged at INFO. */
    public RequestRefusedException(String reason) {
        this(reason, System.Logger.Level.INFO);
    }

    /** A refusal logged at {@code level} (a failed TLS handshake is routine: DEBUG). */
    public RequestRefusedException(String reason, System.Logger.Level level) {
        super(reason, null, false, false);
        this.level = level;
    }

    public System.Logger.Level level() {
        return level;
    }
}
