package dev.sockserve.internal;

import java.io.FileDescriptor;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.net.ProtocolFamily;
import java.nio.channels.Channel;
import java.nio.channels.spi.SelectorProvider;

/**
 * Wraps a listening or datagram socket this process inherited on descriptor 3 or above (systemd's) in a
 * JDK channel. The JDK does this only for descriptor 0 ({@link System#inheritedChannel()}, which inetd's
 * {@code --inetd} uses); its internal channel classes take any descriptor, so this finds what the socket is
 * with {@code sun.nio.ch.InheritedChannel}'s probes and makes the plain {@code ServerSocketChannelImpl} or
 * {@code DatagramChannelImpl} on it (not the Inherited* ones: closing those points descriptors 0 to 2 at
 * /dev/null). The JVM runs with {@code --add-opens java.base/sun.nio.ch=dev.sockserve}, as for
 * {@link SocketFd}. Kept in one class so that a JDK that changes them breaks one place, with a clear message.
 */
public final class InheritedSockets {

    /**
     * What sits on a descriptor, in the JDK's numbers: its type (1 stream, 2 datagram, -1 no socket), its
     * family (1 IPv4, 2 IPv6, 3 Unix), and whether a stream socket is connected.
     */
    public record Kind(int type, int family, boolean connected) {
        public boolean stream() {
            return type == 1;
        }

        /** A Unix datagram socket, which no JDK channel takes: {@code UnixDatagramServer(int, ...)} serves it. */
        public boolean unixDatagram() {
            return type == 2 && family == 3;
        }
    }

    private static final String INHERITED = "sun.nio.ch.InheritedChannel";

    private InheritedSockets() {
    }

    /** The socket on {@code fd}: its type (-1 if it is no socket), address family and whether it is connected. */
    public static Kind kind(int fd) {
        try {
            Class<?> c = Class.forName(INHERITED);
            int type = (int) method(c, "soType0", int.class).invoke(null, fd);
            int family = (int) method(c, "addressFamily", int.class).invoke(null, fd);
            boolean connected = type == 1 && (boolean) method(c, "isConnected", int.class).invoke(null, fd);
            return new Kind(type, family, connected);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw unavailable(e);
        }
    }

    /**
     * A channel on the socket on {@code fd}: a {@link java.nio.channels.ServerSocketChannel} for a listening
     * stream socket (TCP or Unix), a {@link java.nio.channels.DatagramChannel} for UDP. The channel owns the
     * descriptor.
     */
    public static Channel channel(int fd) throws IOException {
        Kind kind = kind(fd);
        try {
            Class<?> c = Class.forName(INHERITED);
            Method newFd = Class.forName("sun.nio.ch.IOUtil").getDeclaredMethod("newFD", int.class);
            newFd.setAccessible(true);
            FileDescriptor descriptor = (FileDescriptor) newFd.invoke(null, fd);
            ProtocolFamily family = (ProtocolFamily) method(c, "protocolFamily", int.class).invoke(null, kind.family());
            if (family == null) {
                throw new IOException("descriptor " + fd + " is not an IPv4, IPv6 or Unix socket");
            }
            SelectorProvider provider = SelectorProvider.provider();
            if (kind.type() == 2) {
                if (family == java.net.StandardProtocolFamily.UNIX) {
                    throw new IOException("descriptor " + fd + " is a Unix datagram socket, which no JDK channel takes");
                }
                Channel datagram = construct("sun.nio.ch.DatagramChannelImpl", new Class<?>[] {
                    SelectorProvider.class, FileDescriptor.class}, provider, descriptor);
                // the JDK takes an inherited datagram socket for IPv6 when the host has IPv6, and then sends to
                // IPv4-mapped addresses, which an IPv4 socket refuses: tell it the socket's real family
                java.lang.reflect.Field familyField = Class.forName("sun.nio.ch.DatagramChannelImpl").getDeclaredField("family");
                familyField.setAccessible(true);
                familyField.set(datagram, family);
                return datagram;
            }
            if (kind.type() != 1) {
                throw new IOException("descriptor " + fd + " is not a stream or datagram socket");
            }
            if (kind.connected()) {
                throw new IOException("descriptor " + fd + " is a connected socket, not a listening one");
            }
            return construct("sun.nio.ch.ServerSocketChannelImpl", new Class<?>[] {SelectorProvider.class,
                ProtocolFamily.class, FileDescriptor.class, boolean.class}, provider, family, descriptor, true);
        } catch (java.lang.reflect.InvocationTargetException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw unavailable(e);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw unavailable(e);
        }
    }

    private static Method method(Class<?> c, String name, Class<?>... parameters) throws NoSuchMethodException {
        Method m = c.getDeclaredMethod(name, parameters);
        m.setAccessible(true);
        return m;
    }

    private static Channel construct(String name, Class<?>[] parameters, Object... arguments)
            throws ReflectiveOperationException {
        Constructor<?> constructor = Class.forName(name).getDeclaredConstructor(parameters);
        constructor.setAccessible(true);
        return (Channel) constructor.newInstance(arguments);
    }

    private static IllegalStateException unavailable(Exception e) {
        return new IllegalStateException("serving an inherited socket needs the JDK's sun.nio.ch.InheritedChannel, "
                + "which this JVM hides or lacks: run it with --add-opens java.base/sun.nio.ch=dev.sockserve (the "
                + "./sockserve launcher does): " + e, e);
    }
}
