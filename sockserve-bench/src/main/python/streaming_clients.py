"""Fairness probe: light clients' round trips while other clients stream without pause.

usage: python3 streaming_clients.py PORT STREAMS LIGHT SECONDS

STREAMS clients each write 64 KiB chunks to an echo server at 127.0.0.1:PORT without pause and drain
the echo in a second thread; after half a second LIGHT clients do 64-byte round trips for SECONDS.
Prints the round trips per light client (min, median, max) and how many made none. A server that lets
a streaming client keep its thread (or its event loop) to itself shows the light clients starving.
"""
import socket
import sys
import threading
import time

port, streams, light, seconds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
stop = time.time() + 0.5 + seconds


def stream():
    s = socket.create_connection(("127.0.0.1", port))

    def drain():
        try:
            while time.time() < stop and s.recv(1 << 20):
                pass
        except OSError:
            pass

    threading.Thread(target=drain, daemon=True).start()
    chunk = b"x" * 65536
    try:
        while time.time() < stop:
            s.sendall(chunk)
    except OSError:
        pass


counts = [0] * light


def ping(i):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(seconds + 5)
    try:
        while time.time() < stop:
            s.sendall(b"p" * 64)
            got = 0
            while got < 64:
                got += len(s.recv(64 - got))
            counts[i] += 1
    except OSError:
        pass


for _ in range(streams):
    threading.Thread(target=stream, daemon=True).start()
time.sleep(0.5)
pingers = [threading.Thread(target=ping, args=(i,), daemon=True) for i in range(light)]
for t in pingers:
    t.start()
for t in pingers:
    t.join(seconds + 6)
c = sorted(counts)
print(f"{streams} streaming clients: {light} light clients, round trips each in {seconds:g} s: "
      f"min {c[0]}, median {c[len(c) // 2]}, max {c[-1]}; none: {sum(1 for x in c if x == 0)}")
