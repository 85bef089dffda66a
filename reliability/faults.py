"""The fault suite (run it with ./faults; ./faults --help lists the cases).

Each case starts a server (the shipped ./sockserve, or for handler crashes the library's CrashServer),
warms it up, takes its idle descriptors, threads and children from /proc as the baseline, attacks it
from loopback, then checks that it still answers a fresh client with an intact echo and holds no
descriptor, thread (beyond the JDK's own lazily made ones) or child process more than at the baseline.
Every loop is bounded in count and in time. A case that fails says what, and the suite exits 1."""

import argparse
import json
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (ROOT, Fail, Monitor, Server, await_no_leak, connect, echo_halfclose, free_port, fresh_client,
                    jdk_extra, jvm_flags, listening, log, new_marker, payload, processes_with_env, raise_nofile,
                    recv_all, recv_exact, rst_close, run_parallel, settle, tcp_states)

SCALE = 1.0


def n(count):
    return max(1, int(count * SCALE))


def sockserve(service, port, *args, unix=None):
    argv = ["./sockserve", service, "--listen", f"tcp://127.0.0.1:{port}"]
    if unix:
        argv += ["--listen", f"unix:{unix}"]
    return argv + list(args)


def warm(addr, count=200):
    """Brings the JVM to its steady set of threads and descriptors before the baseline is taken."""
    rng = random.Random(1)
    counts, _ = run_parallel(8, lambda i: "ok" if echo_halfclose(addr, payload(rng, rng.randrange(0, 70000)))
                             else "bad", range(count), time.monotonic() + 120)
    for i in range(50):
        s = connect(addr)
        s.sendall(b"x" * 1000)
        rst_close(s)
    park_handlers(addr, b"x" * 100)
    return counts


def park_handlers(addr, data):
    """Clients that wait before sending, so handlers park in a read and the JDK makes its I/O pollers
    (made lazily, on the first read that has to wait) before the baseline."""
    socks = [connect(addr) for _ in range(8)]
    time.sleep(0.5)
    for s in socks:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    for s in socks:
        try:
            recv_all(s)
        except OSError:
            pass
        s.close()


class Case:
    def __init__(self, name, variant, load, command):
        self.name, self.variant, self.load, self.command = name, variant, load, command
        self.failures = []
        self.figures = {}
        self.t0 = time.monotonic()

    def fail(self, msg):
        self.failures.append(msg)
        log(f"    FAIL: {msg}")

    def fig(self, key, value):
        self.figures[key] = value
        log(f"    {key}: {value}")

    def result(self):
        return {"case": self.name, "variant": self.variant, "load": self.load, "command": self.command,
                "passed": not self.failures, "failures": self.failures, "figures": self.figures,
                "seconds": round(time.monotonic() - self.t0, 1)}


def finish(case, srv, base, addr, expect_exit=0, leak_limit=30.0, fresh=None):
    """The end every case shares: a fresh client answered, nothing leaked, a clean stop."""
    check_alive(case, srv)
    if srv.alive():
        err = fresh() if fresh else fresh_client(addr)
        if err:
            case.fail(f"a fresh client was not answered: {err}")
        else:
            case.fig("fresh client", "answered, echo intact")
        now, found, took = await_no_leak(srv, base, leak_limit)
        case.fig("descriptors", f"{base['fds']} at baseline, {now['fds']} after")
        case.fig("threads", f"{base['threads']} at baseline, {now['threads']} after"
                 + (f" (JDK lazily made: {', '.join(jdk_extra(base, now))})" if jdk_extra(base, now) else ""))
        case.fig("child processes", f"{len(base['children'])} at baseline, {len(now['children'])} after")
        case.fig("RSS MB", f"{base['rss']:.0f} at baseline, {now['rss']:.0f} after")
        for f in found:
            case.fail(f"leaked after {took:.0f}s: {f}")
    status = srv.stop()
    case.fig("exit status on SIGTERM", status)
    if status != expect_exit:
        case.fail(f"exit status {status} on SIGTERM, expected {expect_exit}: {srv.log_tail()}")
    errors = [l for l in srv.log_lines() if "Exception" in l or "Error" in l]
    case.fig("server stderr", f"{len(srv.log_lines())} lines, {len(errors)} naming an exception")
    if errors:
        case.fig("first exception line", errors[0][:200])


