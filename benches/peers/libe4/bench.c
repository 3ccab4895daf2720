/*
 * The libe4 side of the e4go / libe4 / e4-rs comparison (benches/peers, see
 * its README). run.sh builds libe4 with its own Makefile (once with
 * CONF=symkey, once with CONF=pubkey, STORE=mem, -O2) from a checkout given
 * on the command line, and compiles this file against each build: the mode
 * comes from the build's e4config/e4_config.h. Nothing of libe4 is in the
 * e4-rs repository.
 *
 * Only libe4's public API is used: the memory store's setters (e4.h /
 * storage.h), e4c_protect_message and e4c_unprotect_message (the topic
 * given as a string: libe4 hashes it on every call), and, for the pubkey
 * build, sha512 from e4/crypto/sha512.h to expand the Ed25519 seed into the
 * 64-byte secret libe4 stores.
 *
 * Output: one line per (operation, payload size),
 *   RESULT <tab> libe4 <tab> op <tab> size <tab> ops/s <tab> calls <tab> seconds
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "e4/e4.h"
#include "e4/util.h"
#ifdef E4_MODE_PUBKEY
#include "e4/crypto/sha512.h"
#define MODE "pk"
typedef e4storage_pubkey store_t;
#else
#define MODE "sym"
typedef e4storage_symkey store_t;
#endif

static const char TOPIC[] = "sensors/temperature";
static volatile size_t sink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "libe4 harness: %s failed (%d)\n", what, rc);
    exit(1);
}

/* e4-rs's test payload: byte i is i*7+3. */
static void payload(uint8_t *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) b[i] = (uint8_t)(i * 7 + 3);
}

static store_t store;
static uint8_t *pt, *ct, *out;
static size_t n, ctlen;
static const size_t CTMAX = 16384 + 256;

/* e4c_protect_message; returns the message's length. libe4's pubkey protect
 * (v1.0.0 and later, up to at least 07ec561) writes the whole message, then
 * returns E4_ERROR_INTERNAL with *clen = n + 40: its final length check
 * forgets the 64-byte signature (docs/compat.md of e4-rs). That one answer is
 * taken as success with the true length; the self-check in main shows the
 * message is complete (it unprotects). */
static size_t protect_once(void)
{
    size_t len = 0;
    int rc = e4c_protect_message(ct, CTMAX, &len, pt, n, TOPIC, &store, 0);
#ifdef E4_MODE_PUBKEY
    if (rc == E4_ERROR_INTERNAL && len == n + E4_PK_TOPICMSGHDR_LEN) {
        rc = E4_RESULT_OK;
        len += E4_PK_EDDSA_SIG_LEN;
    }
#endif
    if (rc != E4_RESULT_OK) die("e4c_protect_message", rc);
    return len;
}

static void protect(void)
{
    sink += protect_once();
}

static void unprotect(void)
{
    size_t len = 0;
    int rc = e4c_unprotect_message(out, CTMAX, &len, ct, ctlen, TOPIC, &store, 0);
    if (rc != E4_RESULT_OK) die("e4c_unprotect_message", rc);
    sink += len;
}

/* Run f for secs seconds after a calibration and a warm-up; the same
 * procedure as in the Go and Rust harnesses: batches doubled until one takes
 * at least 1 ms, a warm-up of secs/5, then whole batches until secs have
 * elapsed. */
static void measure(const char *op, double secs, void (*f)(void))
{
    unsigned long batch = 1, i, calls = 0;
    double t, el;
    for (;;) {
        t = now();
        for (i = 0; i < batch; i++) f();
        if (now() - t >= 1e-3) break;
        batch *= 2;
    }
    t = now();
    while (now() - t < secs / 5) {
        for (i = 0; i < batch; i++) f();
    }
    t = now();
    for (;;) {
        for (i = 0; i < batch; i++) f();
        calls += batch;
        el = now() - t;
        if (el >= secs) break;
    }
    printf("RESULT\tlibe4\t%s-%s\t%zu\t%.1f\t%lu\t%.4f\n", MODE, op, n, (double)calls / el, calls, el);
    fflush(stdout);
}

/* Whether the comma-separated list ops names MODE-op. */
static int want(const char *ops, const char *op)
{
    char name[64];
    size_t len;
    const char *p = ops;
    snprintf(name, sizeof name, "%s-%s", MODE, op);
    len = strlen(name);
    while ((p = strstr(p, name)) != NULL) {
        if ((p == ops || p[-1] == ',') && (p[len] == ',' || p[len] == 0)) return 1;
        p += len;
    }
    return 0;
}

