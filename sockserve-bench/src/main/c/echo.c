/*
 * The physical limit: the smallest echo server epoll allows, one thread, level-triggered.
 *
 *   echo tcp|udp PORT      prints "READY <port>" once listening, serves until killed (or its parent ends)
 *
 * TCP: what a read returns is written back at once; what the socket does not take waits in a buffer of
 * the connection's own while reading stops (so a client that does not read cannot grow it). UDP: one
 * blocking socket, each datagram sent back as it came.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int fd;
    char *pending; /* bytes read but not yet written back, or NULL */
    size_t off, len;
} conn;

static char buffer[64 * 1024];
static int listener_tag; /* its address marks the listener in epoll's data */

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void drop(int ep, conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pending);
    free(c);
}

static void serve_udp(int fd) {
    struct sockaddr_storage peer;
    for (;;) {
        socklen_t len = sizeof peer;
        ssize_t n = recvfrom(fd, buffer, sizeof buffer, 0, (struct sockaddr *) &peer, &len);
        if (n >= 0) sendto(fd, buffer, (size_t) n, 0, (struct sockaddr *) &peer, len);
    }
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "tcp") && strcmp(argv[1], "udp"))) {
        fprintf(stderr, "usage: echo tcp|udp PORT\n");
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
    signal(SIGPIPE, SIG_IGN);
    int udp = !strcmp(argv[1], "udp");
    int fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM | SOCK_NONBLOCK, 0); /* accept4 loops until EAGAIN */
    int one = 1, big = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (udp) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) atoi(argv[2]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *) &a, sizeof a)) die("bind");
    if (!udp && listen(fd, 4096)) die("listen");
    socklen_t alen = sizeof a;
    getsockname(fd, (struct sockaddr *) &a, &alen);
    printf("READY %d\n", ntohs(a.sin_port));
    fflush(stdout);
    if (udp) serve_udp(fd);

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listener_tag};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == &listener_tag) {
                int s;
                while ((s = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *c = calloc(1, sizeof *c);
                    c->fd = s;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, s, &cev);
                }
                continue;
            }
            conn *c = events[i].data.ptr;
            if (c->pending) { /* writable again: send what waits, then read again */
                ssize_t w = write(c->fd, c->pending + c->off, c->len - c->off);
                if (w < 0 && errno != EAGAIN) { drop(ep, c); continue; }
                if (w > 0) c->off += (size_t) w;
                if (c->off == c->len) {
                    free(c->pending);
                    c->pending = NULL;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
                }
                continue;
            }
            ssize_t r = read(c->fd, buffer, sizeof buffer);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                drop(ep, c);
                continue;
            }
            ssize_t w = write(c->fd, buffer, (size_t) r);
            if (w < 0 && errno != EAGAIN) { drop(ep, c); continue; }
            if (w < 0) w = 0;
            if (w < r) { /* the rest waits for EPOLLOUT; no reading meanwhile */
                c->len = (size_t) (r - w);
                c->off = 0;
                c->pending = malloc(c->len);
                memcpy(c->pending, buffer + w, c->len);
                struct epoll_event cev = {.events = EPOLLOUT, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
            }
        }
    }
}
