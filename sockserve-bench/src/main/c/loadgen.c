/*
 * The native load generator: one thread, epoll, as little work per message as the scenarios allow.
 * Same protocol as the Java one (LoadGenerator.java): one command per line on standard input, one
 * answer per line on standard output.
 *
 *   run SCENARIO PORT CONNECTIONS WARMUP_MS MEASURE_MS SERVER_PID
 *     SCENARIO: pingpong (64 B), bulk (64 KiB), paced (64 B every 50 ms per connection), connect, udp, idle
 *   -> RESULT key=value ...   or   ERROR message
 *   quit
 *
 * Every timed answer has the generator's own CPU (getrusage) and the server's (the process tree under
 * SERVER_PID, from /proc) over the measuring window. Idle connections come from 127.0.0.1 to 127.0.0.8,
 * so that more than one address's ephemeral ports can be used.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define SMALL 64
#define BULK (64 * 1024)
#define OPEN_WINDOW 256
#define SOURCES 8
#define PACED_PERIOD_NS 50000000LL

static uint8_t small_msg[SMALL], bulk_msg[BULK];
static uint8_t scratch[BULK];
static char error_text[512];

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t) t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* ---- latency: a log-linear histogram, 64 steps per power of two (under 1.6% error) ---- */

#define SUB 64
#define HBUCKETS (42 * SUB)
static uint64_t hist[HBUCKETS], hist_total;

static void record(int64_t ns) {
    uint64_t v = ns < 0 ? 0 : (uint64_t) ns;
    if (v >= (1ULL << 40)) v = (1ULL << 40) - 1;
    int idx;
    if (v < SUB) idx = (int) v;
    else {
        int shift = 63 - __builtin_clzll(v) - 6;
        idx = (shift + 1) * SUB + (int) ((v >> shift) - SUB);
    }
    hist[idx]++;
    hist_total++;
}

static double percentile_us(double p) {
    if (hist_total == 0) return -1;
    uint64_t want = (uint64_t) (p / 100.0 * (double) hist_total + 0.999999), seen = 0;
    if (want < 1) want = 1;
    for (int i = 0; i < HBUCKETS; i++) {
        seen += hist[i];
        if (seen >= want) {
            if (i < SUB) return i / 1e3;
            int shift = i / SUB - 1;
            double low = (double) ((uint64_t) (i % SUB + SUB) << shift);
            return (low + ((1ULL << shift) - 1) / 2.0) / 1e3;
        }
    }
    return -1;
}

/* ---- CPU: our own, and the server's process tree ---- */

static double own_cpu_s(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* utime + stime + cutime + cstime of PID and every process below it, in seconds. */
static double tree_cpu_s(long root) {
    enum { MAX = 65536 };
    static long pids[MAX], ppids[MAX];
    static double cpu[MAX];
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d) return -1;
    struct dirent *e;
    char path[300], buf[1024];
    double tick = (double) sysconf(_SC_CLK_TCK);
    while ((e = readdir(d)) && n < MAX) {
        if (!isdigit((unsigned char) e->d_name[0])) continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0) continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0) continue;
        buf[len] = 0;
        char *p = strrchr(buf, ')');
        if (!p) continue;
        /* after ") ": state ppid ... field 14 utime, 15 stime, 16 cutime, 17 cstime */
        char state;
        long ppid;
        unsigned long ut, st;
        long cut, cst;
        if (sscanf(p + 2, "%c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &state, &ppid, &ut, &st, &cut,
                   &cst) != 6)
            continue;
        pids[n] = atol(e->d_name);
        ppids[n] = ppid;
        cpu[n] = (double) (ut + st + (unsigned long) cut + (unsigned long) cst) / tick;
        n++;
    }
    closedir(d);
    /* the tree: mark the root, then every process whose parent is marked, until nothing changes */
    static char in[MAX];
    memset(in, 0, (size_t) n);
    double total = -1;
    for (int i = 0; i < n; i++)
        if (pids[i] == root) in[i] = 1, total = cpu[i];
    if (total < 0) return -1;
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < n; i++) {
            if (in[i]) continue;
            for (int j = 0; j < n; j++)
                if (in[j] && pids[j] == ppids[i]) {
                    in[i] = 1, total += cpu[i], changed = 1;
                    break;
                }
        }
    }
    return total;
}

static long proc_status(long pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t fl = strlen(field);
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl) && line[fl] == ':') {
            v = atol(line + fl + 1);
            break;
        }
    fclose(f);
    return v;
}

/* ---- connections ---- */

