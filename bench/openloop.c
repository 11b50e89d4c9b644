/* openloop: a constant-rate HTTP/1.1 load generator that accounts for coordinated
 * omission, for bench/run.py (latency at fixed offered rates, make soak).
 *
 * Each of C keep-alive connections owns every C-th slot of one schedule
 * (request n is due at start + n / rate), sends its next request when that is
 * due and its previous answer is in, and records latency from the time the
 * request was *due*, not when it went out: a server that stalls for a second
 * is charged for every request that should have been sent meanwhile, as a
 * visitor would feel it (wrk, closed-loop, would record only the C requests
 * that happened to be in flight). The latency from the actual send is kept
 * too ("uncorrected"), so the difference is visible in one run, and so is the
 * generator's own delay in sending ("sending": from when a request could have
 * gone, its due time or its connection's previous answer, whichever is later,
 * to when it went), so a stall can be told apart from a late generator.
 *
 * A connection whose previous answer is still on its way at the end sends its
 * last slot due before the end once that answer is in: it is late, and charged
 * for it, not unsent. Slots further behind (a backlog deeper than one per
 * connection) are counted as unsent: the server did not keep up.
 *
 * Why not wrk with a pacing script: wrk's Lua state is per thread, its delay()
 * is in whole milliseconds and its histogram is fed from the actual send time,
 * so no script can charge a late request its wait. Debian has no wrk2 or
 * vegeta. Why C: at the rates measured here a Python generator would need a
 * core of its own and its scheduling jitter would be the tail it measures.
 *
 * Built by bench/run.py with the system's cc (`cc -O2 -o openloop openloop.c`).
 *
 * usage: openloop -r RATE -c CONNS -d SECONDS [-i INTERVAL] [-t TIMEOUT] [-H 'K: v']...
 *        http://127.0.0.1:PORT/path
 * Prints one JSON line per interval ("interval") and one at the end ("total").
 * Percentiles are in microseconds, from a log-linear histogram (< 0.2 % error).
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
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define SUB 512
#define BUCKETS (1024 + 23 * SUB)
#define HEAD_MAX 65536

typedef struct { uint64_t n[BUCKETS]; uint64_t count, max; } hist;

static int bucket(uint64_t v) {
    if (v < 1024) return (int)v;
    int msb = 63 - __builtin_clzll(v);
    if (msb > 32) return BUCKETS - 1;
    return 1024 + (msb - 10) * SUB + (int)((v >> (msb - 9)) & (SUB - 1));
}

static uint64_t bucket_top(int i) {
    if (i < 1024) return (uint64_t)i;
    int msb = (i - 1024) / SUB + 10, sub = (i - 1024) % SUB;
    return ((uint64_t)(SUB + sub + 1) << (msb - 9)) - 1;
}

static void record(hist *h, uint64_t us) {
    h->n[bucket(us)]++;
    h->count++;
    if (us > h->max) h->max = us;
}

static uint64_t percentile(const hist *h, double p) {
    if (!h->count) return 0;
    uint64_t want = (uint64_t)(p / 100.0 * (double)h->count + 0.999999), seen = 0;
    if (want < 1) want = 1;
    for (int i = 0; i < BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= want) return bucket_top(i) < h->max ? bucket_top(i) : h->max;
    }
    return h->max;
}

enum { IDLE, READING };

typedef struct {
    int fd, state, index;
    uint64_t slot;                 /* this connection's next slot number */
    int64_t due, sent, answered;   /* ns */
    char head[HEAD_MAX];
    size_t have;                   /* bytes of head read so far */
    long long body_left;           /* -1 until the head is complete */
    int status;
} conn;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static struct sockaddr_in addr;
static int epfd;

static int open_conn(conn *c) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { close(fd); return -1; }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    c->fd = fd;
    return 0;
}

static void drop_conn(conn *c) {
    if (c->fd >= 0) { epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); }
    c->fd = -1;
    c->state = IDLE;
}

static long long content_length(const char *head, size_t len) {
    const char *p = head, *end = head + len;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
            return atoll(p + 15);
        p = eol + 2;
    }
    return 0;
}