def check_alive(case, srv):
    if not srv.alive():
        case.fail(f"the server died (status {srv.proc.returncode}): {srv.log_tail()}")


def check_monitor(case, mon):
    ok, lost, bad = mon.finish()
    case.fig("bystander client", f"{ok} round trips intact, {lost} lost, {bad} corrupted")
    if lost or bad:
        case.fail(f"a well-behaved client lost {lost} and got {bad} corrupted echoes: {mon.errors[:3]}")


def check_counts(case, counts, left, allowed):
    case.fig("outcomes", counts)
    if left:
        case.fail(f"{left} attempts not made (the case's time limit passed, or the server stopped answering)")
    bad = {k: v for k, v in counts.items() if k not in allowed}
    if bad:
        case.fail(f"unexpected outcomes: {bad}")


# ---------------------------------------------------------------------------------------------------

def case_resets(policy):
    """100k connections reset (SO_LINGER 0) at four points of a request."""
    total = n(100_000)
    port = free_port()
    argv = sockserve("echo", port, "--concurrency", policy)
    case = Case("resets", policy, f"{total:,} connections, each reset mid-request (SO_LINGER 0), 16 at once",
                " ".join(argv))
    srv = Server(argv, f"resets-{policy}", port=port)
    addr = ("127.0.0.1", port)
    warm(addr)
    base = settle(srv)
    mon = Monitor(addr)
    mon.start()
    rng = random.Random(2)

    def one(i):
        s = connect(addr)
        kind = i % 4
        if kind == 1:                     # a request sent, reset before reading the echo
            s.sendall(payload(rng, 1024))
        elif kind == 2:                   # 32 KB pushed, reset while the server echoes it
            s.setblocking(False)
            try:
                s.send(payload(rng, 32768))
            except BlockingIOError:
                pass
        elif kind == 3:                   # part of the echo read, reset in the middle of the rest
            s.sendall(payload(rng, 16384))
            s.recv(100)
        rst_close(s)                      # kind 0: reset before sending anything
        return "reset"

    t = time.monotonic()
    counts, left = run_parallel(16, one, range(total), time.monotonic() + 1500)
    case.fig("connections/s", round(sum(counts.values()) / (time.monotonic() - t)))
    check_counts(case, counts, left, {"reset"})
    check_monitor(case, mon)
    finish(case, srv, base, addr)
    return case


def case_halfclose(policy):
    """Half-closes: send, shutdown(SHUT_WR), read the whole echo, compare."""
    total = n(50_000)
    port = free_port()
    argv = sockserve("echo", port, "--concurrency", policy)
    case = Case("half-closes", policy, f"{total:,} connections: send 0 B to 1 MB, shutdown(SHUT_WR), read the "
                "echo to EOF, 16 at once", " ".join(argv))
    srv = Server(argv, f"halfclose-{policy}", port=port)
    addr = ("127.0.0.1", port)
    warm(addr)
    base = settle(srv)
    mon = Monitor(addr)
    mon.start()
    rng = random.Random(3)
    def size(i):
        if i % 100 == 99:
            return 1 << 20
        return (0, 1, rng.randrange(2, 1500), rng.randrange(1500, 65536), rng.randrange(65536, 262144))[i % 5]

    def one(i):
        return "intact" if echo_halfclose(addr, payload(rng, size(i))) else "corrupted"

    counts, left = run_parallel(16, one, range(total), time.monotonic() + 1200)
    check_counts(case, counts, left, {"intact"})
    check_monitor(case, mon)
    finish(case, srv, base, addr)
    return case


