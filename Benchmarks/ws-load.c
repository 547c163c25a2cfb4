/*
 * ws-load: a WebSocket load client for Benchmarks/run, one thread, epoll, non-blocking sockets.
 *
 *     gcc -O2 -o ws-load Benchmarks/ws-load.c
 *     ws-load [options] ws://127.0.0.1:PORT/echo
 *
 * Echo mode (default): opens N connections, each does the RFC 6455 opening handshake (checks the 101 and its
 * Sec-WebSocket-Accept, and that no extension was negotiated: none is offered), then keeps W messages of S bytes
 * in flight (binary frames, or text with --text; masked with a fresh key per frame, as a client must). Each echo
 * that comes back (same opcode, same length, same bytes) is counted and answered by the next message. After a
 * warm-up, counts echoes for the duration and prints messages/s and the round-trip p50/p99 (each payload carries
 * its send time), and "total", every echo since the start (warm-up included), for CPU-per-message figures.
 *
 * Idle mode (--idle): opens N connections, does the handshake on each, prints "open N" once all are upgraded,
 * then holds them (answering pings) until SIGTERM/SIGINT or the duration (-d, 0 = forever), and prints how many
 * are still open at the end (a server that closes idle connections is visible).
 *
 * Options: -c N connections (64), -w W messages in flight per connection (1), -s S payload bytes (32, at least
 * 16, at most 125), -d SECONDS measured (5; idle: 0), -W SECONDS warm-up (1), --text, --idle, -q quiet,
 * --any-accept (any Sec-WebSocket-Accept will do: for the nio-ws-floor server, which does not hash the key).
 * Exit status 0 when every connection upgraded and nothing failed; 1 otherwise (the numbers are still printed).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- SHA-1 (FIPS 180-4), only to check Sec-WebSocket-Accept ---- */

static uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1(const uint8_t *data, size_t len, uint8_t out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t padded = ((len + 8) / 64 + 1) * 64;
    uint8_t *m = calloc(padded, 1);
    memcpy(m, data, len);
    m[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) m[padded - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t off = 0; off < padded; off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)m[off + 4 * i] << 24 | (uint32_t)m[off + 4 * i + 1] << 16 |
                   (uint32_t)m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
            else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
            else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
            else { f = b ^ c ^ d; k = 0xCA62C1D6; }
            uint32_t t = rol32(a, 5) + f + e + k + w[i];
            e = d; d = c; c = rol32(b, 30); b = a; a = t;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
    }
    free(m);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

static void base64(const uint8_t *in, size_t len, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < len ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? t[v & 63] : '=';
    }
    out[o] = 0;
}

/* ---- state ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { /* xorshift64*: masks and keys; not for secrets, fine for load */
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

enum { CONNECTING, HANDSHAKE, OPEN, CLOSED };

typedef struct {
    int fd, state;
    char accept[32];          /* the Sec-WebSocket-Accept we expect */
    uint8_t *in; size_t in_len, in_cap;
    uint8_t *out; size_t out_off, out_len, out_cap;
    int want_out;             /* EPOLLOUT registered */
} conn_t;

static int n_conns = 64, window = 1, payload = 32, text_mode = 0, idle_mode = 0, quiet = 0;
/* --any-accept: take any Sec-WebSocket-Accept (for Benchmarks/Sources/nio-ws-floor, which does not hash the key). */
static int any_accept = 0;
static double duration = -1, warmup = 1;
static char host[256] = "127.0.0.1", port_s[16] = "80", path[1024] = "/";
static struct sockaddr_storage addr; static socklen_t addr_len;
static int ep;
static conn_t *conns;
static volatile sig_atomic_t stop_flag = 0;
static int opened = 0, failed = 0, closed_by_peer = 0, pending = 0, next_to_start = 0;
static uint64_t counted = 0, echoed = 0, bad_echo = 0, measure_start = 0, measure_end = 0;
static int measuring = 0;
#define HIST_US 2000000 /* round trips up to 2 s at 1 us; longer ones land in the last bucket */
static uint32_t *hist;
static uint64_t hist_n = 0;

