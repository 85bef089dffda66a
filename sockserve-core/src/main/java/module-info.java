/**
 * sockserve-core: Python's {@code socketserver} model in Java. See {@link dev.sockserve.BaseServer}.
 */
module dev.sockserve {
    requires jdk.jfr; // the core's Flight Recorder events (internal/Events)
    requires java.management; // ServerOptions.registerMBean: its classes load only when asked for
    exports dev.sockserve;
    // the command spawns programs with the connection as their descriptors 0 and 1, through the same
    // native layer as the processes() policy; nothing else may use it
    exports dev.sockserve.internal to dev.sockserve.cli;
}
