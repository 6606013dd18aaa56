/* Netstring socketmap load generator (the Postfix side of smtp_tls_policy_maps = socketmap:...).
 *
 *   gcc -O2 -Wall -o loadgen loadgen.c
 *   loadgen --connect 127.0.0.1:8461 [--conns 16] [--pipeline 1] [--name postfix]
 *           ( --pattern 'd%d.bench.test' --range LO:HI [--seq | --random] | --domains FILE | --domain NAME )
 *           [--duration SECONDS] [--count N] [--timeout SECONDS] [--pid PID]... [--seed N] [--label TEXT]
 *           [--expect ok|notfound] [--expect-text 'OK secure match=...'] [--rate REQUESTS_PER_SECOND]
 *
 * One thread, epoll. N connections, each with --pipeline requests in flight (1 = what one Postfix smtp process
 * does). Request i asks `NAME DOMAIN`; domains come from --pattern over [LO,HI) (sequential, shared across
 * connections, or uniformly random), a file (one a line, in order, wrapping), or one fixed --domain.
 * --rate R (with --pipeline 1) paces the requests instead: request k is sent at t0 + k/R on a connection that has
 * nothing in flight (round robin over the idle ones), and the generator sleeps in between (epoll_pwait2, timer
 * slack 1 ns). Each request then finds the daemon asleep, as at a mail server's pace, so every request pays the
 * daemon's wake-up; without --rate, replies and requests overlap and one wake-up serves several. A slot with no
 * idle connection waits for the next reply; a generator woken late catches up at most 1 ms of slots (no long
 * bursts). "rate" in the output is the target, "rps" what was reached.
 * --count N stops after N replies; --duration after that many seconds (outstanding replies are awaited); with
 * both, whichever comes first ("stopped_by" in the output says which), so a slower machine sends fewer requests
 * instead of failing. --timeout (default duration + 30 s, or 120 s with --count alone) bounds the whole run.
 *
 * Every reply is checked as a netstring (decimal length without leading zeros, ':', payload, ',', length <=
 * 100000) and classified by its first word: OK, NOTFOUND, TEMP, TIMEOUT, PERM, other. A malformed reply closes
 * that connection and counts as an error. --expect counts replies of another kind as "unexpected";
 * --expect-text counts OK replies whose payload differs as "ok_mismatch" (first sample kept).
 * --pid PID (repeatable): utime+stime of that process (all its threads, /proc/PID/stat) over the measured
 * interval, from just before the first request to the last reply. The first --pid is "the daemon".
 *
 * Output: one JSON object on stdout. Exit 0 when nothing failed, 1 on errors/timeouts, 2 on usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define MAX_PIPELINE 1024
#define MAX_REPLY 100000
#define INBUF (2 * (MAX_REPLY + 16))
#define MAX_PIDS 8

enum { K_OK, K_NOTFOUND, K_TEMP, K_TIMEOUT, K_PERM, K_OTHER, K_N };
static const char *kind_names[K_N] = {"ok", "notfound", "temp", "timeout", "perm", "other"};

struct conn {
    int fd, open, inflight;
    size_t inlen, outlen, outoff;
    uint64_t sent_ns[MAX_PIPELINE];  /* ring of send times, oldest first */
    int head;
    char *in, *out;
    size_t outcap;
};

static struct {
    const char *host, *name, *pattern, *domains_file, *domain, *label, *expect_text;
    int port, conns, pipeline, seq, expect;
    long lo, hi;
    double duration, timeout, rate;
    long count;
    uint64_t seed;
    int pids[MAX_PIDS], npids;
} opt = {.name = "postfix", .conns = 16, .pipeline = 1, .seq = 0, .expect = -1, .count = -1, .seed = 1,
         .label = ""};

static char **dlist;
static long dcount;
static long next_seq;
static uint64_t rng;

static uint32_t *lat;  /* latencies in units of 100 ns */
static size_t nlat, caplat;
static long issued, replied, kinds[K_N], unexpected, ok_mismatch;
static long err_malformed, err_closed, err_write;
static char sample_mismatch[256], sample_other[256];

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

static void die(const char *m) { fprintf(stderr, "loadgen: %s\n", m); exit(2); }