static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static void die(const char *what) { perror(what); exit(2); }

static void out_reserve(conn_t *c, size_t more) {
    if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + more <= c->out_cap) return;
    if (c->out_off > 0) { /* compact first */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off; c->out_off = 0;
        if (c->out_len + more <= c->out_cap) return;
    }
    size_t cap = c->out_cap ? c->out_cap : 256;
    while (cap < c->out_len + more) cap *= 2;
    c->out = realloc(c->out, cap); c->out_cap = cap;
}

/* A masked client frame: FIN, opcode, 7-bit length (control frames and our messages are <= 125 bytes). */
static void put_frame(conn_t *c, int opcode, const uint8_t *data, size_t len) {
    out_reserve(c, 6 + len);
    uint8_t *p = c->out + c->out_len;
    uint32_t key = (uint32_t)rnd();
    uint8_t mask[4] = {key, key >> 8, key >> 16, key >> 24};
    p[0] = 0x80 | (uint8_t)opcode;
    p[1] = 0x80 | (uint8_t)len;
    memcpy(p + 2, mask, 4);
    for (size_t i = 0; i < len; i++) p[6 + i] = data[i] ^ mask[i & 3];
    c->out_len += 6 + len;
}

/* The payload: send time in ns as 16 hex digits, then filler; valid UTF-8 for text frames. */
static void put_message(conn_t *c) {
    uint8_t buf[125];
    uint64_t t = now_ns();
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) buf[i] = (uint8_t)hex[(t >> (60 - 4 * i)) & 15];
    for (int i = 16; i < payload; i++) buf[i] = (uint8_t)('a' + i % 26);
    put_frame(c, text_mode ? 0x1 : 0x2, buf, (size_t)payload);
}

static void set_events(conn_t *c, int want_out) {
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.u32 = (uint32_t)(c - conns)};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
    c->want_out = want_out;
}

static void conn_close(conn_t *c, int by_peer, const char *why) {
    if (c->state == CLOSED) return;
    if (c->state != OPEN) { failed++; pending--; }
    else if (by_peer) closed_by_peer++;
    if (!quiet && why && (failed + closed_by_peer) <= 5)
        fprintf(stderr, "ws-load: connection %d: %s\n", (int)(c - conns), why);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = CLOSED;
    free(c->in); free(c->out);
    c->in = c->out = NULL; c->in_cap = c->out_cap = c->in_len = c->out_len = c->out_off = 0;
}

static void flush_out(conn_t *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) { c->out_off += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out) set_events(c, 1);
            return;
        }
        conn_close(c, 1, "send failed");
        return;
    }
    c->out_off = c->out_len = 0;
    if (c->want_out) set_events(c, 0);
}

static int start_connect(int i) {
    conn_t *c = &conns[i];
    memset(c, 0, sizeof *c);
    c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket (raise ulimit -n?)");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (idle_mode) { /* reset at exit, so 10,000 closes leave no TIME_WAIT to exhaust the next run's ports */
        struct linger l = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    c->state = CONNECTING;
    pending++;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i};
    c->want_out = 1;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl add");
    if (connect(c->fd, (struct sockaddr *)&addr, addr_len) < 0 && errno != EINPROGRESS) {
        conn_close(c, 0, strerror(errno));
        return -1;
    }
    return 0;
}

static void send_handshake(conn_t *c) {
    uint8_t key[16];
    for (int i = 0; i < 16; i += 8) { uint64_t r = rnd(); memcpy(key + i, &r, 8); }
    char key64[32];
    base64(key, 16, key64);
    char cat[64 + 40];
    snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key64);
    uint8_t digest[20];
    sha1((const uint8_t *)cat, strlen(cat), digest);
    base64(digest, 20, c->accept);
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, host, port_s, key64);
    out_reserve(c, (size_t)n);
    memcpy(c->out + c->out_len, req, (size_t)n);
    c->out_len += (size_t)n;
    c->state = HANDSHAKE;
    flush_out(c);
}

