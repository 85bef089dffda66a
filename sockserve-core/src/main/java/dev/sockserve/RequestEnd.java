package dev.sockserve;

import java.util.Optional;

/** How a request ended, for {@link RequestObserver#ended}. */
public record RequestEnd(Reason reason, Optional<Throwable> error) {

    public enum Reason {
        /** The handler returned. */
        COMPLETED,
        /** The handler (or {@code processRequest}) threw; {@link #error()} says what. */
        FAILED,
        /** A step, a gate or {@code verifyRequest} refused it. */
        REFUSED,
        /** {@code serverClose()} cut it when the grace period ran out. */
        CUT
    }

    static final RequestEnd COMPLETED = new RequestEnd(Reason.COMPLETED, Optional.empty());
    static final RequestEnd REFUSED = new RequestEnd(Reason.REFUSED, Optional.empty());
    static final RequestEnd CUT = new RequestEnd(Reason.CUT, Optional.empty());

    static RequestEnd failed(Throwable error) {
        return new RequestEnd(Reason.FAILED, Optional.of(error));
    }
}
