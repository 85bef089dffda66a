"""Echo peer for the benchmark: Python's own socketserver, the seed of sockserve.

    python3 echo_server.py tcp|udp PORT      (PORT 0: any free port)

Prints "READY <port>" once listening, then serves until killed. Configured the way the
socketserver documentation suggests for a threading server that must hold many clients.
"""
import os
import socket
import socketserver
import sys
import threading
import time


class EchoTcpHandler(socketserver.BaseRequestHandler):
    def setup(self):
        # The load generator waits for each echo: without TCP_NODELAY Nagle would hold small replies.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self):
        recv, sendall = self.request.recv, self.request.sendall
        while True:
            data = recv(16384)
            if not data:
                return
            sendall(data)


class EchoUdpHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


class EchoTcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True          # a killed benchmark step must not wait for 10,000 handler threads
    allow_reuse_address = True     # steps follow each other quickly on loopback ports
    request_queue_size = 16384     # listen() backlog for 10,000 connections (the kernel caps it at somaxconn)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)   # a reset at the end of a step is not news


class EchoUdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True


def exit_when_parent_dies():
    """No server may outlive the benchmark run, even when the driver is killed with SIGKILL."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)
    threading.Thread(target=watch, name="bench-parent-watch", daemon=True).start()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("tcp", "udp"):
        sys.exit("usage: echo_server.py tcp|udp PORT")
    kind, port = sys.argv[1], int(sys.argv[2])
    exit_when_parent_dies()
    server_class, handler = (EchoTcpServer, EchoTcpHandler) if kind == "tcp" else (EchoUdpServer, EchoUdpHandler)
    with server_class(("127.0.0.1", port), handler) as server:
        print("READY", server.server_address[1], flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
