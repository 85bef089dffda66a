package dev.sockserve.internal;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * A Unix socket file a server created by binding. It is removed at close only while its path still
 * names that very file (same device and inode): a file someone put in its place, or another server's
 * socket bound there since, is left alone.
 */
public final class SocketFile {

    private static final System.Logger LOG = System.getLogger("dev.sockserve");

    private final Path path;
    private final Object key; // the file's device and inode; null where the platform has no file keys

    private SocketFile(Path path, Object key) {
        this.path = path;
        this.key = key;
    }

    /** Remembers the socket file just created at {@code path}. */
    public static SocketFile created(Path path) {
        Object key;
        try {
            key = attributes(path).fileKey();
        } catch (IOException unreadable) {
            key = null; // then it is removed if it is still a socket
        }
        return new SocketFile(path, key);
    }

    public Path path() {
        return path;
    }

    /** Removes the file if the path still names the one created; returns whether it did. */
    public boolean remove() throws IOException {
        BasicFileAttributes now;
        try {
            now = attributes(path);
        } catch (NoSuchFileException gone) {
            return false;
        }
        boolean same = key != null ? key.equals(now.fileKey()) : now.isOther();
        if (!same) {
            LOG.log(Level.WARNING, "not removing " + path + ": it is no longer the socket this server created");
            return false;
        }
        return Files.deleteIfExists(path);
    }

    private static BasicFileAttributes attributes(Path path) throws IOException {
        return Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    }
}