enum { STREAM, DGRAM };

typedef struct {
    int type; /* STREAM */
    int fd;
    const uint8_t *msg;
    size_t len, sent, got;
    int64_t sent_at;
    int busy;        /* a round trip is outstanding */
    int want_out;    /* EPOLLOUT is in the interest set */
    int connecting;  /* connect() in progress */
    uint32_t completed; /* round trips completed in the measuring window */
    int slot;           /* connect: which loop */
} conn;

typedef struct {
    int type; /* DGRAM */
    int fd;
    int64_t sent_at;
} dgram;

static int ep = -1;
static struct sockaddr_in target;

static void set_interest(conn *c, int out) {
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

/* Opens a non-blocking TCP socket towards the target, from 127.0.0.SOURCE when source > 0. */
static conn *new_conn(const uint8_t *msg, size_t len, int source) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(error_text, sizeof error_text, "socket: %s", strerror(errno));
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (source > 0) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in from = {.sin_family = AF_INET};
        from.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t) source);
        if (bind(fd, (struct sockaddr *) &from, sizeof from)) {
            snprintf(error_text, sizeof error_text, "bind 127.0.0.%d: %s", source, strerror(errno));
            close(fd);
            return NULL;
        }
    }
    conn *c = calloc(1, sizeof *c);
    c->type = STREAM;
    c->fd = fd;
    c->msg = msg;
    c->len = len;
    c->connecting = 1;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    c->want_out = 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (connect(fd, (struct sockaddr *) &target, sizeof target) && errno != EINPROGRESS) {
        snprintf(error_text, sizeof error_text, "connect: %s", strerror(errno));
        close(fd);
        free(c);
        return NULL;
    }
    return c;
}

static void free_conn(conn *c) {
    close(c->fd); /* leaves the epoll set with it */
    free(c);
}

/* Starts a round trip: writes what the socket takes, and asks for EPOLLOUT if not all. */
static int start_round_trip(conn *c, int64_t at) {
    c->sent = c->got = 0;
    c->sent_at = at;
    c->busy = 1;
    ssize_t w = write(c->fd, c->msg, c->len);
    if (w < 0 && errno != EAGAIN) return -1;
    if (w > 0) c->sent = (size_t) w;
    int out = c->sent < c->len;
    if (out != c->want_out) set_interest(c, out);
    return 0;
}

/* Reacts to readiness: 1 when the whole echo has come back, 0 if not yet, -1 on an error or end of file. */
static int on_ready(conn *c, uint32_t events) {
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            errno = err;
            return -1;
        }
        c->connecting = 0;
        return start_round_trip(c, c->sent_at) < 0 ? -1 : 0;
    }
    if ((events & EPOLLOUT) && c->sent < c->len) {
        ssize_t w = write(c->fd, c->msg + c->sent, c->len - c->sent);
        if (w < 0 && errno != EAGAIN) return -1;
        if (w > 0) c->sent += (size_t) w;
        if (c->sent == c->len) set_interest(c, 0);
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        size_t want = c->len - c->got;
        if (want == 0) want = 1; /* bytes beyond the echo: a broken server; read to see them */
        ssize_t r = read(c->fd, scratch, want > sizeof scratch ? sizeof scratch : want);
        if (r == 0) return -1;
        if (r < 0 && errno != EAGAIN) return -1;
        if (r > 0) c->got += (size_t) r;
    }
    if (c->busy && c->got >= c->len && c->sent == c->len) {
        c->busy = 0;
        return 1;
    }
    return 0;
}

static void close_all(conn **conns, int n) {
    for (int i = 0; i < n; i++)
        if (conns[i]) free_conn(conns[i]);
    free(conns);
}

/* Opens COUNT connections, each after one 64-byte round trip, OPEN_WINDOW at a time; NULL on failure. */
static conn **open_conns(int count, const uint8_t *msg, size_t len, int from_sources) {
    conn **conns = calloc((size_t) count, sizeof *conns);
    int started = 0, done = 0, in_flight = 0;
    int64_t deadline = now_ns() + 30000000000LL;
    struct epoll_event events[512];
    while (done < count) {
        while (in_flight < OPEN_WINDOW && started < count) {
            conn *c = new_conn(small_msg, SMALL, from_sources ? 1 + started % SOURCES : 0);
            if (!c) {
                close_all(conns, started);
                return NULL;
            }
            c->sent_at = now_ns();
            conns[started++] = c;
            in_flight++;
        }
        if (now_ns() > deadline) {
            snprintf(error_text, sizeof error_text, "opened only %d of %d connections in 30 s", done, count);
            close_all(conns, started);
            return NULL;
        }
        int n = epoll_wait(ep, events, 512, 100);
        for (int i = 0; i < n; i++) {
            conn *c = events[i].data.ptr;
            int r = on_ready(c, events[i].events);
            if (r < 0) {
                snprintf(error_text, sizeof error_text, "opening connection: %s", strerror(errno));
                close_all(conns, started);
                return NULL;
            }
            if (r == 1) {
                done++;
                in_flight--;
                c->msg = msg; /* from now on, the scenario's message */
                c->len = len;
            }
        }
    }
    return conns;
}

