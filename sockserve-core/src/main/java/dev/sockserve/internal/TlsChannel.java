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
    /** Records moved per system call while bulk data flows: loopback's 64 KiB segment holds four. */
    private static final int BATCH_RECORDS = 4;
    /** What a connection reads records into at first: a ClientHello and small records fit. */
    private static final int SMALL_NET_IN = 4096;
    /** What a connection unwraps small records into at first. */
    private static final int SMALL_APP_IN = 1024;
    /** The TLS record header: type, version, 2-byte length. */
    private static final int HEADER = 5;

    private final SocketChannel socket;
    private final SSLEngine engine;
    private final Object readLock = new Object();
    private final Object writeLock = new Object();
    private ByteBuffer netIn; // write mode: bytes read from the socket, not yet unwrapped
    private ByteBuffer ownNetIn; // what netIn is while nothing flows; a batch buffer is borrowed while records keep coming
    private final int batchSize; // BATCH_RECORDS records
    private final BufferPool<byte[]> batches; // arrays of batchSize bytes
    private ByteBuffer appIn; // read mode: plain text unwrapped, not yet given to the reader
    private boolean inputEnded; // guarded by readLock
    private volatile boolean closed;
    private IoWatchdog.Deadline deadline; // null: no timeouts
    private long readTimeoutNanos;
    private long writeTimeoutNanos;

    public TlsChannel(SocketChannel socket, SSLEngine engine) {
        this.socket = socket;
        this.engine = engine;
        var session = engine.getSession();
        // small until a record needs more (they grow then): a connection's first messages and small exchanges
        // fit, a handshake makes less garbage, and an idle connection holds a few KiB
        this.netIn = ByteBuffer.allocate(Math.min(SMALL_NET_IN, session.getPacketBufferSize()));
        this.ownNetIn = netIn;
        this.batchSize = BATCH_RECORDS * session.getPacketBufferSize();
        this.batches = BufferPool.of(batchSize);
        this.appIn = ByteBuffer.allocate(Math.min(SMALL_APP_IN, session.getApplicationBufferSize())).flip();
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
                        if (wrapFlight() == SSLEngineResult.Status.CLOSED) {
                            // the engine is done (an alert went out, or the client left): never loop on it
                            throw new SSLException("the connection closed during the handshake");
                        }
                    }
                }
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    synchronized (readLock) {
                        appIn.compact(); // to write mode
                        try {
                            if (!unwrapSome(appIn)) {
                                throw new SSLException("the client closed the connection during the handshake");
                            }
                        } finally {
                            appIn.flip();
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

    /**
     * Reads plain text: blocks until some is there, then gives {@code dst} all that the records already
     * received hold, several records at once when it has room (unwrapped straight into it), without blocking again.
     */
    @Override
    public int read(ByteBuffer dst) throws IOException {
        synchronized (readLock) {
            int start = dst.position();
            while (true) {
                if (appIn.hasRemaining()) {
                    int n = Math.min(dst.remaining(), appIn.remaining());
                    dst.put(appIn.slice(appIn.position(), n));
                    appIn.position(appIn.position() + n);
                }
                boolean some = dst.position() > start;
                if (!dst.hasRemaining() || (some && (inputEnded || !recordBuffered()))) {
                    return dst.position() - start;
                }
                if (inputEnded) {
                    return -1;
                }
                boolean more;
                if (dst.remaining() >= engine.getSession().getApplicationBufferSize()) {
                    more = unwrapSome(dst); // a whole record fits: no copy through appIn
                } else {
                    appIn.compact(); // to write mode
                    try {
                        more = unwrapSome(appIn);
                    } finally {
                        appIn.flip();
                    }
                }
                if (!more) {
                    inputEnded = true;
                }
            }
        }
    }

    /**
     * The plain input as a stream reading through {@code source} (this channel, or a wrapper of it), whose
     * {@code transferTo} moves each burst of records in one write (so the output can send them in one
     * system call) and holds only a small array while the peer is silent.
     */
    public java.io.InputStream input(java.nio.channels.ReadableByteChannel source) {
        return new Input(source);
    }

    private final class Input extends java.io.InputStream {
        private final java.nio.channels.ReadableByteChannel source;
        private final byte[] small = new byte[128];

        Input(java.nio.channels.ReadableByteChannel source) {
            this.source = source;
        }

        @Override
        public int read() throws IOException {
            int n = read(small, 0, 1);
            return n < 0 ? -1 : small[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            java.util.Objects.checkFromIndexSize(off, len, b.length);
            return len == 0 ? 0 : source.read(ByteBuffer.wrap(b, off, len));
        }

        @Override
        public long transferTo(java.io.OutputStream out) throws IOException {
            long total = 0;
            int n;
            while ((n = read(small, 0, small.length)) >= 0) {
                if (!readable()) {
                    out.write(small, 0, n);
                    total += n;
                    continue;
                }
                byte[] batch = batches.take(); // more is buffered: all of it in one write
                try {
                    System.arraycopy(small, 0, batch, 0, n);
                    ByteBuffer rest = ByteBuffer.wrap(batch, n, batch.length - n);
                    source.read(rest); // returns at once: it is buffered
                    out.write(batch, 0, rest.position());
                    total += rest.position();
                } finally {
                    batches.give(batch);
                }
            }
            return total;
        }
    }

    /** Whether a read would not block: plain text or a whole record is buffered. For the reading thread. */
    public boolean readable() {
        synchronized (readLock) {
            return appIn.hasRemaining() || recordBuffered();
        }
    }

    /** Whether netIn holds a whole record. Caller holds readLock. */
    private boolean recordBuffered() {
        int have = netIn.position();
        return have >= HEADER && have >= HEADER + (((netIn.get(3) & 0xff) << 8) | (netIn.get(4) & 0xff));
    }

    /**
     * Unwraps one record from what the socket sent (reading from it when nothing whole is buffered) into
     * {@code into} (write mode); false at the end of the peer's input (close_notify or end-of-file).
     * Caller holds readLock.
     */
    private boolean unwrapSome(ByteBuffer into) throws IOException {
        while (true) {
            netIn.flip();
            SSLEngineResult result;
            try {
                result = engine.unwrap(netIn, into);
            } finally {
                netIn.compact();
            }
            answerPostHandshake(result.getHandshakeStatus());
            switch (result.getStatus()) {
                case OK -> {
                    returnBatchIfDrained();
                    return true; // plain text, or a handshake message: the caller looks again
                }
                case BUFFER_UNDERFLOW -> {
                    if (!netIn.hasRemaining()) {
                        netIn = grow(netIn, engine.getSession().getPacketBufferSize());
                    }
                    if (socketRead(netIn) < 0) {
                        return endOfFile();
                    }
                    if (!netIn.hasRemaining() && netIn == ownNetIn) {
                        // a full read: more records are likely waiting, read them in batches while they come
                        byte[] batch = batches.take();
                        netIn = ByteBuffer.wrap(batch).put(ownNetIn.flip());
                        ownNetIn.clear();
                    }
                }
                case BUFFER_OVERFLOW -> {
                    if (into != appIn) { // the caller's buffer is too small for this record after all: through appIn
                        appIn.compact();
                        try {
                            return unwrapSome(appIn);
                        } finally {
                            appIn.flip();
                        }
                    }
                    appIn = into = grow(appIn, engine.getSession().getApplicationBufferSize());
                }
                case CLOSED -> {
                    return false; // close_notify
                }
            }
        }
    }

    /** Back to the connection's own small buffer once a borrowed batch holds nothing. */
    private void returnBatchIfDrained() {
        if (netIn != ownNetIn && netIn.position() == 0) {
            if (netIn.capacity() == batchSize) {
                batches.give(netIn.array());
            }
            netIn = ownNetIn;
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

    /** A handshake message, key update or ticket met while reading may need an answer or a task. */
    private void answerPostHandshake(HandshakeStatus status) throws IOException {
        if (status == HandshakeStatus.NEED_TASK) {
            runTasks();
            status = engine.getHandshakeStatus();
        }
        if (status == HandshakeStatus.NEED_WRAP && !engine.isOutboundDone()) {
            synchronized (writeLock) {
                wrapFlight(); // during the handshake, the server's whole first flight
            }
        }
    }

    /** Writes all of {@code src}: several records per system call when it holds more than one. */
    @Override
    public int write(ByteBuffer src) throws IOException {
        if (closed) {
            throw new ClosedChannelException();
        }
        synchronized (writeLock) {
            int before = src.remaining();
            if (before <= engine.getSession().getApplicationBufferSize()) {
                while (src.hasRemaining()) {
                    if (wrapAndSend(src) == SSLEngineResult.Status.CLOSED) {
                        throw new ClosedChannelException();
                    }
                }
                return before;
            }
            byte[] batch = batches.take();
            try {
                ByteBuffer records = ByteBuffer.wrap(batch);
                int recordSize = engine.getSession().getPacketBufferSize();
                while (src.hasRemaining()) {
                    SSLEngineResult.Status status = SSLEngineResult.Status.OK;
                    while (src.hasRemaining() && records.remaining() >= recordSize
                            && status != SSLEngineResult.Status.BUFFER_OVERFLOW) {
                        SSLEngineResult result = engine.wrap(src, records);
                        status = result.getStatus();
                        if (status == SSLEngineResult.Status.CLOSED) {
                            throw new ClosedChannelException();
                        }
                        if (result.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
                            runTasks();
                        }
                    }
                    if (records.position() == 0 && status == SSLEngineResult.Status.BUFFER_OVERFLOW
                            && wrapAndSend(src) == SSLEngineResult.Status.CLOSED) { // records grew: the one-record path grows
                        throw new ClosedChannelException();
                    }
                    send(records);
                }
            } finally {
                batches.give(batch);
            }
            return before;
        }
    }

    /**
     * Wraps handshake messages while the engine has more to send and writes them in one system call: a TLS
     * 1.3 server's first flight is three records (ServerHello, ChangeCipherSpec, the encrypted rest), which
     * the client would otherwise be woken for one by one. Caller holds writeLock.
     */
    private SSLEngineResult.Status wrapFlight() throws IOException {
        byte[] batch = batches.take(); // the engine wants a whole record's room after each record
        ByteBuffer flight = ByteBuffer.wrap(batch);
        try {
            while (true) {
                SSLEngineResult result = engine.wrap(EMPTY, flight);
                if (result.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                    if (flight.position() == 0) {
                        return wrapAndSend(EMPTY); // a record larger than a batch: the one-record path grows
                    }
                    send(flight);
                    continue;
                }
                HandshakeStatus status = result.getHandshakeStatus();
                if (status == HandshakeStatus.NEED_TASK) {
                    runTasks();
                    status = engine.getHandshakeStatus();
                }
                if (result.getStatus() != SSLEngineResult.Status.OK || status != HandshakeStatus.NEED_WRAP) {
                    send(flight);
                    return result.getStatus();
                }
            }
        } catch (SSLException e) {
            try {
                send(flight); // what was wrapped before the failure goes first, as it would have one record at a time
            } catch (IOException clientGone) {
                e.addSuppressed(clientGone);
            }
            throw e;
        } finally {
            batches.give(batch);
        }
    }

    /** Writes the records in {@code records} (write mode) whole and clears it. */
    private void send(ByteBuffer records) throws IOException {
        records.flip();
        while (records.hasRemaining()) {
            socketWrite(records);
        }
        records.clear();
    }

    /** Wraps (some of) {@code src} and writes the record whole. Caller holds writeLock. */
    private SSLEngineResult.Status wrapAndSend(ByteBuffer src) throws IOException {
        byte[] batch = batches.take(); // the engine wants a whole record's room, more than a connection keeps
        try {
            ByteBuffer record = ByteBuffer.wrap(batch);
            while (true) {
                SSLEngineResult result = engine.wrap(src, record);
                if (result.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                    record = ByteBuffer.allocate(record.capacity() * 2); // a record larger than four: never with JSSE's sizes
                    continue;
                }
                send(record);
                if (result.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
                    runTasks();
                }
                return result.getStatus();
            }
        } finally {
            batches.give(batch);
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
            if (!socket.isOpen()) {
                return; // closed already (a relay does so after a failure): nothing to send, and no exception for it
            }
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
