package dev.sockserve.internal;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;

/**
 * TLS over a blocking socket, as a plain {@link ByteChannel}: what a handler reads and writes once a TLS
 * step wrapped its connection. Reads and writes may run on two threads at once (a relay), each under
 * its own lock; a post-handshake message met while reading (a key update) is answered under the write
 * lock. Closing sends close_notify and half-closes the socket, which stays open for the server to close.
 *
 * <p>End of input: the peer's close_notify, or its plain end-of-file. Over TLS 1.3 a close_notify ends
 * only the peer's direction, so the server can still answer; over TLS 1.2 the engine answers it with its
 * own, which ends both.
 */
public final class TlsChannel implements ByteChannel {

    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    private final SocketChannel socket;
    private final SSLEngine engine;
    private final Object readLock = new Object();
    private final Object writeLock = new Object();
    private ByteBuffer netIn; // write mode: bytes read from the socket, not yet unwrapped
    private ByteBuffer appIn; // read mode: plain text unwrapped, not yet given to the reader
    private ByteBuffer netOut; // scratch for wrap, write mode
    private boolean inputEnded; // guarded by readLock
    private volatile boolean closed;
    private IoWatchdog.Deadline deadline; // null: no timeouts
    private long readTimeoutNanos;
    private long writeTimeoutNanos;

    public TlsChannel(SocketChannel socket, SSLEngine engine) {
        this.socket = socket;
        this.engine = engine;
        var session = engine.getSession();
        this.netIn = ByteBuffer.allocate(session.getPacketBufferSize());
        this.appIn = ByteBuffer.allocate(session.getApplicationBufferSize()).flip();
        this.netOut = ByteBuffer.allocate(session.getPacketBufferSize());
    }

    /**
     * Read and write timeouts for the plain-text side, as {@link ChannelStreams} has them: a socket read
     * that waits longer than {@code read}, or a write that makes no progress for {@code write}, closes the
     * connection and fails with a {@link java.net.SocketTimeoutException}. Null: none.
     */
    public void timeouts(java.time.Duration read, java.time.Duration write) {
        readTimeoutNanos = read == null ? 0 : read.toNanos();
        writeTimeoutNanos = write == null ? 0 : write.toNanos();
        if (read != null || write != null) {
            deadline = IoWatchdog.of(socket);
        }
    }

    private int socketRead(ByteBuffer into) throws IOException {
        if (readTimeoutNanos == 0) {
            return socket.read(into);
        }
        deadline.armRead(readTimeoutNanos);
        try {
            return socket.read(into);
        } catch (java.nio.channels.ClosedChannelException e) {
            throw timedOutOr(e, "read", readTimeoutNanos);
        } finally {
            deadline.disarmRead();
        }
    }

    private void socketWrite(ByteBuffer from) throws IOException {
        if (writeTimeoutNanos == 0) {
            socket.write(from);
            return;
        }
        deadline.armWrite(writeTimeoutNanos);
        try {
            socket.write(from);
        } catch (java.nio.channels.ClosedChannelException e) {
            throw timedOutOr(e, "write", writeTimeoutNanos);
        } finally {
            deadline.disarmWrite();
        }
    }

    private IOException timedOutOr(IOException e, String what, long nanos) {
        if (deadline != null && deadline.fired()) {
            var t = new java.net.SocketTimeoutException("TLS " + what + " timed out after "
                    + Durations.format(java.time.Duration.ofNanos(nanos)));
            t.initCause(e);
            return t;
        }
        return e;
    }

    /** Runs the handshake to its end; throws {@link SSLException} with the reason when it fails. */
    public void handshake() throws IOException {
        try {
            handshakeSteps();
        } catch (SSLException e) {
            sendAlert();
            throw e;
        }
    }

    /** After a failed handshake the engine holds an alert that says why: send it, if the client still listens. */
    private void sendAlert() {
        synchronized (writeLock) {
            try {
                engine.closeOutbound();
                for (int records = 0; records < 4 && !engine.isOutboundDone(); records++) { // an alert is one record
                    if (wrapAndSend(EMPTY) == SSLEngineResult.Status.CLOSED) {
                        break;
                    }
                }
            } catch (IOException | RuntimeException clientGone) {
                // nobody to tell
            }
        }
    }

