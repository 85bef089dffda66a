package dev.sockserve;

/**
 * How {@link BaseServer#serverClose()} ended the requests that were still running.
 */
public enum CloseOutcome {
    /** Every request in flight finished by itself within the grace period (or none was running). */
    GRACEFUL,
    /**
     * The grace period ran out, or the server does not block on close: the connections still open
     * were closed under their handlers.
     */
    FORCED
}