static void setup(void)
{
    uint8_t id[E4_ID_LEN], topichash[E4_TOPICHASH_LEN], topickey[E4_KEY_LEN];
    int i, rc;
    for (i = 0; i < E4_KEY_LEN; i++) topickey[i] = (uint8_t)(0x40 + i);
    if ((rc = e4c_derive_clientid(id, sizeof id, "tx", 2)) != 0) die("e4c_derive_clientid", rc);
    if ((rc = e4c_derive_topichash(topichash, sizeof topichash, TOPIC)) != 0) die("e4c_derive_topichash", rc);
#ifdef E4_MODE_PUBKEY
    {
        /* RFC 8032, test 1: the seed and its public key. libe4 stores
         * the expanded secret clamp(SHA-512(seed)). The store sends to
         * itself: its own public key is registered as the sender's. */
        static const uint8_t seed[32] = {
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
            0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
        static const uint8_t pub[32] = {
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
            0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};
        uint8_t sk[64];
        sha512(seed, sizeof seed, sk);
        sk[0] &= 248;
        sk[31] &= 63;
        sk[31] |= 64;
        if ((rc = e4c_pubkey_init(&store)) != 0) die("e4c_pubkey_init", rc);
        if ((rc = e4c_pubkey_set_id(&store, id)) != 0) die("e4c_pubkey_set_id", rc);
        if ((rc = e4c_pubkey_set_idseckey(&store, sk)) != 0) die("e4c_pubkey_set_idseckey", rc);
        if ((rc = e4c_pubkey_set_idpubkey(&store, pub)) != 0) die("e4c_pubkey_set_idpubkey", rc);
        if ((rc = e4c_pubkey_set_device_key(&store, id, pub)) != 0) die("e4c_pubkey_set_device_key", rc);
        if ((rc = e4c_pubkey_set_topic_key(&store, topichash, topickey)) != 0) die("e4c_pubkey_set_topic_key", rc);
    }
#else
    {
        uint8_t idkey[E4_KEY_LEN];
        for (i = 0; i < E4_KEY_LEN; i++) idkey[i] = (uint8_t)(0x10 + i);
        if ((rc = e4c_symkey_init(&store)) != 0) die("e4c_symkey_init", rc);
        if ((rc = e4c_symkey_set_id(&store, id)) != 0) die("e4c_symkey_set_id", rc);
        if ((rc = e4c_symkey_set_idkey(&store, idkey)) != 0) die("e4c_symkey_set_idkey", rc);
        if ((rc = e4c_symkey_set_topic_key(&store, topichash, topickey)) != 0) die("e4c_symkey_set_topic_key", rc);
    }
#endif
}

int main(int argc, char **argv)
{
    double secs = 0.5;
    char sizes[256] = "16,64,1024,16384", ops[256] = "sym-protect,sym-unprotect,pk-protect,pk-unprotect";
    char *tok;
    int i;
    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--secs") == 0) secs = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--sizes") == 0) snprintf(sizes, sizeof sizes, "%s", argv[i + 1]);
        else if (strcmp(argv[i], "--ops") == 0) snprintf(ops, sizeof ops, "%s", argv[i + 1]);
        else break;
    }
    if (i != argc) {
        fprintf(stderr, "usage: %s [--secs S] [--sizes N,N,..] [--ops sym-protect,pk-unprotect,..]\n", argv[0]);
        return 2;
    }
    printf("# libe4 mode=%s secs=%g\n", MODE, secs);
    setup();
    pt = malloc(CTMAX);
    ct = malloc(CTMAX);
    out = malloc(CTMAX);
    if (!pt || !ct || !out) die("malloc", 0);
    for (tok = strtok(sizes, ","); tok; tok = strtok(NULL, ",")) {
        n = (size_t)strtoul(tok, NULL, 10);
        if (n + 128 > CTMAX) die("payload size", (int)n);
        payload(pt, n);
        /* Self-check: a round trip before anything is timed (a fresh message,
         * whose timestamp is now: libe4 checks it). */
        {
            size_t len = 0;
            int rc;
            ctlen = protect_once();
            memset(out, 0, CTMAX);
            rc = e4c_unprotect_message(out, CTMAX, &len, ct, ctlen, TOPIC, &store, 0);
            if (rc != E4_RESULT_OK) die("e4c_unprotect_message (self-check)", rc);
            if (len != n || memcmp(out, pt, n) != 0) die("round trip", (int)n);
        }
        if (want(ops, "protect")) measure("protect", secs, protect);
        if (want(ops, "unprotect")) {
            /* the message for unprotect: fresh, so its timestamp is valid */
            ctlen = protect_once();
            measure("unprotect", secs, unprotect);
        }
    }
    return 0;
}
