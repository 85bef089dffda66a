"""The soak (run it with ./soak [MINUTES], default 10).

One ./sockserve echo process serves TCP, UDP and a Unix stream socket for MINUTES minutes under mixed
load, with the fault suite's faults mixed in: resets mid-request, half-closes, stalled clients against
--read-timeout, clients that never read against --write-timeout, and a burst of connections at 30 s
and every two minutes that exhausts its descriptors (it runs under prlimit --nofile). Every echo is
compared byte for byte with what was sent; the server's RSS, descriptors and threads are sampled every
10 seconds, and at the end its heap after a full GC (jcmd), which tells a leak from a heap the JVM grew
and kept. Then SIGTERM, exit status 0 expected, and the report (lost and corrupted echoes must be 0;
the RSS should be flat after the first minute)."""

import argparse
import json
import os
import random
import re
import selectors
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (ROOT, Server, connect, fd_count, free_port, payload, raise_nofile, recv_all, recv_exact,
                    rss_mb, rst_close, thread_names, log)

NOFILE = 2048


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def add(self, kind, outcome, n=1):
        with self.lock:
            d = self.counts.setdefault(kind, {})
            d[outcome] = d.get(outcome, 0) + n


def stream_worker(stats, kind, addr, stop, seed, max_size=65536):
    """Round trips on one connection, a new connection every 500: every echo compared with what was sent.
    A lost echo is a connection the server ended or an echo cut short; each is counted and reconnected."""
    rng = random.Random(seed)
    sock = None
    n = 0
    tag = f"{kind}-{seed}-".encode()
    while not stop.is_set():
        try:
            if sock is None or n % 500 == 0:
                if sock:
                    sock.close()
                sock = connect(addr, 30.0)
            n += 1
            data = tag + str(n).encode() + b":" + payload(rng, rng.randrange(1, max_size))
            sender = threading.Thread(target=sock.sendall, args=(data,)) if len(data) > 32768 else None
            if sender:
                sender.start()
            else:
                sock.sendall(data)
            got = recv_exact(sock, len(data))
            if sender:
                sender.join()
            if got == data:
                stats.add(kind, "intact")
            elif len(got) < len(data):
                stats.add(kind, "lost")
                sock.close()
                sock = None
            else:
                stats.add(kind, "corrupted")
        except OSError as e:
            stats.add(kind, f"lost ({type(e).__name__})")
            if sock:
                sock.close()
            sock = None
            time.sleep(0.5)
    if sock:
        sock.close()


def udp_worker(stats, addr, stop, seed):
    """One datagram in flight at a time, up to the server's 8192-byte packet size."""
    rng = random.Random(seed)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5.0)
    n = 0
    while not stop.is_set():
        n += 1
        data = f"udp-{seed}-{n}:".encode() + payload(rng, rng.randrange(1, 8000))
        try:
            s.sendto(data, addr)
            while True:
                got, _ = s.recvfrom(65536)
                if got.startswith(f"udp-{seed}-{n}:".encode()) or not got.startswith(f"udp-{seed}-".encode()):
                    break
                stats.add("udp", "late (echo of an earlier datagram)")
            stats.add("udp", "intact" if got == data else "corrupted")
        except socket.timeout:
            stats.add("udp", "lost (no echo in 5s)")
        except OSError as e:
            stats.add("udp", f"lost ({type(e).__name__})")
            time.sleep(0.5)
    s.close()


def halfclose_worker(stats, addr, stop, seed):
    rng = random.Random(seed)
    while not stop.is_set():
        data = payload(rng, rng.randrange(0, 200000))
        try:
            with connect(addr, 30.0) as s:
                t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
                t.start()
                got = recv_all(s)
                t.join()
            stats.add("half-close", "intact" if got == data else ("lost" if len(got) < len(data) else "corrupted"))
        except OSError as e:
            stats.add("half-close", f"lost ({type(e).__name__})")
            time.sleep(0.5)


def reset_worker(stats, addr, stop, seed):
    rng = random.Random(seed)
    i = 0
    while not stop.is_set():
        i += 1
        try:
            s = connect(addr, 30.0)
            if i % 3 == 1:
                s.sendall(payload(rng, 2048))
            elif i % 3 == 2:
                s.sendall(payload(rng, 16384))
                s.recv(100)
            rst_close(s)
            stats.add("fault: reset mid-request", "done")
        except OSError as e:
            stats.add("fault: reset mid-request", f"error ({type(e).__name__})")
            time.sleep(0.5)
        time.sleep(0.002)


