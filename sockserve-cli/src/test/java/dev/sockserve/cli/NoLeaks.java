package dev.sockserve.cli;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test that leaves a descriptor, a sockserve thread or a child process behind: counts before it,
 * and after the test's own {@code @AfterEach} has cleaned up (see {@link Harness#assertNoLeak}).
 */
final class NoLeaks implements BeforeEachCallback, AfterEachCallback {

    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(NoLeaks.class);

    @Override
    public void beforeEach(ExtensionContext context) {
        context.getStore(NS).put("before", Harness.Resources.now());
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        Harness.assertNoLeak(context.getStore(NS).get("before", Harness.Resources.class));
    }
}
