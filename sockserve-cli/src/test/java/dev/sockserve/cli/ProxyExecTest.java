package dev.sockserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@code exec} behind the PROXY protocol: what the program's environment says, from a v2 header a real client sends. */
@ExtendWith(NoLeaks.class)
@Timeout(60)
class ProxyExecTest {

    /** Python: a v2 header from 203.0.113.9:1234 to 10.1.2.3:80 with ALPN, AUTHORITY, UNIQUE_ID and SSL TLVs. */
    static final String CLIENT = String.join("\n", "import socket, struct, sys",
            "def tlv(t, v): return struct.pack('!BH', t, len(v)) + v",
            "ssl = b'\\x01' + b'\\x00\\x00\\x00\\x00' + tlv(0x21, b'TLSv1.3') + tlv(0x22, b'client\\x1b[31m.example')",
            "body = bytes([203, 0, 113, 9, 10, 1, 2, 3]) + struct.pack('!HH', 1234, 80)",
            "body += tlv(1, b'h2') + tlv(2, b'www.example\\r\\nX: y') + tlv(5, b'req-42') + tlv(0x20, ssl)",
            "sig = b'\\r\\n\\r\\n\\x00\\r\\nQUIT\\n'",
            "with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10) as s:",
            "    s.sendall(sig + b'\\x21\\x11' + struct.pack('!H', len(body)) + body)",
            "    s.shutdown(socket.SHUT_WR)",
            "    got = b''",
            "    while True:",
            "        chunk = s.recv(4096)",
            "        if not chunk: break",
            "        got += chunk",
            "    print('%s:%d' % s.getsockname())",
            "    sys.stdout.write(got.decode())");

    @Test
    void theProgramGetsTheHeadersAddressesTheProxysOwnAndTheTlvsWithoutControlCharacters() throws Exception {
        Path dir = Harness.tempDir();
        try {
            Path script = dir.resolve("env.sh");
            Files.writeString(script, "#!/bin/sh\nenv | grep -E '^(TCP|PROXY_)' | sort\n");
            script.toFile().setExecutable(true);
            try (var server = Harness.start("exec", "--listen", "tcp://127.0.0.1:0", "--proxy-protocol",
                    "--trusted-proxies", "127.0.0.1", "--", script.toString())) {
                String bound = server.address(0);
                String out = Harness.run(List.of("python3", "-c", CLIENT, bound.substring(bound.lastIndexOf(':') + 1)), 30);
                List<String> lines = out.lines().toList();
                String me = lines.get(0);
                assertEquals(List.of(
                        "PROXY_SOURCE_IP=127.0.0.1",
                        "PROXY_TLV_ALPN=h2",
                        "PROXY_TLV_AUTHORITY=www.exampleX: y",
                        "PROXY_TLV_SSL_CN=client[31m.example",
                        "PROXY_TLV_SSL_VERSION=TLSv1.3",
                        "PROXY_TLV_UNIQUE_ID=req-42",
                        "TCPLOCALIP=10.1.2.3",
                        "TCPLOCALPORT=80",
                        "TCPREMOTEIP=203.0.113.9",
                        "TCPREMOTEPORT=1234"), lines.subList(1, lines.size()), "the client was " + me);
            }
        } finally {
            Harness.deleteTree(dir);
        }
    }
}