/* A header field's value in the response head (case-insensitive name), or NULL. */
static const char *field(const char *head, const char *name, size_t *vlen) {
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t') v++;
            const char *e = strstr(v, "\r\n");
            while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
            *vlen = (size_t)(e - v);
            return v;
        }
    }
    return NULL;
}

static void became_open(conn_t *c) {
    c->state = OPEN;
    opened++; pending--;
    if (!idle_mode)
        for (int k = 0; k < window; k++) put_message(c);
}

/* Parse the 101; returns bytes consumed, 0 if the head is incomplete, -1 on failure (connection closed). */
static long parse_handshake(conn_t *c) {
    uint8_t *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) {
        if (c->in_len > 16384) { conn_close(c, 0, "handshake response too long"); return -1; }
        return 0;
    }
    size_t head_len = (size_t)(end - c->in) + 4;
    char *head = malloc(head_len + 1);
    memcpy(head, c->in, head_len); head[head_len] = 0;
    size_t vl;
    const char *v;
    const char *why = NULL;
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) why = "no 101 Switching Protocols";
    else if (!(v = field(head, "Sec-WebSocket-Accept", &vl))
             || (!any_accept && (vl != strlen(c->accept) || memcmp(v, c->accept, vl))))
        why = "wrong or missing Sec-WebSocket-Accept";
    else if (!(v = field(head, "Upgrade", &vl)) || vl != 9 || strncasecmp(v, "websocket", 9)) why = "no Upgrade: websocket";
    else if (field(head, "Sec-WebSocket-Extensions", &vl)) why = "an extension was negotiated though none was offered";
    if (why) {
        if (!quiet && failed < 3) fprintf(stderr, "ws-load: response head:\n%s", head);
        free(head);
        conn_close(c, 0, why);
        return -1;
    }
    free(head);
    became_open(c);
    return (long)head_len;
}

static void record_rtt(const uint8_t *p, size_t len, int opcode) {
    if (len != (size_t)payload || opcode != (text_mode ? 0x1 : 0x2)) { bad_echo++; return; }
    uint64_t t = 0;
    for (int i = 0; i < 16; i++) {
        uint8_t ch = p[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0) { bad_echo++; return; }
        t = t << 4 | (uint64_t)d;
    }
    for (int i = 16; i < payload; i++)
        if (p[i] != (uint8_t)('a' + i % 26)) { bad_echo++; return; }
    echoed++;
    if (!measuring) return;
    counted++;
    uint64_t us = (now_ns() - t) / 1000;
    hist[us < HIST_US ? us : HIST_US - 1]++;
    hist_n++;
}

