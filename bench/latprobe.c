/* latprobe: unloaded query latency for dns-bench.
 *
 * Sends COUNT UDP queries to ADDRESS:PORT one at a time (the next only after the answer, or after
 * a 1 s timeout), cycling through QUERYFILE (dnsperf format: "name type" per line), and prints the
 * round-trip percentiles as one JSON object. dnsperf cannot do this: its send and receive threads
 * share one CPU, which adds milliseconds to a few percent of its latency samples.
 *
 * Usage: latprobe ADDRESS PORT COUNT QUERYFILE DEADLINE_SECONDS
 * Build: cc -O2 -o latprobe latprobe.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXQ 256

struct query { unsigned char wire[300]; size_t len; };

static int qtype(const char *t) {
    static const struct { const char *name; int code; } types[] = {
        {"A", 1}, {"NS", 2}, {"CNAME", 5}, {"SOA", 6}, {"PTR", 12}, {"MX", 15}, {"TXT", 16},
        {"AAAA", 28}, {"SRV", 33}, {"CAA", 257}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(t, types[i].name) == 0) return types[i].code;
    return -1;
}

static int build(struct query *q, const char *name, int type) {
    unsigned char *p = q->wire;
    memset(p, 0, 12);
    p[5] = 1; /* QDCOUNT = 1; flags 0: no RD */
    size_t off = 12;
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        if (len == 0 || len > 63 || off + len + 6 > sizeof q->wire) return -1;
        p[off++] = (unsigned char)len;
        memcpy(p + off, s, len);
        off += len;
        s += len;
        if (*s == '.') s++;
    }
    p[off++] = 0;
    p[off++] = (unsigned char)(type >> 8);
    p[off++] = (unsigned char)type;
    p[off++] = 0;
    p[off++] = 1; /* IN */
    q->len = off;
    return 0;
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: latprobe ADDRESS PORT COUNT QUERYFILE DEADLINE_SECONDS\n");
        return 2;
    }
    long count = atol(argv[3]);
    double deadline = now_us() + atof(argv[5]) * 1e6;
    if (count <= 0) return 2;

    static struct query qs[MAXQ];
    int nq = 0;
    FILE *f = fopen(argv[4], "r");
    if (!f) { perror("latprobe: query file"); return 1; }
    char line[512], name[300], type[32];
    while (nq < MAXQ && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%299s %31s", name, type) != 2) continue;
        int t = qtype(type);
        if (t < 0 || build(&qs[nq], name, t) != 0) { fprintf(stderr, "latprobe: bad query: %s", line); return 1; }
        nq++;
    }
    fclose(f);
    if (nq == 0) { fprintf(stderr, "latprobe: no queries\n"); return 1; }

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) { fprintf(stderr, "latprobe: bad address\n"); return 2; }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("latprobe: connect"); return 1; }

    double *rtt = malloc(sizeof(double) * (size_t)count);
    if (!rtt) return 1;
    long n = 0, timeouts = 0, sent = 0;
    unsigned char buf[4096];
    for (long i = 0; i < count && now_us() < deadline; i++) {
        struct query *q = &qs[i % nq];
        uint16_t id = (uint16_t)(i * 2654435761u >> 16);
        q->wire[0] = (unsigned char)(id >> 8);
        q->wire[1] = (unsigned char)id;
        double t0 = now_us();
        if (send(fd, q->wire, q->len, 0) < 0) { perror("latprobe: send"); break; }
        sent++;
        for (;;) {
            int wait_ms = 1000 - (int)((now_us() - t0) / 1000);
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            if (wait_ms <= 0 || poll(&pfd, 1, wait_ms) <= 0) { timeouts++; break; }
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r >= 12 && buf[0] == q->wire[0] && buf[1] == q->wire[1] && (buf[2] & 0x80)) {
                rtt[n++] = now_us() - t0;
                break;
            }
            /* a late answer to an earlier query, or an ICMP error: keep waiting */
        }
    }
    qsort(rtt, (size_t)n, sizeof rtt[0], cmp);
#define PCT(p) (n ? rtt[(long)((p) / 100.0 * (double)(n - 1) + 0.5)] : -1.0)
    printf("{\"sent\": %ld, \"n\": %ld, \"timeouts\": %ld, \"p50_us\": %.1f, \"p90_us\": %.1f, "
           "\"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f}\n",
           sent, n, timeouts, PCT(50), PCT(90), PCT(99), PCT(99.9), n ? rtt[n - 1] : -1.0);
    free(rtt);
    close(fd);
    return n ? 0 : 1;
}
