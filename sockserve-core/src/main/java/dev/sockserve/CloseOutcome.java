package dev.sockserve;

/**
 * How {@link BaseServer#serverClose()} ended the requests that were still running.
 * {@snippet :
 * if (server.serverClose() == CloseOutcome.FORCED) {
 *     log.warning("some connections were cut after the grace period");
 * }
 * }
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
