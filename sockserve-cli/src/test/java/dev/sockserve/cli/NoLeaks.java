package dev.sockserve.cli;

/**
 * The test kit's leak check ({@link dev.sockserve.LeakCheck}) under the name some of the command's tests
 * still use; there is no second implementation.
 */
final class NoLeaks extends dev.sockserve.LeakCheck {
}