/* ---- the measuring window ---- */

typedef struct {
    int64_t from, to;       /* planned */
    int64_t t0, t1;         /* when the samples were taken */
    double server0, server1, own0, own1;
    long server_pid;
    uint64_t ops, bytes, errors, stalled, late;
    int state;              /* 0 warm-up, 1 measuring, 2 done */
} window;

static void window_start(window *w, long pid, long warmup_ms, long measure_ms) {
    memset(w, 0, sizeof *w);
    memset(hist, 0, sizeof hist);
    hist_total = 0;
    w->server_pid = pid;
    w->from = now_ns() + warmup_ms * 1000000LL;
    w->to = w->from + measure_ms * 1000000LL;
}

/* Moves the window on; returns how long epoll may wait (ms) before the next sample is due. */
static int window_tick(window *w, int64_t now) {
    if (w->state == 0 && now >= w->from) {
        w->t0 = now_ns();
        w->server0 = tree_cpu_s(w->server_pid);
        w->own0 = own_cpu_s();
        w->state = 1;
    } else if (w->state == 1 && now >= w->to) {
        w->t1 = now_ns();
        w->server1 = tree_cpu_s(w->server_pid);
        w->own1 = own_cpu_s();
        w->state = 2;
    }
    int64_t next = w->state == 0 ? w->from : w->to;
    int64_t ms = (next - now) / 1000000 + 1;
    return ms > 10 ? 10 : (int) ms;
}

static int measuring(window *w) {
    return w->state == 1;
}

static void completed(window *w, int64_t sent_at, int64_t now, size_t bytes) {
    if (!measuring(w)) return;
    w->ops++;
    w->bytes += bytes;
    record(now - sent_at);
}

static void answer(window *w, const char *extra) {
    double s = (w->t1 - w->t0) / 1e9;
    double server = w->server1 - w->server0, own = w->own1 - w->own0;
    printf("RESULT ops_per_s=%.3f mb_per_s=%.3f p50_us=%.3f p99_us=%.3f p999_us=%.3f errors=%lu stalled=%lu "
           "server_cpu=%.3f gen_cpu=%.3f server_us_per_op=%.3f gen_us_per_op=%.3f gen_threads=1 generator=c%s\n",
           w->ops / s, w->bytes / s / 1e6, percentile_us(50), percentile_us(99), percentile_us(99.9),
           (unsigned long) w->errors, (unsigned long) w->stalled, server / s, own / s,
           w->ops ? server / w->ops * 1e6 : -1.0, w->ops ? own / w->ops * 1e6 : -1.0, extra ? extra : "");
}

/* Connections the server left waiting: none completed counts as stalled, and an outstanding request older
 * than the window enters the latency figures with its age (a lower bound), as in the Java generator. */
static void stalls(window *w, conn **conns, int n) {
    for (int i = 0; i < n; i++) {
        if (conns[i]->completed == 0) w->stalled++;
        if (conns[i]->busy && conns[i]->sent_at < w->t0) record(w->t1 - conns[i]->sent_at);
    }
}

/* pingpong and bulk: every connection does round trips back to back. */
static int run_streams(int count, const uint8_t *msg, size_t len, long warmup, long measure, long pid) {
    int64_t opened = now_ns();
    conn **conns = open_conns(count, msg, len, 0);
    if (!conns) return -1;
    double open_s = (now_ns() - opened) / 1e9;
    window w;
    window_start(&w, pid, warmup, measure);
    for (int i = 0; i < count; i++)
        if (start_round_trip(conns[i], now_ns()) < 0) w.errors++;
    struct epoll_event events[512];
    int64_t now;
    while ((now = now_ns()), w.state < 2) {
        int n = epoll_wait(ep, events, 512, window_tick(&w, now));
        for (int i = 0; i < n; i++) {
            conn *c = events[i].data.ptr;
            int r = on_ready(c, events[i].events);
            if (r < 0) {
                if (measuring(&w)) w.errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                c->busy = 0;
                continue;
            }
            if (r == 1) {
                int64_t done = now_ns();
                if (measuring(&w)) c->completed++;
                completed(&w, c->sent_at, done, c->len);
                if (start_round_trip(c, done) < 0 && measuring(&w)) w.errors++;
            }
        }
    }
    stalls(&w, conns, count);
    char extra[64];
    snprintf(extra, sizeof extra, " open_s=%.3f", open_s);
    answer(&w, extra);
    close_all(conns, count);
    return 0;
}