def wait_cut(socks, limit):
    """Waits until the server ends each socket (EOF or reset), draining echoes. Returns {sock: time cut}."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    cut = {}
    deadline = time.monotonic() + limit
    while len(cut) < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                cut[s] = time.monotonic()
                sel.unregister(s)
    sel.close()
    return cut


def case_slowloris(policy):
    """Clients that connect and go silent, or send a little and go silent, against --read-timeout 2s."""
    silent, partial = n(400), n(200)
    timeout = 2.0
    port = free_port()
    argv = sockserve("echo", port, "--concurrency", policy, "--read-timeout", "2s")
    case = Case("slowloris", policy, f"{silent} silent connections and {partial} that send 10 bytes then stall, "
                "at once, against --read-timeout 2s", " ".join(argv))
    srv = Server(argv, f"slowloris-{policy}", port=port)
    addr = ("127.0.0.1", port)
    warm(addr)
    base = settle(srv)
    mon = Monitor(addr, pause=0.1)       # well within the timeout: must never be cut
    mon.start()
    socks, last = [], {}
    for i in range(silent + partial):
        s = connect(addr)
        if i >= silent:
            s.sendall(b"slowloris!")
        last[s] = time.monotonic()
        socks.append(s)
    cut = wait_cut(socks, timeout + 30)
    late = [cut[s] - last[s] for s in cut]
    case.fig("cut by the server", f"{len(cut)} of {len(socks)}")
    if late:
        case.fig("seconds from a client's last byte to its cut", f"min {min(late):.1f}, max {max(late):.1f}")
    if len(cut) < len(socks):
        case.fail(f"{len(socks) - len(cut)} stalled connections still open {timeout + 30:.0f}s after their last byte")
    elif max(late) > timeout + 10:
        case.fail(f"a stalled connection was cut only {max(late):.1f}s after its last byte (timeout {timeout}s)")
    early = [x for x in late if x < timeout - 0.05]
    if early:
        case.fail(f"{len(early)} connections cut before the timeout ({min(early):.2f}s)")
    for s in socks:
        s.close()
    check_monitor(case, mon)
    finish(case, srv, base, addr)
    return case


def tcp_state(sock):
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]   # 1 established, 7 close, 8 close-wait


def case_nonreaders(policy):
    """Clients that send without ever reading, so the echo's writes stall, against --write-timeout 2s."""
    clients = n(50)
    wt = 2.0
    port = free_port()
    argv = sockserve("echo", port, "--concurrency", policy, "--write-timeout", "2s")
    case = Case("readers that never read", policy, f"{clients} clients push until every buffer is full and never "
                "read, against --write-timeout 2s", " ".join(argv))
    srv = Server(argv, f"nonreaders-{policy}", port=port)
    addr = ("127.0.0.1", port)
    warm(addr)
    base = settle(srv)
    mon = Monitor(addr, pause=0.05)
    mon.start()
    socks = [connect(addr) for _ in range(clients)]
    chunk = payload(random.Random(4), 65536)
    pushed = 0
    for s in socks:
        s.setblocking(False)
    full_at = {}                          # when a client's sends stopped progressing for good
    last_progress = {s: time.monotonic() for s in socks}
    t_end = time.monotonic() + 60
    while len(full_at) < len(socks) and time.monotonic() < t_end:
        for s in socks:
            if s in full_at:
                continue
            try:
                while True:
                    pushed += s.send(chunk)
                    last_progress[s] = time.monotonic()
            except BlockingIOError:
                if time.monotonic() - last_progress[s] > 1.0:   # the server stopped reading: its write stalls
                    full_at[s] = last_progress[s]
            except OSError:
                full_at[s] = last_progress[s]                     # already cut
        time.sleep(0.05)
    case.fig("bytes pushed and never read", f"{pushed / 1e6:.0f} MB")
    states = {}
    deadline = max(full_at.values(), default=time.monotonic()) + wt + 10
    while time.monotonic() < deadline:
        states = {}
        for s in socks:
            st = tcp_state(s)
            states[st] = states.get(st, 0) + 1
        if states.get(1, 0) == 0:
            break
        time.sleep(0.2)
    names = {1: "open", 7: "reset", 8: "closed with FIN"}
    case.fig("clients' TCP state", {names.get(k, k): v for k, v in states.items()})
    server_states = tcp_states(port)
    case.fig("server-side sockets", server_states)
    if states.get(1, 0):
        case.fail(f"{states[1]} stalled connections not cut {wt + 10:.0f}s after their buffers filled")
    if server_states.get("FIN_WAIT1", 0):
        case.fail(f"{server_states['FIN_WAIT1']} cut connections linger in FIN-WAIT-1 with data queued "
                  "(a graceful close, not a reset: the kernel keeps their buffers)")
    for s in socks:
        s.close()
    check_monitor(case, mon)
    finish(case, srv, base, addr)
    return case