/* Parse server frames (unmasked) in c->in; returns bytes consumed or -1 if the connection was closed. */
static long parse_frames(conn_t *c, size_t from) {
    size_t pos = from;
    while (c->in_len - pos >= 2) {
        uint8_t *p = c->in + pos;
        int fin = p[0] & 0x80, opcode = p[0] & 0x0F;
        if (p[0] & 0x70) { conn_close(c, 0, "reserved bits set by the server"); return -1; }
        if (p[1] & 0x80) { conn_close(c, 0, "masked frame from the server"); return -1; }
        uint64_t len = p[1] & 0x7F;
        size_t hl = 2;
        if (len == 126) {
            if (c->in_len - pos < 4) break;
            len = (uint64_t)p[2] << 8 | p[3]; hl = 4;
        } else if (len == 127) {
            if (c->in_len - pos < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
            hl = 10;
        }
        if (c->in_len - pos < hl + len) {
            if (hl + len > (1u << 24)) { conn_close(c, 0, "frame too large for a 32-byte echo"); return -1; }
            break;
        }
        uint8_t *data = p + hl;
        if (opcode == 0x9) put_frame(c, 0xA, data, (size_t)len);            /* ping -> pong */
        else if (opcode == 0x8) {
            if (!quiet && closed_by_peer < 5) {
                unsigned code = len >= 2 ? (unsigned)data[0] << 8 | data[1] : 1005;
                fprintf(stderr, "ws-load: connection %d: close frame %u from the server\n", (int)(c - conns), code);
            }
            conn_close(c, 1, NULL);
            return -1;
        } else if (opcode == 0xA) { /* unsolicited pong: ignore */ }
        else if ((opcode == 0x1 || opcode == 0x2) && fin) {
            if (idle_mode) bad_echo++;
            else { record_rtt(data, (size_t)len, opcode); if (!stop_flag) put_message(c); }
        } else { bad_echo++; } /* fragments: our messages are never fragmented, so an echo must not be */
        pos += hl + (size_t)len;
    }
    return (long)(pos - from);
}

static void on_readable(conn_t *c) {
    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
            c->in = realloc(c->in, cap); c->in_cap = cap;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n == 0) { conn_close(c, 1, "closed by the server"); return; }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            conn_close(c, 1, strerror(errno));
            return;
        }
        c->in_len += (size_t)n;
        size_t used = 0;
        if (c->state == HANDSHAKE) {
            long h = parse_handshake(c);
            if (h < 0) return;
            if (h == 0) continue;
            used = (size_t)h;
        }
        long f = parse_frames(c, used);
        if (f < 0) return;
        used += (size_t)f;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        if ((size_t)n < 4096) break; /* drained, most likely; epoll tells us if not */
    }
    if (c->out_len > c->out_off) flush_out(c);
}

static double quantile(double q) {
    if (!hist_n) return 0;
    uint64_t target = (uint64_t)(q * (double)hist_n), seen = 0;
    for (int i = 0; i < HIST_US; i++) {
        seen += hist[i];
        if (seen > target) return i;
    }
    return HIST_US;
}

