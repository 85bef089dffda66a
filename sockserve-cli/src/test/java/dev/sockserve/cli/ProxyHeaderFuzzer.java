package dev.sockserve.cli;

import dev.sockserve.ProxyHeader;
import dev.sockserve.internal.ProxyHeaderParser;
import java.io.EOFException;
import java.io.IOException;

/**
 * Jazzer target for the core's PROXY protocol header parser, the command's one parser of bytes a client
 * sends before it is served (run with {@code ./fuzz}): any bytes are a header, or refused as
 * {@link ProxyHeaderParser.Malformed}, or run out ({@link EOFException}); a header read took exactly its
 * own bytes (v1: up to its first CRLF; v2: 16 bytes and the length it gives), never one past it.
 */
public final class ProxyHeaderFuzzer {

    private ProxyHeaderFuzzer() {
    }

    public static void fuzzerTestOneInput(byte[] data) {
        int[] taken = {0};
        ProxyHeaderParser.Source source = (into, offset, n) -> {
            if (n < 0 || taken[0] + n > data.length) {
                throw new EOFException("the input ended");
            }
            System.arraycopy(data, taken[0], into, offset, n);
            taken[0] += n;
        };
        ProxyHeader header;
        try {
            header = ProxyHeaderParser.parse(source);
        } catch (ProxyHeaderParser.Malformed | EOFException refused) {
            return;
        } catch (IOException e) {
            throw new AssertionError("an I/O error that is neither a refusal nor the end of input", e);
        }
        int length = headerLength(data);
        if (taken[0] != length) {
            throw new AssertionError("read " + taken[0] + " bytes of a " + length + "-byte header: " + header);
        }
    }

    /** The header's own length, from its bytes: v1 up to the first CRLF, v2 the fixed 16 plus its length field. */
    private static int headerLength(byte[] data) {
        if (data[0] == 'P') {
            for (int i = 1; i < data.length; i++) {
                if (data[i - 1] == '\r' && data[i] == '\n') {
                    return i + 1;
                }
            }
            return -1;
        }
        return 16 + (((data[14] & 0xff) << 8) | (data[15] & 0xff));
    }
}