static void json_hist(const char *kind, const hist *h) {
    printf("\"%s\":{\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,"
           "\"max_us\":%llu}", kind,
           (unsigned long long)percentile(h, 50), (unsigned long long)percentile(h, 90),
           (unsigned long long)percentile(h, 99), (unsigned long long)percentile(h, 99.9),
           (unsigned long long)h->max);
}

/* Whether an idle connection still owes its last slot due before the end. */
static int owed(const conn *cs, int conns, int64_t end, int64_t period) {
    for (int i = 0; i < conns; i++)
        if (cs[i].state == IDLE && cs[i].due < end && cs[i].due >= end - (int64_t)conns * period)
            return 1;
    return 0;
}

int main(int argc, char **argv) {
    double rate = 0, seconds = 0, interval = 0, timeout = 5;
    int conns = 0, opt;
    char headers[4096] = "";
    while ((opt = getopt(argc, argv, "r:c:d:i:t:H:")) != -1) {
        switch (opt) {
        case 'r': rate = atof(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'i': interval = atof(optarg); break;
        case 't': timeout = atof(optarg); break;
        case 'H':
            if (strlen(headers) + strlen(optarg) + 3 >= sizeof headers) return 2;
            strcat(headers, optarg);
            strcat(headers, "\r\n");
            break;
        default: return 2;
        }
    }
    int port = 0;
    char host[64], path[2048] = "/";
    if (optind != argc - 1 || rate <= 0 || conns <= 0 || seconds <= 0 ||
        sscanf(argv[optind], "http://%63[^:/]:%d%2047s", host, &port, path) < 2) {
        fprintf(stderr, "usage: openloop -r RATE -c CONNS -d SECONDS [-i INTERVAL] "
                        "[-t TIMEOUT] [-H 'Name: value'] http://IP:PORT/path\n");
        return 2;
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "openloop: %s is not an IPv4 address\n", host);
        return 2;
    }
    char request[8192];
    int request_len = snprintf(request, sizeof request,
                               "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", path, host, port,
                               headers);

    epfd = epoll_create1(0);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);

    conn *cs = calloc((size_t)conns, sizeof(conn));
    for (int i = 0; i < conns; i++) {
        cs[i].fd = -1;
        cs[i].index = i;
        if (open_conn(&cs[i]) < 0) {
            fprintf(stderr, "openloop: cannot connect to %s:%d: %s\n", host, port,
                    strerror(errno));
            return 1;
        }
    }

    static hist total, total_raw, total_sending, part, part_raw, part_sending;
    const int64_t period = (int64_t)(1e9 / rate);
    const int64_t start = now_ns() + 1000000;  /* 1 ms to settle */
    const int64_t end = start + (int64_t)(seconds * 1e9);
    const int64_t step = interval > 0 ? (int64_t)(interval * 1e9) : end - start;
    int64_t part_end = start + step;
    uint64_t errors = 0, part_errors = 0, non2xx = 0, done = 0, sent = 0;
    int part_no = 0;
    for (int i = 0; i < conns; i++) cs[i].due = start + (int64_t)i * period;

    struct epoll_event events[256];
    for (;;) {
        int64_t now = now_ns();
        int64_t next = INT64_MAX;
        int busy = 0;
        for (int i = 0; i < conns; i++) {
            conn *c = &cs[i];
            if (c->state == READING) {
                busy++;
                if (now - c->sent > (int64_t)(timeout * 1e9)) {
                    errors++, part_errors++;
                    drop_conn(c);
                    c->slot++;
                    c->due = start + (int64_t)(c->index + c->slot * (uint64_t)conns) * period;
                } else {
                    continue;
                }
            }
            if (c->due >= end) continue;
            /* After the end only a connection's last slot goes: a deeper backlog is "unsent". */
            if (now >= end && c->due < end - (int64_t)conns * period) continue;
            if (c->due > now) { if (c->due < next) next = c->due; continue; }
            if (c->fd < 0 && open_conn(c) < 0) {
                errors++, part_errors++;
                c->slot++;
                c->due = start + (int64_t)(c->index + c->slot * (uint64_t)conns) * period;
                continue;
            }
            if (write(c->fd, request, (size_t)request_len) != request_len) {
                errors++, part_errors++;
                drop_conn(c);
                continue;
            }
            uint64_t waited = (uint64_t)((now - (c->due > c->answered ? c->due : c->answered))
                                         / 1000);
            record(&total_sending, waited);
            record(&part_sending, waited);
            c->state = READING;
            c->sent = now;
            c->have = 0;
            c->body_left = -1;
            sent++;
            busy++;
        }
        while (now >= part_end && interval > 0 && part_end <= end) {
            printf("{\"interval\":%d,\"seconds\":%.3f,\"requests\":%llu,\"errors\":%llu,",
                   ++part_no, (double)step / 1e9, (unsigned long long)part.count,
                   (unsigned long long)part_errors);
            json_hist("latency", &part);
            printf(",");
            json_hist("uncorrected", &part_raw);
            printf(",");
            json_hist("sending", &part_sending);
            printf("}\n");
            fflush(stdout);
            memset(&part, 0, sizeof part);
            memset(&part_raw, 0, sizeof part_raw);
            memset(&part_sending, 0, sizeof part_sending);
            part_errors = 0;
            part_end += step;
        }
        if (now >= end && ((busy == 0 && !owed(cs, conns, end, period))
                           || now >= end + (int64_t)(timeout * 1e9))) break;

        if (next != INT64_MAX) {
            struct itimerspec at = {.it_value = {.tv_sec = next / 1000000000LL,
                                                 .tv_nsec = next % 1000000000LL}};
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &at, NULL);
        }
        int n = epoll_wait(epfd, events, 256, next == INT64_MAX ? 50 : 1000);
        for (int e = 0; e < n; e++) {
            conn *c = events[e].data.ptr;
            if (c == NULL) { uint64_t x; (void)!read(tfd, &x, sizeof x); continue; }
            for (;;) {
                char scratch[65536];
                char *into = c->body_left < 0 ? c->head + c->have : scratch;
                size_t room = c->body_left < 0 ? HEAD_MAX - c->have : sizeof scratch;
                ssize_t got = read(c->fd, into, room);
                if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                if (got <= 0 || (c->body_left < 0 && room == 0)) {
                    if (c->state == READING) {
                        errors++, part_errors++;
                        c->slot++;
                        c->due = start + (int64_t)(c->index + c->slot * (uint64_t)conns) * period;
                    }
                    drop_conn(c);
                    break;
                }
                if (c->state != READING) continue;  /* unexpected bytes: ignored */
                if (c->body_left < 0) {
                    c->have += (size_t)got;
                    char *blank = memmem(c->head, c->have, "\r\n\r\n", 4);
                    if (!blank) continue;
                    size_t head_len = (size_t)(blank - c->head) + 4;
                    c->status = atoi(c->head + 9);
                    c->body_left = content_length(c->head, head_len) -
                                   (long long)(c->have - head_len);
                } else {
                    c->body_left -= got;
                }
                if (c->body_left > 0) continue;
                int64_t t = now_ns();
                uint64_t late = (uint64_t)((t - c->due) / 1000);
                record(&total, late);
                record(&part, late);
                record(&total_raw, (uint64_t)((t - c->sent) / 1000));
                record(&part_raw, (uint64_t)((t - c->sent) / 1000));
                c->answered = t;
                done++;
                if (c->status < 200 || c->status >= 400) non2xx++;
                c->state = IDLE;
                c->slot++;
                c->due = start + (int64_t)(c->index + c->slot * (uint64_t)conns) * period;
            }
        }
    }
    /* Slots that fell due before the end but were never sent: the server (or this
     * generator) could not keep up, and the run is not at the rate it says. */
    uint64_t due_by_end = (uint64_t)((end - start) / period);
    uint64_t unsent = due_by_end > sent ? due_by_end - sent : 0;
    printf("{\"total\":true,\"rate\":%.1f,\"connections\":%d,\"seconds\":%.3f,"
           "\"requests\":%llu,\"errors\":%llu,\"non2xx\":%llu,\"unsent\":%llu,"
           "\"achieved_per_s\":%.1f,",
           rate, conns, seconds, (unsigned long long)done, (unsigned long long)errors,
           (unsigned long long)non2xx, (unsigned long long)unsent, (double)done / seconds);
    json_hist("latency", &total);
    printf(",");
    json_hist("uncorrected", &total_raw);
    printf(",");
    json_hist("sending", &total_sending);
    printf("}\n");
    return 0;
}
