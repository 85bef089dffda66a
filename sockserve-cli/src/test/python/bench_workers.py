"""sockserve echo --workers 2 against one worker and Netty with 2 event loops (pingpong-1000, connect), and
the per-connection cost of --proxy-protocol (connect through HAProxy, with and without send-proxy-v2).
Drives the benchmark's load generator (sockserve-bench); prints a Markdown table. Run by sockserve-cli/bench-workers."""
import os, socket, subprocess, sys, tempfile, time

root, java, classpath, rounds, warmup, measure = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
logs = tempfile.mkdtemp(prefix='sockserve-bench-workers-')


def reserved():
    """A port held for the whole run by a bound, never listening SO_REUSEPORT socket: sockserve (--reuse-port,
    --workers) binds it too, and nothing else can take it."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(('127.0.0.1', 0))
    return s


def await_port(port, process):
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit('server ended early, see ' + logs)
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)  # polling a port that is not listening yet
    raise SystemExit('server did not listen within 60 s')


def sockserve(name, args, port):
    log = open(os.path.join(logs, name + '.log'), 'w')
    p = subprocess.Popen([os.path.join(root, 'sockserve'), 'echo', '--listen', 'tcp://127.0.0.1:%d' % port, '--reuse-port'] + args,
                         stderr=log, env=dict(os.environ, SOCKSERVE_NO_BUILD='1'))
    await_port(port, p)
    return p, port


def netty(name):
    log = open(os.path.join(logs, name + '.log'), 'w')
    p = subprocess.Popen([java, '-Dio.netty.eventLoopThreads=2', '--enable-native-access=ALL-UNNAMED',
                          '--sun-misc-unsafe-memory-access=allow', '-cp', classpath, 'dev.sockserve.bench.Peers',
                          'netty-epoll', 'tcp', '0'], stdout=subprocess.PIPE, stderr=log, text=True)
    line = p.stdout.readline()
    assert line.startswith('READY '), line
    return p, int(line.split()[1])


def haproxy(name, backend, send_proxy):
    front = socket.socket()
    front.bind(('127.0.0.1', 0))
    front.listen(1024)
    cfg = os.path.join(logs, name + '.cfg')
    with open(cfg, 'w') as f:
        f.write('\n'.join(['global', '  maxconn 4000', 'defaults', '  mode tcp', '  timeout connect 5s',
                           '  timeout client 30s', '  timeout server 30s', 'frontend front',
                           '  bind fd@%d' % front.fileno(), '  default_backend back', 'backend back',
                           '  server s 127.0.0.1:%d %s' % (backend, send_proxy), '']))
    p = subprocess.Popen(['haproxy', '-db', '-f', cfg], pass_fds=[front.fileno()],
                         stderr=open(os.path.join(logs, name + '.log'), 'w'))
    port = front.getsockname()[1]
    front.close()
    return p, port


generator = subprocess.Popen([java, '-cp', classpath, 'dev.sockserve.bench.LoadGenerator', '--threads', '1'],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert generator.stdout.readline().startswith('READY')


def run(scenario, port, connections, pid):
    generator.stdin.write('run %s %d %d %s %s %d\n' % (scenario, port, connections, warmup, measure, pid))
    generator.stdin.flush()
    answer = generator.stdout.readline().split()
    if answer[0] != 'RESULT':
        return {'error': ' '.join(answer)}
    return dict(w.split('=', 1) for w in answer[1:])


def stop(p):
    p.terminate()
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


held = [reserved() for _ in range(4)]
ports = [s.getsockname()[1] for s in held]
setups = {
    'sockserve echo (1 process)': lambda: sockserve('one', [], ports[0]),
    'sockserve echo --workers 2': lambda: sockserve('two', ['--workers', '2'], ports[1]),
    'netty-epoll, 2 event loops': lambda: netty('netty'),
}
results = {}
for r in range(rounds):
    for name, setup in setups.items():
        server, port = setup()
        for scenario, conns in (('pingpong', 1000), ('connect', 16)):
            results.setdefault((name, scenario), []).append(run(scenario, port, conns, server.pid))
        stop(server)
    for name, send_proxy, args in (('via haproxy, no PROXY header', '', []),
                                   ('via haproxy, send-proxy-v2 + --proxy-protocol', 'send-proxy-v2',
                                    ['--proxy-protocol', '--trusted-proxies', '127.0.0.1'])):
        server, port = sockserve('proxied', args, ports[2 + (1 if send_proxy else 0)])
        hap, front = haproxy('haproxy', port, send_proxy)
        await_port(front, hap)
        results.setdefault((name, 'connect'), []).append(run('connect', front, 16, server.pid))
        stop(hap)
        stop(server)
generator.stdin.write('quit\n')
generator.stdin.flush()
generator.wait()


def median(values):
    v = sorted(values)
    return v[len(v) // 2]


print('| server | scenario | ops/s (median of %d) | p99 us | server CPU (cores) |' % rounds)
print('|---|---|---:|---:|---:|')
for (name, scenario), rs in results.items():
    ok = [r for r in rs if 'error' not in r]
    if not ok:
        print('| %s | %s | error: %s | | |' % (name, scenario, rs[0]['error']))
        continue
    cpu = 'n/a' if 'workers' in name else '%.2f' % median([float(r['server_cpu']) for r in ok])  # the supervisor's pid
    print('| %s | %s | %s | %s | %s |' % (name, scenario, '{:,.0f}'.format(median([float(r['ops_per_s']) for r in ok])),
                                      '{:,.0f}'.format(median([float(r['p99_us']) for r in ok])), cpu))
print('(logs in %s)' % logs)
