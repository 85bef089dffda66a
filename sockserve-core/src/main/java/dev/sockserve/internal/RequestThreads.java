package dev.sockserve.internal;

import java.util.concurrent.ThreadFactory;

/**
 * Starts the thread that runs one request, for the threaded concurrency policies. Threads are not
 * kept anywhere once started: a finished thread is garbage (Python's bpo-37193 does not apply).
 */
public final class RequestThreads {

    private final ThreadFactory factory;

    private RequestThreads(ThreadFactory factory) {
        this.factory = factory;
    }

    public static RequestThreads virtual(String name, Thread.UncaughtExceptionHandler onError) {
        return new RequestThreads(Thread.ofVirtual().name(name).uncaughtExceptionHandler(onError).factory());
    }

    public static RequestThreads platform(String name, boolean daemon, Thread.UncaughtExceptionHandler onError) {
        return new RequestThreads(Thread.ofPlatform().name(name, 1).daemon(daemon)
                .uncaughtExceptionHandler(onError).factory());
    }

    public void start(Runnable task) {
        factory.newThread(task).start();
    }
}
