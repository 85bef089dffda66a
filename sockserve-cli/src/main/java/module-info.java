/**
 * The sockserve command. It reaches the core's internal child-process and descriptor layer through a
 * qualified export, which no other module gets.
 */
module dev.sockserve.cli {
    requires dev.sockserve;
    requires info.picocli;
    requires org.conscrypt; // --tls-engine boringssl (see the pom)
    requires java.management; // --metrics: the heap and thread gauges
    requires jdk.httpserver; // --metrics: the /metrics endpoint
    requires java.logging; // the core logs through System.Logger; EventLog routes those records to the command log
    requires jdk.unsupported; // sun.misc.Signal, for SIGHUP and a second SIGTERM (see ShutdownSignals)

    opens dev.sockserve.cli to info.picocli;
}
