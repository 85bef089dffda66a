package dev.sockserve;

/**
 * Sees requests go by, without subclassing a server: given through
 * {@link ServerOptions#observer(RequestObserver)}. Every request {@link #accepted} is later
 * {@link #ended} exactly once; in between it is either {@link #refused} or {@link #verified}. Called on
 * the thread doing the work (the serving thread, or the request's own); keep them quick, and they must
 * not throw (an exception is logged and ignored).
 */
public interface RequestObserver {

    /** Accepted (or received), before any connection step. */
    default void accepted(RequestContext request) {
    }

    /** Refused by a connection step, a gate or {@code verifyRequest}; {@code reason} says which and why. */
    default void refused(RequestContext request, String reason) {
    }

    /** Let through: the handler runs next. */
    default void verified(RequestContext request) {
    }

    /** Ended, after {@code shutdownRequest}. */
    default void ended(RequestContext request, RequestEnd end) {
    }
}