def slow_worker(stats, addr, stop, read_timeout):
    """Every 15 s, 50 clients connect, send 10 bytes and stall: each must be cut within the timeout + 10 s."""
    while not stop.wait(15):
        socks = []
        try:
            for _ in range(50):
                s = connect(addr, 30.0)
                s.sendall(b"slowloris!")
                socks.append(s)
        except OSError as e:
            stats.add("fault: stalled client (--read-timeout)", f"error ({type(e).__name__})")
        sel = selectors.DefaultSelector()
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        cut = 0
        deadline = time.monotonic() + read_timeout + 10
        open_ = set(socks)
        while open_ and time.monotonic() < deadline:
            for key, _ in sel.select(0.2):
                try:
                    data = key.fileobj.recv(100)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    open_.discard(key.fileobj)
                    sel.unregister(key.fileobj)
                    cut += 1
        stats.add("fault: stalled client (--read-timeout)", "cut in time", cut)
        if open_:
            stats.add("fault: stalled client (--read-timeout)", "NOT cut", len(open_))
        sel.close()
        for s in socks:
            s.close()


def nonreader_worker(stats, addr, stop, write_timeout):
    """Every 30 s, 5 clients push without reading: each must be cut within the timeout + 10 s."""
    chunk = payload(random.Random(9), 65536)
    while not stop.wait(30):
        try:
            socks = [connect(addr, 30.0) for _ in range(5)]
        except OSError as e:
            stats.add("fault: client never reads (--write-timeout)", f"error ({type(e).__name__})")
            continue
        for s in socks:
            s.setblocking(False)
        last = {s: time.monotonic() for s in socks}
        done = {}
        deadline = time.monotonic() + 60
        while len(done) < len(socks) and time.monotonic() < deadline:
            for s in socks:
                if s in done:
                    continue
                try:
                    while True:
                        s.send(chunk)
                        last[s] = time.monotonic()
                except BlockingIOError:
                    if time.monotonic() - last[s] > write_timeout + 10:
                        done[s] = "NOT cut"
                except OSError:
                    done[s] = "cut in time"
            state_cut = [s for s in socks if s not in done
                         and s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] in (7, 8)]
            for s in state_cut:
                done[s] = "cut in time"
            time.sleep(0.1)
        for s in socks:
            stats.add("fault: client never reads (--write-timeout)", done.get(s, "NOT cut"))
            s.close()


def exhaust_worker(stats, addr, stop, srv_pid):
    """At 30 s and then every 2 minutes, 2,500 connections at once (the server has 2,048 descriptors),
    held 3 s: the first within the first minute, so the RSS after it includes the burst's high-water mark."""
    wait = 30
    while not stop.wait(wait):
        wait = 120
        socks = []
        for _ in range(2500):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(addr)
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                continue
            socks.append(s)
        peak = 0
        end = time.monotonic() + 3
        while time.monotonic() < end:
            try:
                peak = max(peak, fd_count(srv_pid))
            except OSError:
                pass
            time.sleep(0.2)
        for s in socks:
            s.close()
        stats.add("fault: descriptor exhaustion burst", f"bursts (server peak {peak} descriptors of {NOFILE})")