static void usage(void) {
    fprintf(stderr, "usage: ws-load [-c N] [-w W] [-s BYTES] [-d SECONDS] [-W WARMUP] [--text] [--idle] [--any-accept] [-q] "
                    "ws://HOST:PORT/PATH\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-c") && i + 1 < argc) n_conns = atoi(argv[++i]);
        else if (!strcmp(a, "-w") && i + 1 < argc) window = atoi(argv[++i]);
        else if (!strcmp(a, "-s") && i + 1 < argc) payload = atoi(argv[++i]);
        else if (!strcmp(a, "-d") && i + 1 < argc) duration = atof(argv[++i]);
        else if (!strcmp(a, "-W") && i + 1 < argc) warmup = atof(argv[++i]);
        else if (!strcmp(a, "--text")) text_mode = 1;
        else if (!strcmp(a, "--idle")) idle_mode = 1;
        else if (!strcmp(a, "-q")) quiet = 1;
        else if (!strcmp(a, "--any-accept")) any_accept = 1;
        else if (!url && a[0] != '-') url = a;
        else usage();
    }
    if (!url || n_conns < 1 || window < 1 || payload < 16 || payload > 125) usage();
    if (duration < 0) duration = idle_mode ? 0 : 5;
    if (strncmp(url, "ws://", 5) != 0) usage();
    const char *h = url + 5, *slash = strchr(h, '/'), *colon = memchr(h, ':', slash ? (size_t)(slash - h) : strlen(h));
    size_t hl = colon ? (size_t)(colon - h) : slash ? (size_t)(slash - h) : strlen(h);
    if (hl == 0 || hl >= sizeof host) usage();
    memcpy(host, h, hl); host[hl] = 0;
    if (colon) {
        size_t pl = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
        if (pl == 0 || pl >= sizeof port_s) usage();
        memcpy(port_s, colon + 1, pl); port_s[pl] = 0;
    }
    snprintf(path, sizeof path, "%s", slash ? slash : "/");

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int gai = getaddrinfo(host, port_s, &hints, &res);
    if (gai) { fprintf(stderr, "ws-load: %s: %s\n", host, gai_strerror(gai)); return 2; }
    memcpy(&addr, res->ai_addr, res->ai_addrlen); addr_len = res->ai_addrlen;
    freeaddrinfo(res);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n_conns + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)n_conns + 64) fprintf(stderr, "ws-load: descriptor limit %lu is below -c %d\n",
                                                         (unsigned long)rl.rlim_cur, n_conns);
    }
    rng_state ^= now_ns() ^ ((uint64_t)getpid() << 32);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    hist = calloc(HIST_US, sizeof *hist);
    conns = calloc((size_t)n_conns, sizeof *conns);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");

    /* Connect at most 256 at a time, so 10,000 do not overflow the server's accept backlog. */
    const int max_pending = 256;
    while (next_to_start < n_conns && pending < max_pending) start_connect(next_to_start++);

    struct epoll_event events[512];
    uint64_t t_start = now_ns(), t_all_open = 0;
    int announced = 0;
    while (!stop_flag) {
        int timeout = 100;
        int n = epoll_wait(ep, events, 512, timeout);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int e = 0; e < n; e++) {
            conn_t *c = &conns[events[e].data.u32];
            if (c->state == CLOSED) continue;
            if (c->state == CONNECTING) {
                int err = 0; socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) { conn_close(c, 0, strerror(err)); continue; }
                if (!(events[e].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
                send_handshake(c);
                continue;
            }
            if (events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
            if (c->state != CLOSED && (events[e].events & EPOLLOUT)) flush_out(c);
        }
        while (next_to_start < n_conns && pending < max_pending) start_connect(next_to_start++);
        uint64_t t = now_ns();
        if (!t_all_open && next_to_start == n_conns && pending == 0) {
            t_all_open = t;
            if (opened == 0) break;
            if (idle_mode) {
                printf("open %d of %d (%d failed) in %.2f s\n", opened, n_conns, failed, (t - t_start) / 1e9);
                fflush(stdout);
                announced = 1;
            }
        }
        if (!t_all_open && t - t_start > 60000000000ull) { fprintf(stderr, "ws-load: handshakes took over 60 s\n"); break; }
        if (t_all_open && !idle_mode) {
            if (!measuring && !measure_end && t - t_all_open >= (uint64_t)(warmup * 1e9)) { measuring = 1; measure_start = t; }
            if (measuring && t - measure_start >= (uint64_t)(duration * 1e9)) { measuring = 0; measure_end = t; break; }
        }
        if (t_all_open && idle_mode && duration > 0 && t - t_all_open >= (uint64_t)(duration * 1e9)) break;
    }
    if (measuring) { measuring = 0; measure_end = now_ns(); }

    int still_open = 0;
    for (int i = 0; i < next_to_start; i++) still_open += conns[i].state == OPEN;
    if (idle_mode) {
        if (!announced) printf("open %d of %d (%d failed)\n", opened, n_conns, failed);
        printf("still open %d of %d; closed by the server %d; unexpected frames %llu\n", still_open, n_conns,
               closed_by_peer, (unsigned long long)bad_echo);
    } else {
        double secs = measure_end > measure_start ? (measure_end - measure_start) / 1e9 : 0;
        printf("connections %d window %d payload %d mode %s seconds %.2f messages %llu messages/s %.0f "
               "p50_us %.0f p99_us %.0f total %llu failed %d closed %d bad %llu\n",
               n_conns, window, payload, text_mode ? "text" : "binary", secs, (unsigned long long)counted,
               secs > 0 ? counted / secs : 0, quantile(0.50), quantile(0.99), (unsigned long long)echoed, failed, closed_by_peer,
               (unsigned long long)bad_echo);
    }
    fflush(stdout);
    return (failed || closed_by_peer || bad_echo || opened != n_conns) ? 1 : 0;
}
