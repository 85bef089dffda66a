"""What the fault suite and the soak share: starting a server, watching its descriptors, threads and
children through /proc, and checksummed echo clients. Python 3 standard library only, Linux only."""

import os
import multiprocessing
import random
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# JDK threads made lazily on first use (names as /proc shows them: 15 characters at most). More of
# them after a case is not a leak; more of any other thread is.
JDK_LAZY = ("C1 CompilerThre", "C2 CompilerThre", "ForkJoinPool", "MasterPoller", "VirtualThread-u",
            "GC Thread#", "G1 Conc#", "G1 Refine#", "Attach Listener", "process reaper", "Common-Cleaner",
            "Read-Poller", "Write-Poller", "CarrierThread", "InnocuousThrea")


def raise_nofile():
    """The clients open thousands of sockets: take the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1 right now."""
    for _ in range(100):
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


class Fail(Exception):
    """A case's check that did not hold."""


def check(cond, message):
    if not cond:
        raise Fail(message)


# ---------------------------------------------------------------------------------------------------
# /proc views of a process

def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_kinds(pid):
    kinds = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kind = target if target.startswith("anon_inode") else target.split(":[")[0] if ":[" in target else target
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def thread_names(pid):
    names = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        names[name] = names.get(name, 0) + 1
    return names


def is_jdk_lazy(name):
    return any(name.startswith(p) for p in JDK_LAZY)


def children(pid):
    """Child processes (zombies included) of pid, as (pid, state, command)."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids = f.read().split()
        except OSError:
            continue
        for k in kids:
            out.append((int(k), proc_state(int(k)), proc_cmd(int(k))))
    return out


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def proc_cmd(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80]
    except OSError:
        return "?"


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def processes_with_env(marker):
    """Every process whose environment holds marker (a program's children left behind by exec)."""
    found = []
    needle = marker.encode()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if needle in f.read():
                    found.append((int(d), proc_state(int(d)), proc_cmd(int(d))))
        except OSError:
            continue
    return found


def tcp_states(port):
    """Counts of the kernel's TCP states of sockets whose local port is port (IPv4)."""
    names = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
             "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN",
             "0B": "CLOSING"}
    states = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, st = parts[1], parts[3]
            if int(local.split(":")[1], 16) == port:
                n = names.get(st, st)
                states[n] = states.get(n, 0) + 1
    return states


def listening(port, proto="tcp"):
    path = "/proc/net/tcp" if proto == "tcp" else "/proc/net/udp"
    with open(path) as f:
        next(f)
        for line in f:
            parts = line.split()
            if int(parts[1].split(":")[1], 16) == port and (proto == "udp" or parts[3] == "0A"):
                return True
    return False


# ---------------------------------------------------------------------------------------------------
# the server under test

