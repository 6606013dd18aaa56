/* The floor reference: a minimal epoll socketmap server that answers every netstring with one fixed reply.
 * No lookups, no allocation per request: whatever a real daemon spends above this is its own work.
 *
 *   gcc -O2 -o floor floor.c && ./floor 127.0.0.1 8470
 *
 * One thread, level-triggered epoll; every complete netstring in a read gets the reply, all replies of one
 * read go out in one write (pipelining works). A malformed netstring closes that connection. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY "OK secure match=.mx.bench.test servername=hostname"
struct conn { int fd, len; char buf[16384]; };

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s HOST PORT\n", argv[0]); return 2; }
    char reply[128]; int rlen = snprintf(reply, sizeof reply, "%zu:%s,", strlen(REPLY), REPLY);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0), ep = epoll_create1(0);
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 2; }
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (void *)&a, sizeof a) || listen(ls, 256)) { perror("bind/listen"); return 1; }
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL }, evs[64];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    static char out[1 << 20];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {  /* new connection */
                int fd = accept(ls, NULL, NULL);
                if (fd < 0) continue;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = calloc(1, sizeof *c); c->fd = fd;
                struct epoll_event ce = { .events = EPOLLIN, .data.ptr = c };
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
                continue;
            }
            ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
            int bad = r <= 0, olen = 0, pos = 0;
            if (!bad) c->len += r;
            while (!bad) {  /* every complete netstring "LEN:DATA," in the buffer */
                int p = pos; long len = 0;
                while (p < c->len && c->buf[p] >= '0' && c->buf[p] <= '9' && p - pos < 6) len = len * 10 + (c->buf[p++] - '0');
                if (p == c->len) break;                       /* length not complete yet */
                if (p == pos || c->buf[p] != ':' || len > 10000) { bad = 1; break; }
                if (p + 1 + len + 1 > c->len) break;          /* payload not complete yet */
                if (c->buf[p + 1 + len] != ',') { bad = 1; break; }
                pos = p + 1 + len + 1;
                if (olen + rlen > (int)sizeof out) { bad = 1; break; }
                memcpy(out + olen, reply, rlen); olen += rlen;
            }
            memmove(c->buf, c->buf + pos, c->len - pos); c->len -= pos;
            for (int w = 0; w < olen;) { ssize_t k = write(c->fd, out + w, olen - w); if (k <= 0) { bad = 1; break; } w += k; }
            if (bad) { close(c->fd); free(c); }  /* close() also removes it from the epoll set */
        }
    }
}
