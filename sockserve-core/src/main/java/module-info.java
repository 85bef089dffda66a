/**
 * sockserve-core: Python's {@code socketserver} model in Java. See {@link dev.sockserve.BaseServer}.
 */
@SuppressWarnings("module") // until the command is a named module, javac finds no dev.sockserve.cli
module dev.sockserve {
    exports dev.sockserve;
    // the command runs programs through the child-process path the processes() policy uses (ChildProcesses)
    exports dev.sockserve.internal to dev.sockserve.cli;
}