    private void handshakeSteps() throws IOException {
        engine.beginHandshake();
        while (true) {
            HandshakeStatus status = engine.getHandshakeStatus();
            switch (status) {
                case NEED_WRAP -> {
                    synchronized (writeLock) {
                        if (wrapAndSend(EMPTY) == SSLEngineResult.Status.CLOSED) {
                            // the engine is done (an alert went out, or the client left): never loop on it
                            throw new SSLException("the connection closed during the handshake");
                        }
                    }
                }
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    synchronized (readLock) {
                        if (!unwrapSome()) {
                            throw new SSLException("the client closed the connection during the handshake");
                        }
                    }
                }
                case NEED_TASK -> runTasks();
                case FINISHED, NOT_HANDSHAKING -> {
                    return;
                }
            }
        }
    }

    private void runTasks() {
        Runnable task;
        while ((task = engine.getDelegatedTask()) != null) {
            task.run();
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        synchronized (readLock) {
            while (true) {
                if (appIn.hasRemaining()) {
                    int n = Math.min(dst.remaining(), appIn.remaining());
                    ByteBuffer slice = appIn.slice(appIn.position(), n);
                    dst.put(slice);
                    appIn.position(appIn.position() + n);
                    return n;
                }
                if (inputEnded) {
                    return -1;
                }
                if (!unwrapSome()) {
                    inputEnded = true;
                }
            }
        }
    }

    /**
     * Unwraps what the socket has (reading from it when nothing whole is buffered) into {@code appIn}; false
     * at the end of the peer's input (close_notify or end-of-file). Caller holds readLock.
     */
    private boolean unwrapSome() throws IOException {
        appIn.compact(); // to write mode
        try {
            while (true) {
                netIn.flip();
                SSLEngineResult result;
                try {
                    result = engine.unwrap(netIn, appIn);
                } finally {
                    netIn.compact();
                }
                answerPostHandshake(result.getHandshakeStatus());
                switch (result.getStatus()) {
                    case OK -> {
                        return true; // plain text, or a handshake message: the caller looks again
                    }
                    case BUFFER_UNDERFLOW -> {
                        if (!netIn.hasRemaining()) {
                            netIn = grow(netIn, engine.getSession().getPacketBufferSize());
                        }
                        if (socketRead(netIn) < 0) {
                            return endOfFile();
                        }
                    }
                    case BUFFER_OVERFLOW -> appIn = grow(appIn, engine.getSession().getApplicationBufferSize());
                    case CLOSED -> {
                        return false; // close_notify
                    }
                }
            }
        } finally {
            appIn.flip();
        }
    }

    private boolean endOfFile() throws IOException {
        try {
            engine.closeInbound(); // a plain end-of-file without close_notify: a truncation
        } catch (SSLException truncated) {
            // the peer just went away: its input ends here either way
        }
        if (engine.getHandshakeStatus() != HandshakeStatus.NOT_HANDSHAKING
                && engine.getHandshakeStatus() != HandshakeStatus.NEED_WRAP) {
            throw new EOFException("the connection ended during the TLS handshake");
        }
        return false;
    }

    /** A key update or ticket met while reading may need an answer or a task. */
    private void answerPostHandshake(HandshakeStatus status) throws IOException {
        if (status == HandshakeStatus.NEED_TASK) {
            runTasks();
            status = engine.getHandshakeStatus();
        }
        if (status == HandshakeStatus.NEED_WRAP && !engine.isOutboundDone()) {
            synchronized (writeLock) {
                wrapAndSend(EMPTY);
            }
        }
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        if (closed) {
            throw new ClosedChannelException();
        }
        synchronized (writeLock) {
            int before = src.remaining();
            while (src.hasRemaining()) {
                if (wrapAndSend(src) == SSLEngineResult.Status.CLOSED) {
                    throw new ClosedChannelException();
                }
            }
            return before;
        }
    }

    /** Wraps (some of) {@code src} and writes the record whole. Caller holds writeLock. */
    private SSLEngineResult.Status wrapAndSend(ByteBuffer src) throws IOException {
        while (true) {
            netOut.clear();
            SSLEngineResult result = engine.wrap(src, netOut);
            netOut.flip();
            while (netOut.hasRemaining()) {
                socketWrite(netOut);
            }
            switch (result.getStatus()) {
                case BUFFER_OVERFLOW -> netOut = grow(netOut, engine.getSession().getPacketBufferSize());
                case OK, CLOSED, BUFFER_UNDERFLOW -> {
                    if (result.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
                        runTasks();
                    }
                    return result.getStatus();
                }
            }
        }
    }

    private static ByteBuffer grow(ByteBuffer buffer, int atLeast) {
        ByteBuffer bigger = ByteBuffer.allocate(Math.max(atLeast, buffer.capacity() * 2));
        buffer.flip();
        bigger.put(buffer);
        return bigger;
    }

    @Override
    public boolean isOpen() {
        return !closed && socket.isOpen();
    }

    /**
     * Ends the server's direction: sends close_notify, then half-closes the socket. The socket itself is
     * closed by the server when the request ends.
     */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        if (deadline != null) {
            IoWatchdog.unwatch(deadline);
        }
        synchronized (writeLock) {
            engine.closeOutbound();
            try {
                for (int records = 0; records < 4 && !engine.isOutboundDone(); records++) { // close_notify is one record
                    if (wrapAndSend(EMPTY) == SSLEngineResult.Status.CLOSED) {
                        break;
                    }
                }
                socket.shutdownOutput();
            } catch (IOException peerGone) {
                // the client is gone: there is nobody to say goodbye to
            }
        }
    }
}
