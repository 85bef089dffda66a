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
 * The core's JDK Flight Recorder events, all under the category "sockserve". Each call site fills and
 * commits an event only when {@code isEnabled()}: with no recording running, the JIT drops the unused
 * event object and nothing else is done.
 */
public final class Events {

    private Events() {
    }

    /** Loads the event classes while descriptors are free: the accept failing with EMFILE could not. */
    public static void load() {
        new Accepted().isEnabled();
        new RequestEnded().isEnabled();
        new HandlerError().isEnabled();
        new AcceptPaused().isEnabled();
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