def burst(addr, count, hold):
    """Opens count connections at once, each sending one byte, holds them for `hold` seconds,
    then closes them all. Returns how many had their byte echoed meanwhile."""
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(addr)
        except BlockingIOError:
            pass
        socks.append(s)
    time.sleep(0.2)
    for s in socks:
        try:
            s.send(b"x")
        except OSError:
            pass
    echoed = set()
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    end = time.monotonic() + hold
    while time.monotonic() < end:
        for key, _ in sel.select(0.2):
            try:
                if key.fileobj.recv(16):
                    echoed.add(key.fileobj)
            except OSError:
                pass
            sel.unregister(key.fileobj)
    sel.close()
    for s in socks:
        s.close()
    return len(echoed)


def case_exhaustion(label, args, nofile=200):
    """Descriptor exhaustion: the server under prlimit --nofile, a burst of connections as the first thing
    it sees, then again; after each burst it must serve every new client."""
    port = free_port()
    burst_size = n(3 * nofile)
    if label == "exec":
        argv = ["./sockserve", "exec", "--listen", f"tcp://127.0.0.1:{port}"] + args + ["--", "cat"]
    else:
        argv = sockserve("echo", port, *args)
    cmd = f"prlimit --nofile={nofile}:{nofile} -- " + " ".join(argv)
    case = Case("descriptor exhaustion", label, f"nofile {nofile}; {burst_size} connections at once as the first "
                "thing the server sees, held 5s, released; twice", cmd)
    srv = Server(argv, f"exhaustion-{label.replace(' ', '')}", port=port, nofile=nofile)
    addr = ("127.0.0.1", port)
    case.fig("descriptors at start", srv.snapshot()["fds"])
    base = None
    for round_ in (1, 2):
        echoed = burst(addr, burst_size, 5.0)
        check_alive(case, srv)
        if not srv.alive():
            break
        emfile = sum(1 for l in srv.log_lines() if "Too many open files" in l or "EMFILE" in l)
        case.fig(f"round {round_}", f"{echoed} of {burst_size} echoed while held; log lines naming EMFILE so far: "
                 f"{emfile}")
        err = fresh_client(addr, deadline=30)
        if err:
            case.fail(f"round {round_}: no fresh client answered within 30s of the release: {err}")
            break
        rng = random.Random(5)
        counts, left = run_parallel(4, lambda i: "intact" if echo_halfclose(addr, payload(rng, 5000), 10)
                                    else "corrupted", range(100), time.monotonic() + 120)
        case.fig(f"round {round_}: 100 new clients after the release", counts)
        if counts != {"intact": 100}:
            case.fail(f"round {round_}: after the release, 100 new clients got {counts}")
        if base is None:
            base = settle(srv, 2.0)
    if base is not None and srv.alive():
        finish(case, srv, base, addr)
    else:
        srv.stop()
    return case


def crash_server(port, policy):
    lib = os.path.join(ROOT, "sockserve-cli", "target", "lib")
    classes = os.path.join(ROOT, "reliability", "target", "classes")
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java")
    return [java] + jvm_flags() + ["--enable-native-access=dev.sockserve", "-p", lib,
                                   "--add-modules", "dev.sockserve", "-cp", classes, "CrashServer", str(port), policy]


