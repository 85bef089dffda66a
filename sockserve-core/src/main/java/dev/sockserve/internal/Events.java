package dev.sockserve.internal;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/**
 * The core's JDK Flight Recorder events, all under the category "sockserve". Loading an event class
 * starts much of JFR (80-130 ms on the benchmark machine), so nothing here is loaded while the JVM's
 * recorder is not initialized ({@link #on()}, a static read); once it is (a recording started with the
 * JVM or later with jcmd), each call site fills and commits an event only when {@code isEnabled()}.
 */
public final class Events {

    private Events() {
    }

    private static volatile boolean loaded;

    /**
     * Whether events may be recorded: the JVM's recorder is initialized, and the event classes are loaded
     * (here, on the first call that finds it so; a failure, such as no descriptor left to read a class
     * file, leaves them for a later call).
     */
    public static boolean on() {
        if (!jdk.jfr.FlightRecorder.isInitialized()) {
            return false;
        }
        if (!loaded) {
            try {
                Loader.load();
                loaded = true;
            } catch (LinkageError e) {
                return false;
            }
        }
        return true;
    }

    /** Its own class, so that verifying {@link #on()} loads no event class. */
    private static final class Loader {
        static void load() {
            new Accepted().isEnabled();
            new RequestEnded().isEnabled();
            new HandlerError().isEnabled();
            new ChildExit().isEnabled();
            new AcceptPaused().isEnabled();
        }
    }

    @Name("dev.sockserve.ConnectionAccepted")
    @Label("Connection Accepted")
    @Category("sockserve")
    @Description("A connection accepted or a datagram received")
    @StackTrace(false)
    public static final class Accepted extends Event {
        @Label("Listener")
        public String listener;
        @Label("Client")
        public String client;
        @Label("Request Id")
        public long requestId;
    }

    @Name("dev.sockserve.RequestEnded")
    @Label("Request Ended")
    @Category("sockserve")
    @Description("A request's end: how long it took from accept, and the bytes its handler read and wrote")
    @StackTrace(false)
    public static final class RequestEnded extends Event {
        @Label("Listener")
        public String listener;
        @Label("Client")
        public String client;
        @Label("Request Id")
        public long requestId;
        @Label("Outcome")
        public String outcome;
        @Label("Request Duration")
        @Description("From accept to the end (the event's own duration is that of its commit)")
        @Timespan(Timespan.NANOSECONDS)
        public long requestDuration;
        @Label("Bytes In")
        @DataAmount
        public long bytesIn;
        @Label("Bytes Out")
        @DataAmount
        public long bytesOut;
    }

    @Name("dev.sockserve.HandlerError")
    @Label("Handler Error")
    @Category("sockserve")
    @StackTrace(false)
    public static final class HandlerError extends Event {
        @Label("Listener")
        public String listener;
        @Label("Request Id")
        public long requestId;
        @Label("Error")
        public String error;
    }

    @Name("dev.sockserve.ChildExit")
    @Label("Child Process Exit")
    @Category("sockserve")
    @StackTrace(false)
    public static final class ChildExit extends Event {
        @Label("Pid")
        public long pid;
        @Label("Wait Status")
        @Description("The raw wait status: exit code times 256, or the signal number")
        public int status;
    }

    @Name("dev.sockserve.AcceptPaused")
    @Label("Accept Paused")
    @Category("sockserve")
    @StackTrace(false)
    public static final class AcceptPaused extends Event {
        @Label("Listener")
        public String listener;
        @Label("Reason")
        public String reason;
        @Label("Pause")
        @Timespan(Timespan.NANOSECONDS)
        public long pause;
    }
}
