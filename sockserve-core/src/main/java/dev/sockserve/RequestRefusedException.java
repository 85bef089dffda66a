package dev.sockserve;

/**
 * Thrown by a {@link ConnectionStep} to refuse a request: the request is shut down and logged with this
 * message as its reason, without reaching a handler or {@code handleError}.
 */
public class RequestRefusedException extends RuntimeException {
    public RequestRefusedException(String reason) {
        super(reason, null, false, false);
    }
}