/* paced: each connection sends one 64-byte message every 50 ms, the connections spread evenly over the
 * period; latency from the send. A connection whose previous echo has not come back skips its turn
 * (counted as late). */
static int run_paced(int count, long warmup, long measure, long pid) {
    conn **conns = open_conns(count, small_msg, SMALL, 0);
    if (!conns) return -1;
    window w;
    window_start(&w, pid, warmup, measure);
    int64_t start = now_ns(), interval = PACED_PERIOD_NS / count;
    uint64_t seq = 0;
    struct epoll_event events[512];
    int64_t now;
    while ((now = now_ns()), w.state < 2) {
        window_tick(&w, now);
        while (start + (int64_t) seq * interval <= now) {
            conn *c = conns[seq % (uint64_t) count];
            if (c->busy) {
                if (measuring(&w)) w.late++;
            } else if (start_round_trip(c, now_ns()) < 0 && measuring(&w)) {
                w.errors++;
            }
            seq++;
        }
        int64_t wait = start + (int64_t) seq * interval - now_ns();
        int64_t to_sample = (w.state == 0 ? w.from : w.to) - now;
        if (to_sample < wait) wait = to_sample;
        if (wait < 0) wait = 0;
        struct timespec t = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
        int n = (int) syscall(SYS_epoll_pwait2, ep, events, 512, &t, NULL, 0);
        for (int i = 0; i < n; i++) {
            conn *c = events[i].data.ptr;
            int r = on_ready(c, events[i].events);
            if (r < 0) {
                if (measuring(&w)) w.errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                c->busy = 1; /* never sends again */
                continue;
            }
            if (r == 1) {
                if (measuring(&w)) c->completed++;
                completed(&w, c->sent_at, now_ns(), SMALL);
            }
        }
    }
    stalls(&w, conns, count);
    char extra[64];
    snprintf(extra, sizeof extra, " late=%lu", (unsigned long) w.late);
    answer(&w, extra);
    close_all(conns, count);
    return 0;
}

/* connect: LOOPS loops of connect, one round trip, close; latency from the connect. */
static int run_connect(int loops, long warmup, long measure, long pid) {
    window w;
    window_start(&w, pid, warmup, measure);
    conn **slots = calloc((size_t) loops, sizeof *slots);
    int live = 0;
    for (int i = 0; i < loops; i++) {
        conn *c = new_conn(small_msg, SMALL, 0);
        if (!c) break;
        c->sent_at = now_ns();
        c->slot = i;
        slots[i] = c;
        live++;
    }
    struct epoll_event events[512];
    int64_t now;
    while (live > 0 && (now = now_ns(), w.state < 2)) {
        int n = epoll_wait(ep, events, 512, window_tick(&w, now));
        for (int i = 0; i < n; i++) {
            conn *c = events[i].data.ptr;
            int r = on_ready(c, events[i].events);
            if (r == 0) continue;
            if (r == 1) completed(&w, c->sent_at, now_ns(), SMALL);
            else if (measuring(&w)) w.errors++;
            int slot = c->slot;
            free_conn(c);
            conn *next = new_conn(small_msg, SMALL, 0);
            slots[slot] = next;
            if (next) {
                next->sent_at = now_ns();
                next->slot = slot;
            } else {
                live--;
                w.errors++;
            }
        }
    }
    for (int i = 0; i < loops; i++)
        if (slots[i]) free_conn(slots[i]);
    free(slots);
    if (w.state < 2) {
        char cause[sizeof error_text];
        snprintf(cause, sizeof cause, "%s", error_text);
        snprintf(error_text, sizeof error_text, "every connect loop failed: %.400s", cause);
        return -1;
    }
    answer(&w, NULL);
    return 0;
}