class Server:
    """A server process: the shipped command (argv starting with ./sockserve) or the crash server.
    Its standard error goes to a file; it is not read while it runs, so a flood of logs cannot block it."""

    def __init__(self, argv, name, port=None, unix_path=None, nofile=None, env=None, ready_timeout=90):
        self.name = name
        self.port = port
        self.unix_path = unix_path
        self.log_path = os.path.join(tempfile.gettempdir(), f"faults-{name}-{os.getpid()}.log")
        self.log = open(self.log_path, "wb")
        limits = ["--core=0"] + ([f"--nofile={nofile}:{nofile}"] if nofile else [])
        full = ["prlimit"] + limits + ["--"] + list(argv)   # no core files from crashing programs
        e = dict(os.environ)
        e["SOCKSERVE_NO_BUILD"] = "1"
        if env:
            e.update(env)
        self.argv = full
        self.proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     env=e, cwd=ROOT)
        self.pid = self.proc.pid
        self.started = time.monotonic()
        Server.running.append(self)
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fail(f"{self.name}: exited with {self.proc.returncode} at start-up: {self.log_tail()}")
            ok = True
            if self.port is not None:
                ok = listening(self.port, "tcp") or listening(self.port, "udp")
            if ok and self.unix_path is not None:
                ok = os.path.exists(self.unix_path)
            if ok and self.port is None and self.unix_path is None:
                ok = b"serving" in open(self.log_path, "rb").read()
            if ok:
                return
            time.sleep(0.05)
        raise Fail(f"{self.name}: not listening after {timeout}s: {self.log_tail()}")

    running = []

    @classmethod
    def stop_all(cls):
        for srv in cls.running:
            if srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
            if not srv.log.closed:
                srv.log.close()
        cls.running.clear()

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, n=5):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-n:])

    def log_lines(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace").splitlines()

    def snapshot(self):
        names = thread_names(self.pid)
        return {"fds": fd_count(self.pid), "kinds": fd_kinds(self.pid), "threads": sum(names.values()), "names": names,
                "children": children(self.pid), "rss": rss_mb(self.pid)}

    def stop(self, timeout=30):
        """SIGTERM, wait; SIGKILL if it does not end. Returns the exit status (negative: signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def settle(server, seconds=1.0, limit=20.0):
    """Waits until the server's descriptor and thread counts have not changed for `seconds`."""
    deadline = time.monotonic() + limit
    last = None
    since = time.monotonic()
    while time.monotonic() < deadline:
        s = server.snapshot()
        key = (s["fds"], s["threads"], len(s["children"]))
        if key != last:
            last, since = key, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return s
        time.sleep(0.1)
    return server.snapshot()


def leaks(base, now):
    """What now holds beyond base: descriptors, threads other than the JDK's lazily made ones, children."""
    found = []
    if now["fds"] > base["fds"]:
        kinds = {k: v - base["kinds"].get(k, 0) for k, v in now["kinds"].items() if v > base["kinds"].get(k, 0)}
        found.append(f"{now['fds'] - base['fds']} descriptors ({base['fds']} -> {now['fds']}: {kinds})")
    extra = []
    for name, n in now["names"].items():
        b = base["names"].get(name, 0)
        if n > b and not is_jdk_lazy(name):
            extra.append(f"{name} x{n - b}")
    if extra:
        found.append("threads: " + ", ".join(sorted(extra)))
    if now["children"]:
        found.append(f"{len(now['children'])} child processes: {now['children'][:5]}")
    return found


def await_no_leak(server, base, limit=30.0):
    """Polls until nothing leaked (connections close asynchronously) or the limit passes.
    Returns (snapshot, leaks found at the end, seconds it took)."""
    t0 = time.monotonic()
    deadline = t0 + limit
    while True:
        now = server.snapshot()
        found = leaks(base, now)
        if not found or time.monotonic() >= deadline:
            return now, found, time.monotonic() - t0
        time.sleep(0.2)


def jdk_extra(base, now):
    out = []
    for name, n in now["names"].items():
        b = base["names"].get(name, 0)
        if n > b and is_jdk_lazy(name):
            out.append(f"{name} +{n - b}")
    return out


# ---------------------------------------------------------------------------------------------------
# clients

BLOCK = os.urandom(1 << 20)   # payloads are slices of this, at random offsets


def payload(rng, size, tag=b""):
    off = rng.randrange(0, len(BLOCK) - size) if size < len(BLOCK) else 0
    data = tag + BLOCK[off:off + size - len(tag)] if size > len(tag) else tag[:size]
    return data


def recv_exact(sock, n):
    parts = []
    got = 0
    while got < n:
        b = sock.recv(min(n - got, 1 << 16))
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def recv_all(sock):
    parts = []
    while True:
        b = sock.recv(1 << 16)
        if not b:
            return b"".join(parts)
        parts.append(b)


def connect(addr, timeout=30.0):
    fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(addr)
    return s


def rst_close(sock):
    """Closes with SO_LINGER 0: the kernel sends a reset, not a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def echo_halfclose(addr, data, timeout=30.0):
    """One connection: send data, shutdown(SHUT_WR), read until EOF. True when the echo is intact."""
    failed = []

    def send():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            failed.append(e)

    with connect(addr, timeout) as s:
        sender = threading.Thread(target=send)
        sender.start()
        got = recv_all(s)
        sender.join()
    if failed:
        raise failed[0]
    return zlib.crc32(got) == zlib.crc32(data) and len(got) == len(data)


def fresh_client(addr, size=65536, timeout=20.0, deadline=30.0):
    """A new client's echo round trip, retried until deadline (a server pausing its accepts after
    EMFILE answers within a second or two). Returns None when answered intact, else the last error."""
    rng = random.Random()
    end = time.monotonic() + deadline
    err = "not tried"
    while time.monotonic() < end:
        try:
            if echo_halfclose(addr, payload(rng, size), timeout):
                return None
            err = "echo corrupted"
        except OSError as e:
            err = f"{type(e).__name__}: {e}"
        time.sleep(0.5)
    return err


def udp_roundtrip(addr, data, timeout=5.0, sock=None):
    own = sock is None
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(data, addr)
        got, _ = s.recvfrom(65536)
        return got == data
    finally:
        if own:
            s.close()


class Monitor:
    """A well-behaved client that keeps doing checksummed round trips on one connection (reconnecting
    every 200) while a case runs: the faults must not cost it an echo. It runs in a process of its own,
    so the attacking threads cannot starve it of the interpreter."""

    def __init__(self, addr, pause=0.01):
        self.addr, self.pause = addr, pause
        self.stopping = multiprocessing.Event()
        self.results = multiprocessing.Queue()
        self.proc = multiprocessing.Process(target=self._run, daemon=True)
        self.errors = []

    def start(self):
        self.proc.start()

    def _run(self):
        ok = lost = corrupted = 0
        errors = []
        rng = random.Random(7)
        sock = None
        n = 0
        while not self.stopping.is_set():
            try:
                if sock is None or n % 200 == 0:
                    if sock:
                        sock.close()
                    sock = connect(self.addr, 30.0)
                n += 1
                data = payload(rng, rng.randrange(1, 16384))
                sock.sendall(data)
                got = recv_exact(sock, len(data))
                if got == data:
                    ok += 1
                elif len(got) < len(data):
                    lost += 1
                    errors.append(f"short echo {len(got)}/{len(data)}")
                    sock.close()
                    sock = None
                else:
                    corrupted += 1
            except OSError as e:
                lost += 1
                errors.append(f"{type(e).__name__}: {e}")
                if sock:
                    sock.close()
                sock = None
                time.sleep(0.2)
            time.sleep(self.pause)
        if sock:
            sock.close()
        self.results.put((ok, lost, corrupted, errors[:5]))

    def finish(self):
        self.stopping.set()
        try:
            ok, lost, corrupted, self.errors = self.results.get(timeout=90)
        except Exception:
            return 0, 1, 0
        self.proc.join(10)
        return ok, lost, corrupted


def run_parallel(workers, fn, items, deadline):
    """Runs fn(item) on `workers` threads over items until done or deadline (monotonic).
    fn returns a category string; returns (counts per category, items not run)."""
    it = iter(items)
    lock = threading.Lock()
    counts = {}
    streak = [0]

    def loop():
        while time.monotonic() < deadline and streak[0] < 20:
            with lock:
                try:
                    item = next(it)
                except StopIteration:
                    return
            try:
                r = fn(item)
            except OSError as e:
                r = f"client error {type(e).__name__}: {e.strerror or e}"
            except Fail as e:
                r = f"fail: {e}"
            with lock:
                counts[r] = counts.get(r, 0) + 1
                streak[0] = streak[0] + 1 if r.startswith("client error") else 0
                if streak[0] >= 20:      # the server stopped answering: no point waiting out every timeout
                    return

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 60)
    left = sum(1 for _ in it)
    return counts, left


def jvm_flags():
    """The JVM flags ./sockserve uses (carriers, read pollers), for the crash server."""
    cores = os.cpu_count() or 2
    carriers = int(os.environ.get("SOCKSERVE_CARRIERS", max(1, cores - 1)))
    pollers = 1
    while pollers * 2 <= carriers:
        pollers *= 2
    return [f"-Djdk.virtualThreadScheduler.parallelism={carriers}", f"-Djdk.readPollers={pollers}"]


def new_marker():
    return "FAULTS_MARK=" + uuid.uuid4().hex


T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.0f}s] {msg}", flush=True)
    sys.stdout.flush()
