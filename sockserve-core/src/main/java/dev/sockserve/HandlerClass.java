package dev.sockserve;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Modifier;
import java.util.function.Supplier;

/**
 * A handler factory that knows its handler's class, as the {@code Forking*} servers take it: the
 * {@code processes()} policy makes each handler in a child JVM from the class's name, so no handler is
 * ever made in the server itself. Checked at construction: the child must be able to make one.
 */
record HandlerClass<R>(Class<? extends BaseRequestHandler<R>> type) implements Supplier<BaseRequestHandler<R>> {

    HandlerClass {
        boolean ok = Modifier.isPublic(type.getModifiers()) && !type.isAnonymousClass() && !type.isLocalClass()
                && !Modifier.isAbstract(type.getModifiers())
                && (type.getEnclosingClass() == null || Modifier.isStatic(type.getModifiers()));
        try {
            ok = ok && Modifier.isPublic(type.getConstructor().getModifiers());
        } catch (NoSuchMethodException e) {
            ok = false;
        }
        if (!ok) {
            throw new IllegalArgumentException("the processes() policy makes the handler in a new JVM, so "
                    + type.getName() + " must be a public, concrete, top-level or static nested class with a public "
                    + "no-argument constructor");
        }
    }

    @Override
    public BaseRequestHandler<R> get() {
        try {
            return type.getConstructor().newInstance();
        } catch (InvocationTargetException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot make a " + type.getName() + ": " + e, e);
        }
    }
}