def case_handler_crashes(policy, kinds=("runtime", "io", "error", "stack", "after")):
    """A library server whose handler throws (RuntimeException, IOException, AssertionError,
    StackOverflowError, after replying), on TCP and UDP."""
    crashes = n(1000)
    kinds = list(kinds)
    k = len(kinds)
    port = free_port()
    argv = crash_server(port, policy)
    variant = policy if k == 5 else f"{policy}, exceptions only"
    case = Case("handler crashes", variant, f"{crashes:,} TCP requests and {crashes:,} datagrams whose handler "
                f"throws ({', '.join(kinds)}), one in five more answered normally", "reliability/CrashServer.java "
                f"(./faults handler-crashes)")
    srv = Server(argv, f"crash-{variant.replace(', ', '-').replace(' ', '')}", port=port)
    addr = ("127.0.0.1", port)
    warm_counts, _ = run_parallel(4, lambda i: tcp_crash(addr, kinds[i % k] if i % 2 else "ok"), range(100),
                                  time.monotonic() + 120)
    run_parallel(4, lambda i: udp_crash(addr, kinds[i % k] if i % 2 else "ok", i), range(50), time.monotonic() + 60)
    if any(c.startswith("client error") or " got " in c for c in warm_counts) or not srv.alive():
        errors = [l for l in srv.log_lines() if l.startswith("Exception in thread")]
        case.fail(f"the server stopped answering during the warm-up (50 crashes): {warm_counts}; "
                  f"its log: {errors[:2] or srv.log_tail(3)}")
        case.fig("exit status on SIGTERM", srv.stop())
        return case
    park_handlers(addr, b"ok park\n")
    base = settle(srv, 2.0)
    total = crashes + crashes // 4

    def mode(i):
        return "ok" if i % 5 == 4 else kinds[(i - i // 5) % k]

    counts, left = run_parallel(8, lambda i: tcp_crash(addr, mode(i), i), range(total), time.monotonic() + 900)
    check_counts(case, counts, left, {"ok answered", "after answered"} | {f"{x} closed" for x in kinds})
    ucounts, uleft = run_parallel(16, lambda i: udp_crash(addr, mode(i), i), range(total), time.monotonic() + 900)
    case.fig("datagrams", ucounts)
    bad = {k: v for k, v in ucounts.items() if not (k.endswith("answered") and k.split()[0] in ("ok", "after")
                                                     or k.endswith("silent") and k.split()[0] in kinds[:4])}
    if bad or uleft:
        case.fail(f"datagrams: unexpected outcomes {bad}, {uleft} not sent in time")
    udp_ok = udp_crash(addr, "ok", -1)
    if udp_ok != "ok answered":
        case.fail(f"a fresh datagram got: {udp_ok}")
    finish(case, srv, base, addr, fresh=lambda: fresh_line(addr))
    return case


def fresh_line(addr):
    """The fresh-client check for servers that answer one line: "ok" echoed, retried for 30s."""
    err = None
    for _ in range(30):
        try:
            err = tcp_crash(addr, "ok", -1)
            if err == "ok answered":
                return None
        except OSError as e:
            err = f"{type(e).__name__}: {e}"
        time.sleep(1)
    return err


def tcp_crash(addr, mode, i=0):
    with connect(addr, 10) as s:
        line = f"{mode} {i}\n".encode()
        s.sendall(line)
        s.shutdown(socket.SHUT_WR)
        try:
            got = recv_all(s)
        except ConnectionResetError:
            got = b""
    if mode in ("ok", "after"):
        return f"{mode} answered" if got == line else f"{mode} got {got[:40]!r}"
    return f"{mode} closed" if not got else f"{mode} got {got[:40]!r}"


def udp_crash(addr, mode, i):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(5.0 if mode in ("ok", "after") else 0.3)   # a reply may queue behind crashes' logging
        line = f"{mode} {i}\n".encode()
        s.sendto(line, addr)
        try:
            got, _ = s.recvfrom(65536)
        except socket.timeout:
            return f"{mode} silent"
        return f"{mode} answered" if got == line else f"{mode} got {got[:40]!r}"
    finally:
        s.close()


CHILD_PROGRAM = ('IFS= read -r line; case "$line" in segv*) kill -SEGV $$;; abrt*) kill -ABRT $$;; '
                 'kill*) kill -KILL $$;; exit*) exit 3;; *) printf "%s\\n" "$line";; esac')


def case_child_crashes(transport):
    """exec whose program dies by SIGSEGV, SIGABRT, SIGKILL or exits 3 (and answers one in five)."""
    crashes = n(1000)
    kinds = ["segv", "abrt", "kill", "exit"]
    port = free_port()
    url = f"{transport}://127.0.0.1:{port}"
    argv = ["./sockserve", "exec", "--listen", url, "--", "sh", "-c", CHILD_PROGRAM]
    case = Case("child crashes", transport, f"{crashes:,} {'connections' if transport == 'tcp' else 'datagrams'} "
                f"whose program dies ({', '.join(kinds)}), one in five more answered", " ".join(argv[:5])
                + " -- sh -c '...kill -SEGV $$...' (reliability/faults.py CHILD_PROGRAM)")
    srv = Server(argv, f"child-{transport}", port=port)
    addr = ("127.0.0.1", port)
    rt = tcp_crash if transport == "tcp" else udp_crash

    def mode(i):
        return "ok" if i % 5 == 4 else kinds[(i - i // 5) % 4]

    run_parallel(4, lambda i: rt(addr, mode(i), i), range(40), time.monotonic() + 120)
    base = settle(srv, 2.0)
    total = crashes + crashes // 4
    counts, left = run_parallel(8, lambda i: rt(addr, mode(i), i), range(total), time.monotonic() + 900)
    good = {"ok answered"} | {f"{k} {'closed' if transport == 'tcp' else 'silent'}" for k in kinds}
    check_counts(case, counts, left, good)
    if transport == "tcp":
        finish(case, srv, base, addr, fresh=lambda: fresh_line(addr))
    else:
        r = udp_crash(addr, "ok", -1)
        if r != "ok answered":
            case.fail(f"a fresh datagram got: {r}")
        else:
            case.fig("fresh client", "answered")
        now, found, took = await_no_leak(srv, base)
        case.fig("descriptors", f"{base['fds']} at baseline, {now['fds']} after")
        case.fig("child processes", f"{len(base['children'])} at baseline, {len(now['children'])} after")
        for f in found:
            case.fail(f"leaked after {took:.0f}s: {f}")
        status = srv.stop()
        case.fig("exit status on SIGTERM", status)
        if status != 0:
            case.fail(f"exit status {status} on SIGTERM")
    return case


class Pinger(threading.Thread):
    """A client doing round trips on one connection until the server ends it; counts what it saw."""

    def __init__(self, addr, rng_seed, hello=None):
        super().__init__(daemon=True)
        self.addr, self.hello = addr, hello
        self.rng = random.Random(rng_seed)
        self.ok = 0
        self.corrupted = 0
        self.end = None

    def run(self):
        try:
            with connect(self.addr, 60) as s:
                if self.hello:
                    s.sendall(self.hello)
                    if recv_exact(s, len(self.hello)) != self.hello:
                        self.end = "no greeting"
                        return
                while True:
                    data = payload(self.rng, self.rng.randrange(1, 4096))
                    s.sendall(data)
                    got = b""
                    while len(got) < len(data):
                        b = s.recv(len(data) - len(got))
                        if not b:
                            self.end = "EOF"
                            return
                        got += b
                    if got == data:
                        self.ok += 1
                    else:
                        self.corrupted += 1
                    time.sleep(0.01)
        except OSError as e:
            self.end = type(e).__name__


def case_sigterm(label, args, program=None):
    """SIGTERM while clients are busy: exit 0 within the grace period, nothing left running or bound."""
    port = free_port()
    unix = f"/tmp/faults-sigterm-{os.getpid()}-{port}.sock"
    marker = new_marker()
    service = "exec" if program else "echo"
    argv = sockserve(service, port, "--grace", "3s", *args, unix=unix) + (["--"] + program if program else [])
    clients = n(100) if not program else n(30)
    case = Case("SIGTERM under load", label, f"{clients} clients in round trips (TCP and Unix) and 4 opening new "
                "connections without pause, then SIGTERM; --grace 3s", " ".join(argv))
    key, value = marker.split("=")
    srv = Server(argv, f"sigterm-{label}", port=port, unix_path=unix, env={key: value})
    addr = ("127.0.0.1", port)
    pingers = [Pinger(addr if i % 2 else unix, i, b"background\n" if program else None) for i in range(clients)]
    for p in pingers:
        p.start()
    stop_connecting = threading.Event()
    made = [0]

    def connector():
        while not stop_connecting.is_set():
            try:
                with connect(addr, 10) as s:
                    s.sendall(b"hello\n")
                    s.shutdown(socket.SHUT_WR)
                    recv_all(s)
                    made[0] += 1
            except OSError:
                time.sleep(0.05)

    conns = [threading.Thread(target=connector, daemon=True) for _ in range(4)]
    for c in conns:
        c.start()
    time.sleep(5)
    check_alive(case, srv)
    t = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        status = srv.proc.wait(30)
    except subprocess.TimeoutExpired:
        status = None
        case.fail(f"still running 30s after SIGTERM (grace 3s): {srv.log_tail()}")
        srv.proc.kill()
        srv.proc.wait()
    took = time.monotonic() - t
    stop_connecting.set()
    case.fig("exit status", status)
    case.fig("seconds from SIGTERM to exit", round(took, 1))
    if status is not None and status != 0:
        case.fail(f"exit status {status} after SIGTERM, expected 0: {srv.log_tail()}")
    for p in pingers:
        p.join(20)
    hung = sum(1 for p in pingers if p.is_alive())
    ends = {}
    for p in pingers:
        ends[p.end] = ends.get(p.end, 0) + 1
    case.fig("round trips before the end", sum(p.ok for p in pingers))
    case.fig("new connections served", made[0])
    case.fig("how the clients' connections ended", ends)
    if hung:
        case.fail(f"{hung} clients' connections not ended 20s after the server exited")
    bad = sum(p.corrupted for p in pingers)
    if bad:
        case.fail(f"{bad} corrupted echoes")
    time.sleep(1)
    if listening(port):
        case.fail("the TCP port is still bound after exit")
    if os.path.exists(unix):
        case.fail("the Unix socket file is left after exit")
    left = [p for p in processes_with_env(marker) if p[0] != os.getpid()]
    deadline = time.monotonic() + 5
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [p for p in processes_with_env(marker) if p[0] != os.getpid()]
    case.fig("processes left running", len(left))
    if left:
        case.fail(f"{len(left)} processes started by the server still run: {left[:5]}")
        for pid, _, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    srv.log.close()
    return case


# ---------------------------------------------------------------------------------------------------

CASES = {
    "resets": [lambda: case_resets("virtual")],
    "half-closes": [lambda: case_halfclose("virtual"), lambda: case_halfclose("threads")],
    "slowloris": [lambda: case_slowloris("virtual"), lambda: case_slowloris("threads")],
    "nonreaders": [lambda: case_nonreaders("virtual"), lambda: case_nonreaders("threads")],
    "exhaustion": [lambda label=label, args=args: case_exhaustion(label, args) for label, args in (
        ("synchronous", ["--concurrency", "synchronous"]),
        ("threads", ["--concurrency", "threads"]),
        ("virtual", ["--concurrency", "virtual"]),
        ("threads -c 1000", ["--concurrency", "threads", "-c", "1000"]),
        ("virtual -c 1000", ["--concurrency", "virtual", "-c", "1000"]),
        ("exec -c 1000", ["-c", "1000"]))],
    "handler-crashes": [lambda: case_handler_crashes("virtual"), lambda: case_handler_crashes("threads"),
                        lambda: case_handler_crashes("synchronous"),
                        lambda: case_handler_crashes("synchronous", ["runtime", "io", "after"])],
    "child-crashes": [lambda: case_child_crashes("tcp"), lambda: case_child_crashes("udp")],
    "sigterm": [lambda: case_sigterm("virtual", ["--concurrency", "virtual"]),
                lambda: case_sigterm("threads", ["--concurrency", "threads"]),
                lambda: case_sigterm("exec, programs with a background child", ["-c", "100"], [
                    "sh", "-c", 'IFS= read -r l; case "$l" in background) sleep 301 & ;; esac; '
                    'printf "%s\\n" "$l"; exec cat'])],
}


def main():
    global SCALE
    parser = argparse.ArgumentParser(prog="faults", description=__doc__.split("\n\n")[1].replace("\n", " "))
    parser.add_argument("cases", nargs="*", help="cases to run (default: all): " + ", ".join(CASES))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count (0.01 for a smoke run)")
    parser.add_argument("--json", help="also write the results to this file")
    opts = parser.parse_args()
    SCALE = opts.scale
    names = opts.cases or list(CASES)
    for name in names:
        if name not in CASES:
            parser.error(f"no case {name!r}; the cases are: {', '.join(CASES)}")
    raise_nofile()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    log(f"fault suite at {commit}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, scale {SCALE}")
    results = []
    for name in names:
        log(f"== {name}")
        for thunk in CASES[name]:
            try:
                r = thunk().result()
                r["key"] = name
                log(f"  {'PASS' if r['passed'] else 'FAIL'} {r['case']} ({r['variant']}) in {r['seconds']}s")
            except Exception as e:        # a Fail, or the client side giving up: the case failed
                log(f"  FAIL {name}: {type(e).__name__}: {e}")
                r = {"case": name, "key": name, "variant": "", "passed": False,
                     "failures": [f"{type(e).__name__}: {e}"], "figures": {}}
            finally:
                Server.stop_all()             # no server outlives its case
            results.append(r)
    log("")
    for r in results:
        log(f"{'PASS' if r['passed'] else 'FAIL'}  {r['case']} ({r['variant']})"
            + ("" if r["passed"] else ": " + "; ".join(r["failures"])))
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"commit": commit, "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
                       "scale": SCALE, "results": results}, f, indent=1)
    sys.exit(0 if all(r["passed"] for r in results) else 1)


if __name__ == "__main__":
    main()
