package dev.sockserve;

import java.util.Optional;

/**
 * Decides whether a request is served, beside {@link BaseServer#verifyRequest}: given through
 * {@link ServerOptions#gate(RequestGate)}, run where {@code verifyRequest} runs, before it. A refused
 * request is shut down without a handler, logged and counted as refused.
 */
@FunctionalInterface
public interface RequestGate {

    /** Empty to let the request through; otherwise the reason it is refused, for the log. */
    Optional<String> refuse(RequestContext request);
}