def live_heap(pid):
    """A full GC (jcmd GC.run), then the heap's committed and used MB: what is still referenced after
    a collection, so a leak shows as growth here and not only in the RSS."""
    jcmd = os.path.join(os.environ["JAVA_HOME"], "bin", "jcmd")
    try:
        subprocess.run([jcmd, str(pid), "GC.run"], capture_output=True, timeout=60)
        out = subprocess.run([jcmd, str(pid), "GC.heap_info"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"committed (\d+)K, used (\d+)K", out)  # G1: one line for the heap
    if m:
        return {"committed_mb": round(int(m.group(1)) / 1024), "used_mb": round(int(m.group(2)) / 1024)}
    gens = re.findall(r"^\s*\w+\s+total (\d+)K, used (\d+)K", out, re.M)  # the serial collector: one per generation
    if not gens:
        return None
    return {"committed_mb": round(sum(int(t) for t, _ in gens) / 1024), "used_mb": round(sum(int(u) for _, u in gens) / 1024)}


def main():
    parser = argparse.ArgumentParser(prog="soak", description=__doc__.split("\n\n")[1].replace("\n", " "))
    parser.add_argument("minutes", nargs="?", type=float, default=10.0)
    parser.add_argument("--json", help="also write the report to this file")
    opts = parser.parse_args()
    raise_nofile()
    port = free_port()
    unix = f"/tmp/soak-{os.getpid()}.sock"
    read_timeout, write_timeout = 5, 5
    argv = ["./sockserve", "echo", "--listen", f"tcp://127.0.0.1:{port}", "--listen", f"udp://127.0.0.1:{port}",
            "--listen", f"unix:{unix}", "--read-timeout", f"{read_timeout}s", "--write-timeout", f"{write_timeout}s"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    log(f"soak at {commit}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {opts.minutes:g} minutes")
    log(f"server: prlimit --nofile={NOFILE}:{NOFILE} -- {' '.join(argv)}")
    srv = Server(argv, "soak", port=port, unix_path=unix, nofile=NOFILE)
    tcp = ("127.0.0.1", port)
    stats = Stats()
    stop = threading.Event()
    workers = []
    for i in range(6):
        workers.append((stream_worker, (stats, "tcp", tcp, stop, i)))
    for i in range(3):
        workers.append((stream_worker, (stats, "unix", unix, stop, 100 + i)))
    workers.append((stream_worker, (stats, "tcp 1 MB", tcp, stop, 50, 1 << 20)))
    for i in range(3):
        workers.append((udp_worker, (stats, tcp, stop, 200 + i)))
    for i in range(2):
        workers.append((halfclose_worker, (stats, tcp, stop, 300 + i)))
    workers.append((reset_worker, (stats, tcp, stop, 400)))
    workers.append((slow_worker, (stats, tcp, stop, read_timeout)))
    workers.append((nonreader_worker, (stats, tcp, stop, write_timeout)))
    workers.append((exhaust_worker, (stats, tcp, stop, srv.pid)))
    threads = [threading.Thread(target=f, args=a, daemon=True) for f, a in workers]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    samples = []
    report_heap = {}
    end = t0 + opts.minutes * 60
    while time.monotonic() < end and srv.alive():
        time.sleep(min(10, max(0, end - time.monotonic())))
        if not srv.alive():
            break
        names = thread_names(srv.pid)
        sample = {"t": round(time.monotonic() - t0), "rss_mb": round(rss_mb(srv.pid), 1),
                  "fds": fd_count(srv.pid), "threads": sum(names.values())}
        samples.append(sample)
        done = {k: sum(v.values()) for k, v in stats.counts.items()}
        log(f"  {sample['t']:4d}s  RSS {sample['rss_mb']:6.1f} MB  fds {sample['fds']:4d}  threads "
            f"{sample['threads']:3d}  {sum(done.values()):,} operations")
    stop.set()
    for t in threads:
        t.join(90)
    alive = srv.alive()
    if alive:
        report_heap["heap_at_end"] = live_heap(srv.pid)
        report_heap["rss_after_gc_mb"] = round(rss_mb(srv.pid), 1)
        log(f"  heap after a full GC at the end: {report_heap['heap_at_end']}, RSS {report_heap['rss_after_gc_mb']} MB")
    status = srv.stop(60)
    report = {"commit": commit, "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), "minutes": opts.minutes,
              "server": f"prlimit --nofile={NOFILE}:{NOFILE} -- {' '.join(argv)}", "counts": stats.counts,
              "samples": samples, "alive_at_end": alive, "exit_status": status, **report_heap}
    lost = sum(v for k, d in stats.counts.items() if not k.startswith("fault") for o, v in d.items()
               if o.startswith("lost"))
    corrupted = sum(d.get("corrupted", 0) for d in stats.counts.values())
    intact = sum(d.get("intact", 0) for d in stats.counts.values())
    not_cut = sum(d.get("NOT cut", 0) for d in stats.counts.values())
    at_1min = next((s for s in samples if s["t"] >= 60), samples[0] if samples else None)
    later = [s for s in samples if at_1min and s["t"] >= at_1min["t"]]
    log("")
    for kind, d in sorted(stats.counts.items()):
        log(f"  {kind}: " + ", ".join(f"{o} {v:,}" for o, v in sorted(d.items())))
    log(f"echoes intact {intact:,}, lost {lost:,}, corrupted {corrupted:,}; stalled clients not cut: {not_cut}")
    if later:
        rss = [s["rss_mb"] for s in later]
        report["rss_growth_after_1min_mb"] = round(max(rss) - at_1min["rss_mb"], 1)
        report["rss_end_minus_1min_mb"] = round(rss[-1] - at_1min["rss_mb"], 1)
        log(f"RSS at {at_1min['t']}s {at_1min['rss_mb']} MB, max after it {max(rss)} MB (+"
            f"{report['rss_growth_after_1min_mb']}), at the end {rss[-1]} MB; descriptors at 1 min "
            f"{at_1min['fds']}, at the end {later[-1]['fds']}; threads {at_1min['threads']} -> {later[-1]['threads']}")
    log(f"server alive to the end: {alive}; exit status on SIGTERM: {status}")
    report.update(intact=intact, lost=lost, corrupted=corrupted, not_cut=not_cut)
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(report, f, indent=1)
    ok = alive and status == 0 and lost == 0 and corrupted == 0 and not_cut == 0
    log("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
