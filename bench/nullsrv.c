/* nullsrv: the "null server" baseline of dns-bench.
 *
 * Answers every UDP datagram of at least 12 bytes with the same bytes and the QR bit set, in
 * recvmmsg/sendmmsg batches (as gtmd's workers do). It does no DNS work at all, so its CPU time
 * per query is the kernel's floor for one UDP query/answer over loopback.
 *
 * Usage: nullsrv ADDRESS PORT        (SIGTERM or SIGINT stops it)
 * Build: cc -O2 -o nullsrv nullsrv.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 64
#define BUFSZ 1500

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: nullsrv ADDRESS PORT\n"); return 2; }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 2; }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("nullsrv: bind"); return 1; }
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: recvmmsg returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    static unsigned char buf[BATCH][BUFSZ];
    static struct mmsghdr msg[BATCH];
    static struct iovec iov[BATCH];
    static struct sockaddr_in peer[BATCH];
    int used = BATCH; /* entries to (re)initialise: those the previous batch touched */
    while (!stop) {
        for (int i = 0; i < used; i++) {
            iov[i] = (struct iovec){.iov_base = buf[i], .iov_len = BUFSZ};
            msg[i].msg_hdr = (struct msghdr){.msg_name = &peer[i], .msg_namelen = sizeof peer[i],
                                             .msg_iov = &iov[i], .msg_iovlen = 1};
        }
        used = 0;
        int n = recvmmsg(fd, msg, BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("nullsrv: recvmmsg");
            return 1;
        }
        used = n;
        int k = 0;
        for (int i = 0; i < n; i++) {
            unsigned char *p = buf[i];
            if (msg[i].msg_len < 12 || (p[2] & 0x80)) continue; /* too short, or a response */
            p[2] |= 0x80;                                         /* QR */
            iov[i].iov_len = msg[i].msg_len;
            msg[k++] = msg[i];
        }
        for (int sent = 0; sent < k;) {
            int r = sendmmsg(fd, msg + sent, (unsigned)(k - sent), 0);
            if (r < 0) {
                if (errno == EINTR) continue;
                break; /* drop the rest of this batch, like a full socket buffer would */
            }
            sent += r;
        }
    }
    return 0;
}
