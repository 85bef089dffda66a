/**
 * sockserve-core: Python's {@code socketserver} model in Java. See {@link dev.sockserve.BaseServer}.
 */
module dev.sockserve {
    exports dev.sockserve;
}