static void usage(void) {
    fprintf(stderr, "usage: loadgen --connect HOST:PORT [--conns N] [--pipeline K] [--name NAME]\n"
                    "  (--pattern FMT --range LO:HI [--seq|--random] | --domains FILE | --domain NAME)\n"
                    "  [--duration S] [--count N] [--timeout S] [--pid PID]... [--seed N] [--label L]\n"
                    "  [--expect ok|notfound] [--expect-text TEXT] [--rate R]\n");
    exit(2);
}

static uint64_t xorshift(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}

static int next_domain(char *dst, size_t cap) {
    if (opt.domain) return snprintf(dst, cap, "%s", opt.domain);
    if (dlist) { const char *d = dlist[next_seq++ % dcount]; return snprintf(dst, cap, "%s", d); }
    long span = opt.hi - opt.lo, i;
    if (opt.seq) i = opt.lo + (next_seq++ % span);
    else i = opt.lo + (long)(xorshift() % (uint64_t)span);
    return snprintf(dst, cap, opt.pattern, i);
}

static double cpu_of(int pid) {
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void queue_request(struct conn *c) {
    char dom[1100], payload[1200];
    next_domain(dom, sizeof dom);
    int plen = snprintf(payload, sizeof payload, "%s %s", opt.name, dom);
    if (c->outlen + plen + 16 > c->outcap) {
        c->outcap = (c->outlen + plen + 16) * 2;
        c->out = realloc(c->out, c->outcap);
        if (!c->out) die("out of memory");
    }
    c->outlen += sprintf(c->out + c->outlen, "%d:%s,", plen, payload);
    c->sent_ns[(c->head + c->inflight) % opt.pipeline] = now_ns();
    c->inflight++;
    issued++;
}

static void close_conn(int ep, struct conn *c) {
    if (!c->open) return;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->open = 0;
}

static void flush_out(int ep, struct conn *c) {
    while (c->outoff < c->outlen) {
        ssize_t k = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno == EAGAIN) break;
        if (k <= 0) { err_write++; close_conn(ep, c); return; }
        c->outoff += k;
    }
    struct epoll_event ev = {.events = EPOLLIN | (c->outoff < c->outlen ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    if (c->outoff == c->outlen) c->outoff = c->outlen = 0;
}

static int want_more(uint64_t stop_at) {
    if (opt.count >= 0 && issued >= opt.count) return 0;
    return now_ns() < stop_at;  /* UINT64_MAX without --duration */
}

static void classify(const char *p, size_t n) {
    int k;
    if (n >= 3 && !memcmp(p, "OK ", 3)) k = K_OK;
    else if (n == 2 && !memcmp(p, "OK", 2)) k = K_OK;
    else if (n >= 8 && !memcmp(p, "NOTFOUND", 8) && (n == 8 || p[8] == ' ')) k = K_NOTFOUND;
    else if (n >= 4 && !memcmp(p, "TEMP", 4) && (n == 4 || p[4] == ' ')) k = K_TEMP;
    else if (n >= 7 && !memcmp(p, "TIMEOUT", 7) && (n == 7 || p[7] == ' ')) k = K_TIMEOUT;
    else if (n >= 4 && !memcmp(p, "PERM", 4) && (n == 4 || p[4] == ' ')) k = K_PERM;
    else k = K_OTHER;
    kinds[k]++;
    if (opt.expect >= 0 && k != opt.expect) {
        unexpected++;
        if (!sample_other[0]) snprintf(sample_other, sizeof sample_other, "%.*s", (int)(n > 200 ? 200 : n), p);
    }
    if (k == K_OK && opt.expect_text && (n != strlen(opt.expect_text) || memcmp(p, opt.expect_text, n))) {
        ok_mismatch++;
        if (!sample_mismatch[0]) snprintf(sample_mismatch, sizeof sample_mismatch, "%.*s", (int)(n > 200 ? 200 : n), p);
    }
}

/* Parses complete netstrings at the front of c->in. Returns replies consumed, or -1 when malformed. */
static int consume(struct conn *c, uint64_t t) {
    size_t pos = 0;
    int got = 0;
    for (;;) {
        size_t p = pos, len = 0;
        while (p < c->inlen && c->in[p] >= '0' && c->in[p] <= '9') {
            if (p > pos && c->in[pos] == '0') return -1;  /* leading zero */
            len = len * 10 + (size_t)(c->in[p] - '0');
            if (len > MAX_REPLY) return -1;
            p++;
        }
        if (p == c->inlen) break;  /* the length is not complete yet */
        if (p == pos || c->in[p] != ':') return -1;
        if (p + 1 + len + 1 > c->inlen) break;  /* the payload is not complete yet */
        if (c->in[p + 1 + len] != ',') return -1;
        if (c->inflight == 0) return -1;  /* a reply nobody asked for */
        classify(c->in + p + 1, len);
        uint64_t d = (t - c->sent_ns[c->head]) / 100;
        c->head = (c->head + 1) % opt.pipeline;
        c->inflight--;
        if (nlat == caplat) {
            caplat = caplat ? caplat * 2 : 1 << 20;
            lat = realloc(lat, caplat * sizeof *lat);
            if (!lat) die("out of memory");
        }
        lat[nlat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        replied++;
        got++;
        pos = p + 1 + len + 1;
    }
    memmove(c->in, c->in + pos, c->inlen - pos);
    c->inlen -= pos;
    return got;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double q) {
    if (!nlat) return 0;
    size_t i = (size_t)(q * (double)(nlat - 1) + 0.5);
    return lat[i] / 10.0;
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define ARG() (i + 1 < argc ? argv[++i] : (usage(), ""))
        if (!strcmp(a, "--connect")) {
            char *s = strdup(ARG()), *colon = strrchr(s, ':');
            if (!colon) usage();
            *colon = 0; opt.host = s; opt.port = atoi(colon + 1);
        } else if (!strcmp(a, "--conns")) opt.conns = atoi(ARG());
        else if (!strcmp(a, "--pipeline")) opt.pipeline = atoi(ARG());
        else if (!strcmp(a, "--name")) opt.name = ARG();
        else if (!strcmp(a, "--pattern")) opt.pattern = ARG();
        else if (!strcmp(a, "--range")) { if (sscanf(ARG(), "%ld:%ld", &opt.lo, &opt.hi) != 2) usage(); }
        else if (!strcmp(a, "--seq")) opt.seq = 1;
        else if (!strcmp(a, "--random")) opt.seq = 0;
        else if (!strcmp(a, "--domains")) opt.domains_file = ARG();
        else if (!strcmp(a, "--domain")) opt.domain = ARG();
        else if (!strcmp(a, "--duration")) opt.duration = atof(ARG());
        else if (!strcmp(a, "--count")) opt.count = atol(ARG());
        else if (!strcmp(a, "--timeout")) opt.timeout = atof(ARG());
        else if (!strcmp(a, "--seed")) opt.seed = strtoull(ARG(), NULL, 10);
        else if (!strcmp(a, "--label")) opt.label = ARG();
        else if (!strcmp(a, "--rate")) opt.rate = atof(ARG());
        else if (!strcmp(a, "--expect-text")) opt.expect_text = ARG();
        else if (!strcmp(a, "--expect")) {
            const char *e = ARG();
            if (!strcmp(e, "ok")) opt.expect = K_OK;
            else if (!strcmp(e, "notfound")) opt.expect = K_NOTFOUND;
            else usage();
        } else if (!strcmp(a, "--pid")) {
            if (opt.npids == MAX_PIDS) die("too many --pid");
            opt.pids[opt.npids++] = atoi(ARG());
        } else usage();
    }
    if (!opt.host || opt.conns < 1 || opt.conns > MAX_CONNS || opt.pipeline < 1 || opt.pipeline > MAX_PIPELINE) usage();
    if (opt.count < 0 && opt.duration <= 0) die("give --count, --duration or both");
    if (opt.rate < 0 || (opt.rate > 0 && opt.pipeline != 1)) die("--rate needs a positive rate and --pipeline 1");
    int sources = !!opt.pattern + !!opt.domains_file + !!opt.domain;
    if (sources != 1) die("give exactly one of --pattern, --domains, --domain");
    if (opt.pattern) {
        if (opt.hi <= opt.lo) die("--pattern needs --range LO:HI with HI > LO");
        const char *pc = strchr(opt.pattern, '%');
        if (!pc || pc[1] != 'd' || strchr(pc + 2, '%')) die("--pattern must contain exactly one %d");
        /* %d with a long: print through a rewritten format */
        char *f = malloc(strlen(opt.pattern) + 2);
        size_t off = (size_t)(pc - opt.pattern);
        memcpy(f, opt.pattern, off);
        strcpy(f + off, "%ld");
        strcat(f, pc + 2);
        opt.pattern = f;
    }
    if (opt.domains_file) {
        FILE *f = fopen(opt.domains_file, "r");
        if (!f) die("cannot open --domains file");
        char line[1100];
        long cap = 0;
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = 0;
            if (!line[0]) continue;
            if (dcount == cap) { cap = cap ? cap * 2 : 1024; dlist = realloc(dlist, cap * sizeof *dlist); }
            dlist[dcount++] = strdup(line);
        }
        fclose(f);
        if (!dcount) die("--domains file is empty");
    }
    if (opt.timeout <= 0) opt.timeout = opt.duration > 0 ? opt.duration + 30 : 120;
    rng = opt.seed * 0x9E3779B97F4A7C15ull + 1;

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(opt.port)};
    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1) die("--connect needs an IPv4 address");
    int ep = epoll_create1(0);
    struct conn *cs = calloc(opt.conns, sizeof *cs);
    for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &cs[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            fprintf(stderr, "loadgen: connect %s:%d: %s\n", opt.host, opt.port, strerror(errno));
            printf("{\"label\":"); json_str(opt.label);
            printf(",\"error\":\"connect failed\",\"requests\":0}\n");
            return 1;
        }
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->in = malloc(INBUF);
        c->outcap = 4096;
        c->out = malloc(c->outcap);
        c->open = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }

    double cpu0[MAX_PIDS], cpu1[MAX_PIDS];
    for (int k = 0; k < opt.npids; k++) cpu0[k] = cpu_of(opt.pids[k]);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    uint64_t t0 = now_ns(), tlast = t0;
    uint64_t stop_at = opt.duration > 0 ? t0 + (uint64_t)(opt.duration * 1e9) : UINT64_MAX;
    uint64_t give_up = t0 + (uint64_t)(opt.timeout * 1e9);

    /* --rate: idle connections in a ring (round robin), the next request's due time */
    struct conn **idle = calloc(opt.conns, sizeof *idle);
    int idle_head = 0, idle_n = 0;
    uint64_t interval = opt.rate > 0 ? (uint64_t)(1e9 / opt.rate) : 0, next_due = t0;
    if (opt.rate > 0) {
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  /* the default 50 us slack would stretch every sleep */
        for (int i = 0; i < opt.conns; i++) idle[idle_n++] = &cs[i];
    } else {
        /* first requests: all connections at once (so 20 connections x 1 request really are concurrent) */
        for (int i = 0; i < opt.conns; i++)
            for (int k = 0; k < opt.pipeline && want_more(stop_at); k++) queue_request(&cs[i]);
        for (int i = 0; i < opt.conns; i++) flush_out(ep, &cs[i]);
    }

    int timed_out = 0;
    struct epoll_event evs[256];
    for (;;) {
        long outstanding = 0;
        int open = 0;
        for (int i = 0; i < opt.conns; i++) if (cs[i].open) { open++; outstanding += cs[i].inflight; }
        if (!open) break;
        if (outstanding == 0 && !want_more(stop_at)) break;
        uint64_t t = now_ns();
        if (t >= give_up) { timed_out = 1; break; }
        if (opt.rate > 0) {  /* send what is due */
            while (idle_n > 0 && t >= next_due && want_more(stop_at)) {
                struct conn *c = idle[idle_head];
                idle_head = (idle_head + 1) % opt.conns;
                idle_n--;
                if (!c->open) continue;
                queue_request(c);
                flush_out(ep, c);
                next_due += interval;
                if (next_due + 1000000 < t) next_due = t - 1000000;  /* fell behind: catch up at most 1 ms of slots */
            }
        }
        uint64_t wait_ns = give_up - t;
        if (wait_ns > 100000000) wait_ns = 100000000;
        if (opt.rate > 0 && idle_n > 0 && want_more(stop_at)) wait_ns = next_due > t ? next_due - t : 0;
        struct timespec ts = {.tv_sec = (time_t)(wait_ns / 1000000000), .tv_nsec = (long)(wait_ns % 1000000000)};
        int n = epoll_pwait2(ep, evs, 256, &ts, NULL);
        if (n < 0 && errno == EINTR) continue;
        uint64_t tr = now_ns();
        for (int e = 0; e < n; e++) {
            struct conn *c = evs[e].data.ptr;
            if (!c->open) continue;
            if (evs[e].events & EPOLLOUT) flush_out(ep, c);
            if (!c->open || !(evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            ssize_t r = read(c->fd, c->in + c->inlen, INBUF - c->inlen);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) { err_closed++; close_conn(ep, c); continue; }
            c->inlen += r;
            int got = consume(c, tr);
            if (got < 0) { err_malformed++; close_conn(ep, c); continue; }
            if (got > 0) {
                tlast = tr;
                if (opt.rate > 0) {
                    if (c->inflight == 0) idle[(idle_head + idle_n++) % opt.conns] = c;
                    continue;
                }
                for (int k = 0; k < got && want_more(stop_at); k++) queue_request(c);
                flush_out(ep, c);
            }
        }
    }
    for (int k = 0; k < opt.npids; k++) cpu1[k] = cpu_of(opt.pids[k]);
    getrusage(RUSAGE_SELF, &ru1);
    long lost = 0;
    for (int i = 0; i < opt.conns; i++) { lost += cs[i].inflight; if (cs[i].open) close(cs[i].fd); }

    double secs = (double)(tlast - t0) / 1e9;
    if (secs <= 0) secs = 1e-9;
    qsort(lat, nlat, sizeof *lat, cmp_u32);
    double mean = 0;
    for (size_t i = 0; i < nlat; i++) mean += lat[i];
    mean = nlat ? mean / nlat / 10.0 : 0;
    double lg_cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                    (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;

    printf("{\"label\":"); json_str(opt.label);
    printf(",\"conns\":%d,\"pipeline\":%d,\"requests\":%ld,\"issued\":%ld,\"seconds\":%.3f,\"rps\":%.1f",
           opt.conns, opt.pipeline, replied, issued, secs, replied / secs);
    if (opt.rate > 0) printf(",\"rate\":%.0f", opt.rate);
    printf(",\"stopped_by\":\"%s\"", timed_out ? "timeout" : opt.count >= 0 && issued >= opt.count ? "count" : "duration");
    printf(",\"lat_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f}",
           pct(0.50), pct(0.99), pct(0.999), nlat ? lat[nlat - 1] / 10.0 : 0, mean);
    printf(",\"replies\":{");
    for (int k = 0; k < K_N; k++) printf("%s\"%s\":%ld", k ? "," : "", kind_names[k], kinds[k]);
    printf("},\"unexpected\":%ld,\"ok_mismatch\":%ld", unexpected, ok_mismatch);
    printf(",\"errors\":{\"malformed\":%ld,\"closed\":%ld,\"write\":%ld,\"lost\":%ld,\"timeout\":%d}",
           err_malformed, err_closed, err_write, lost, timed_out);
    long errors = err_malformed + err_closed + err_write + lost + timed_out;
    printf(",\"error_count\":%ld", errors);
    if (sample_other[0]) { printf(",\"sample_unexpected\":"); json_str(sample_other); }
    if (sample_mismatch[0]) { printf(",\"sample_mismatch\":"); json_str(sample_mismatch); }
    printf(",\"loadgen_cpu_s\":%.3f", lg_cpu);
    if (opt.npids) {
        printf(",\"cpu_s\":[");
        for (int k = 0; k < opt.npids; k++) printf("%s%.2f", k ? "," : "", cpu1[k] - cpu0[k]);
        double d = cpu1[0] - cpu0[0];
        printf("],\"daemon_cpu_s\":%.2f,\"daemon_cpu_us_per_req\":%.2f", d, replied ? d * 1e6 / replied : 0);
    }
    printf("}\n");
    return errors ? 1 : 0;
}