/* udp: SOCKETS connected sockets, each ping-ponging a 64-byte datagram; a datagram lost is resent after 200 ms. */
static int run_udp(int sockets, long warmup, long measure, long pid) {
    dgram *d = calloc((size_t) sockets, sizeof *d);
    window w;
    window_start(&w, pid, warmup, measure);
    for (int i = 0; i < sockets; i++) {
        d[i].type = DGRAM;
        d[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        connect(d[i].fd, (struct sockaddr *) &target, sizeof target);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &d[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, d[i].fd, &ev);
        d[i].sent_at = now_ns();
        send(d[i].fd, small_msg, SMALL, 0);
    }
    struct epoll_event events[512];
    int64_t now, next_check = now_ns();
    while ((now = now_ns()), w.state < 2) {
        int n = epoll_wait(ep, events, 512, window_tick(&w, now));
        for (int i = 0; i < n; i++) {
            dgram *g = events[i].data.ptr;
            ssize_t r = recv(g->fd, scratch, sizeof scratch, 0);
            if (r == SMALL) {
                int64_t t = now_ns();
                completed(&w, g->sent_at, t, SMALL);
                g->sent_at = t;
                send(g->fd, small_msg, SMALL, 0);
            }
        }
        if (now > next_check) {
            next_check = now + 50000000LL;
            for (int i = 0; i < sockets; i++)
                if (now - d[i].sent_at > 200000000LL) {
                    if (measuring(&w)) w.errors++;
                    d[i].sent_at = now;
                    send(d[i].fd, small_msg, SMALL, 0);
                }
        }
    }
    answer(&w, NULL);
    for (int i = 0; i < sockets; i++) close(d[i].fd);
    free(d);
    return 0;
}

static void sleep_ms(long ms) {
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* idle: the server's resident memory and threads before and after COUNT connections that each made one
 * round trip and then stay quiet (from 127.0.0.1 to 127.0.0.8). */
static int run_idle(int count, long warmup, long measure, long pid) {
    conn **warm = open_conns(200, small_msg, SMALL, 1); /* the server's accept path runs before the baseline */
    if (!warm) return -1;
    close_all(warm, 200);
    sleep_ms(warmup < 500 ? warmup : 500);
    long rss0 = proc_status(pid, "VmRSS"), threads0 = proc_status(pid, "Threads");
    int64_t started = now_ns();
    conn **conns = open_conns(count, small_msg, SMALL, 1);
    if (!conns) return -1;
    double open_s = (now_ns() - started) / 1e9;
    sleep_ms(measure < 1000 ? measure : 1000); /* the server settles: threads parked, buffers returned */
    long rss1 = proc_status(pid, "VmRSS"), threads1 = proc_status(pid, "Threads");
    printf("RESULT connections=%d kib_per_conn=%.3f rss_before_kib=%ld rss_after_kib=%ld threads_before=%ld "
           "threads_after=%ld open_s=%.3f generator=c\n",
           count, (rss1 - rss0) / (double) count, rss0, rss1, threads0, threads1, open_s);
    close_all(conns, count);
    return 0;
}

int main(void) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < BULK; i++) bulk_msg[i] = (uint8_t) ('a' + i % 26);
    memcpy(small_msg, bulk_msg, SMALL);
    printf("READY generator c\n");
    fflush(stdout);
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        char scenario[32];
        int port, count;
        long warmup, measure, pid;
        if (!strncmp(line, "quit", 4)) break;
        if (sscanf(line, "run %31s %d %d %ld %ld %ld", scenario, &port, &count, &warmup, &measure, &pid) != 6) {
            printf("ERROR bad command: %s", line);
            fflush(stdout);
            continue;
        }
        memset(&target, 0, sizeof target);
        target.sin_family = AF_INET;
        target.sin_port = htons((uint16_t) port);
        target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ep = epoll_create1(0);
        error_text[0] = 0;
        int r;
        if (!strcmp(scenario, "pingpong")) r = run_streams(count, small_msg, SMALL, warmup, measure, pid);
        else if (!strcmp(scenario, "bulk")) r = run_streams(count, bulk_msg, BULK, warmup, measure, pid);
        else if (!strcmp(scenario, "paced")) r = run_paced(count, warmup, measure, pid);
        else if (!strcmp(scenario, "connect")) r = run_connect(count, warmup, measure, pid);
        else if (!strcmp(scenario, "udp")) r = run_udp(count, warmup, measure, pid);
        else if (!strcmp(scenario, "idle")) r = run_idle(count, warmup, measure, pid);
        else {
            snprintf(error_text, sizeof error_text, "unknown scenario %s", scenario);
            r = -1;
        }
        if (r < 0) printf("ERROR %s\n", error_text);
        fflush(stdout);
        close(ep);
    }
    return 0;
}
