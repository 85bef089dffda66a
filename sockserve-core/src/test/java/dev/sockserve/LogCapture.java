package dev.sockserve;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Collects what the core logs (through the JDK's default backend, java.util.logging) while it is open.
 * Reflection, because the tests are patched into the dev.sockserve module, which does not read
 * java.logging.
 */
final class LogCapture implements AutoCloseable {

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final Object logger;
    private final Object handler;
    private final Method flush;

    LogCapture() throws ReflectiveOperationException {
        Class<?> loggerClass = Class.forName("java.util.logging.Logger");
        Class<?> handlerClass = Class.forName("java.util.logging.Handler");
        Class<?> formatterClass = Class.forName("java.util.logging.Formatter");
        Object formatter = Class.forName("java.util.logging.SimpleFormatter").getConstructor().newInstance();
        handler = Class.forName("java.util.logging.StreamHandler").getConstructor(OutputStream.class, formatterClass)
                .newInstance(bytes, formatter);
        flush = handlerClass.getMethod("flush");
        logger = loggerClass.getMethod("getLogger", String.class).invoke(null, "dev.sockserve");
        loggerClass.getMethod("addHandler", handlerClass).invoke(logger, handler);
    }

    /** The lines logged so far. */
    List<String> lines() {
        try {
            flush.invoke(handler);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
        synchronized (bytes) {
            return bytes.toString(StandardCharsets.UTF_8).lines().toList();
        }
    }

    long count(String fragment) {
        return lines().stream().filter(l -> l.contains(fragment)).count();
    }

    @Override
    public void close() throws ReflectiveOperationException {
        Class<?> handlerClass = Class.forName("java.util.logging.Handler");
        logger.getClass().getMethod("removeHandler", handlerClass).invoke(logger, handler);
        handlerClass.getMethod("close").invoke(handler);
    }
}
