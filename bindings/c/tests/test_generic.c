/* The suite-generic API: for every suite, two clients with fresh keys
 * exchange a message; key export and re-import; errors; the negotiation
 * callback and the Announce (the whole exchange with C2 is in
 * tests/api.rs). Run under AddressSanitizer (a leaked handle fails the
 * run). */
#include <stdint.h>
#include "e4/e4.h"
#include "check.h"

static void suite_round_trip(uint8_t suite, size_t c2_len)
{
    e4c_client *a = NULL, *b = NULL, *a2 = NULL;
    uint8_t ida[E4_ID_LEN], idb[E4_ID_LEN], tk[E4_KEY_LEN];
    uint8_t *c2 = malloc(c2_len ? c2_len : 1), *pk = malloc(8192), *secret = malloc(16384);
    uint8_t ct[8192], pt[64];
    size_t clen, plen, pklen = 0, slen = 0;
    const char *msg = "post-quantum hello";

    memset(c2, 0x33, c2_len ? c2_len : 1);
    memset(tk, 0x44, sizeof tk);
    CHECK_RC(e4c_derive_clientid(ida, E4_ID_LEN, "a", 1), E4_RESULT_OK);
    CHECK_RC(e4c_derive_clientid(idb, E4_ID_LEN, "b", 1), E4_RESULT_OK);
    CHECK_RC(e4c_client_generate(suite, ida, c2, c2_len, &a), E4_RESULT_OK);
    CHECK_RC(e4c_client_generate(suite, idb, c2, c2_len, &b), E4_RESULT_OK);
    if (a == NULL || b == NULL) goto out;
    CHECK(e4c_client_suite(a) == suite);
    CHECK_RC(e4c_client_set_topic_key(a, "t", tk), E4_RESULT_OK);
    CHECK_RC(e4c_client_set_topic_key(b, "t", tk), E4_RESULT_OK);
    if (suite != E4C_SUITE_SYMMETRIC) {
        CHECK_RC(e4c_client_public_key(a, pk, 1, &pklen), E4_ERROR_CIPHERTEXT_TOO_SHORT);
        CHECK_RC(e4c_client_public_key(a, pk, 8192, &pklen), E4_RESULT_OK);
        CHECK_RC(e4c_client_set_pubkey(b, ida, pk, pklen), E4_RESULT_OK);
    } else {
        CHECK_RC(e4c_client_public_key(a, pk, 8192, &pklen), E4_ERROR_UNSUPPORTED_OPERATION);
    }
    CHECK_RC(e4c_client_protect(a, ct, sizeof ct, &clen, (const uint8_t *)msg, strlen(msg), "t"),
             E4_RESULT_OK);
    CHECK(clen == strlen(msg) + e4c_client_overhead(a));
    CHECK_RC(e4c_client_unprotect(b, pt, sizeof pt, &plen, ct, clen, "t"), E4_RESULT_OK);
    CHECK(plen == strlen(msg) && memcmp(pt, msg, plen) == 0);
    CHECK_RC(e4c_client_unprotect(b, pt, sizeof pt, &plen, ct, clen, "t"), E4_ERROR_MESSAGE_REPLAYED);
    ct[clen - 1] ^= 1;
    CHECK(e4c_client_unprotect(b, pt, sizeof pt, &plen, ct, clen, "t") != E4_RESULT_OK);
    CHECK_RC(e4c_client_unprotect(b, pt, 2, &plen, ct, clen, "t"), E4_ERROR_CIPHERTEXT_TOO_SHORT);
    CHECK_RC(e4c_client_protect(a, ct, strlen(msg), &clen, (const uint8_t *)msg, strlen(msg), "t"),
             E4_ERROR_CIPHERTEXT_TOO_SHORT);
    /* the same client again from its exported keys */
    CHECK_RC(e4c_client_export_secret(a, secret, 16384, &slen), E4_RESULT_OK);
    CHECK_RC(e4c_client_new(suite, ida, secret, slen, c2, c2_len, &a2), E4_RESULT_OK);
    e4c_client_free(a2);
    CHECK_RC(e4c_client_new(suite, ida, secret, slen - 1, c2, c2_len, &a2), E4_ERROR_PARAMETER_INVALID);
    CHECK(a2 == NULL);
    CHECK_RC(e4c_client_new(suite, ida, secret, slen, c2, c2_len, &a2), E4_RESULT_OK);
    if (a2) {
        CHECK_RC(e4c_client_set_topic_key(a2, "t", tk), E4_RESULT_OK);
        msg = "again";
        CHECK_RC(e4c_client_protect(a2, ct, sizeof ct, &clen, (const uint8_t *)msg, strlen(msg), "t"),
                 E4_RESULT_OK);
        CHECK_RC(e4c_client_unprotect(b, pt, sizeof pt, &plen, ct, clen, "t"), E4_RESULT_OK);
    }
    /* a command on b's control topic that does not authenticate */
    {
        char ctrl[E4_CTRLTOPIC_LEN + 1];
        CHECK_RC(e4c_derive_control_topic(ctrl, sizeof ctrl, idb), E4_RESULT_OK);
        CHECK(e4c_client_unprotect(b, pt, sizeof pt, &plen, ct, clen, ctrl) < E4_RESULT_OK_CONTROL);
    }
out:
    memset(secret, 0, 16384);
    e4c_client_free(a);
    e4c_client_free(a2);
    e4c_client_free(b);
    free(c2);
    free(pk);
    free(secret);
}

/* What the negotiation callback received. */
struct events {
    int count, event;
    uint8_t suite;
    char topic[64];
    uint8_t *msg;
    size_t len;
};

static void on_event(void *user, int event, uint8_t suite, const char *topic,
                     const uint8_t *message, size_t message_len)
{
    struct events *e = user;
    e->count++;
    e->event = event;
    e->suite = suite;
    snprintf(e->topic, sizeof e->topic, "%s", topic);
    free(e->msg);
    e->msg = malloc(message_len ? message_len : 1);
    if (message_len)
        memcpy(e->msg, message, message_len);
    e->len = message_len;
}

static void negotiation(void)
{
    e4c_client *c = NULL;
    struct events ev = {0};
    uint8_t id[E4_ID_LEN], key[E4_KEY_LEN], pt[64], junk[96];
    uint8_t caps[] = {E4C_SUITE_SYMMETRIC, E4C_SUITE_PQ, E4C_SUITE_HYBRID}, bad = 0x77;
    char expected_topic[64], ctrl[E4_CTRLTOPIC_LEN + 1];
    uint8_t *first = NULL;
    size_t first_len = 0, plen;

    /* a fixed clock: the Announce is repeated within the same second */
    e4c_set_time(1800000000);
    memset(key, 0x42, sizeof key);
    memset(junk, 0x5a, sizeof junk);
    CHECK_RC(e4c_derive_clientid(id, E4_ID_LEN, "gateway", 7), E4_RESULT_OK);
    CHECK_RC(e4c_client_new(E4C_SUITE_SYMMETRIC, id, key, sizeof key, NULL, 0, &c), E4_RESULT_OK);
    if (c == NULL) {
        e4c_set_time(0);
        return;
    }
    strcpy(expected_topic, "e4c2/announce/");
    for (int i = 0; i < E4_ID_LEN; i++)
        sprintf(expected_topic + 14 + 2 * i, "%02x", id[i]);

    /* no callback, no capabilities: nothing to announce */
    CHECK_RC(e4c_client_announce(c), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_client_set_negotiation_callback(c, on_event, &ev), E4_RESULT_OK);
    CHECK_RC(e4c_client_announce(c), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_client_set_capabilities(c, &bad, 1), E4_ERROR_UNSUPPORTED_SUITE);
    CHECK_RC(e4c_client_set_capabilities(c, NULL, 3), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_client_set_capabilities(c, caps, 3), E4_RESULT_OK);
    CHECK(e4c_client_negotiation_status(c) == E4C_NEGOTIATION_IDLE);
    CHECK_RC(e4c_client_confirm_retry(c), E4_ERROR_INVALID_COMMAND);
    CHECK(ev.count == 0);

    /* the Announce: ts(8) | 0x01 | id(16) | current suite | 2 offers ... */
    CHECK_RC(e4c_client_announce(c), E4_RESULT_OK);
    CHECK(ev.count == 1 && ev.event == E4C_NEGOTIATION_ANNOUNCE);
    CHECK(ev.suite == E4C_SUITE_SYMMETRIC);
    CHECK(strcmp(ev.topic, expected_topic) == 0);
    CHECK(ev.len > 27 + 2 * (1 + 2 + 1952 + 2 + 1184));
    if (ev.len > 27) {
        CHECK(ev.msg[8] == 0x01);
        CHECK(memcmp(ev.msg + 9, id, E4_ID_LEN) == 0);
        CHECK(ev.msg[25] == E4C_SUITE_SYMMETRIC);
        CHECK(ev.msg[26] == 2);
    }
    CHECK(e4c_client_negotiation_status(c) == E4C_NEGOTIATION_ANNOUNCED);
    first = ev.msg;
    first_len = ev.len;
    ev.msg = NULL;
    /* again within the same second (C2 takes only newer ones): the same */
    CHECK_RC(e4c_client_announce(c), E4_RESULT_OK);
    CHECK(ev.count == 2 && ev.len == first_len && memcmp(ev.msg, first, first_len) == 0);

    /* a control message that does not authenticate changes nothing */
    CHECK_RC(e4c_derive_control_topic(ctrl, sizeof ctrl, id), E4_RESULT_OK);
    CHECK(e4c_client_unprotect(c, pt, sizeof pt, &plen, junk, sizeof junk, ctrl) <
          E4_RESULT_OK_CONTROL);
    CHECK(ev.count == 2 && e4c_client_negotiation_status(c) == E4C_NEGOTIATION_ANNOUNCED);

    /* new capabilities drop the unanswered Announce */
    CHECK_RC(e4c_client_set_capabilities(c, caps, 1), E4_RESULT_OK);
    CHECK(e4c_client_negotiation_status(c) == E4C_NEGOTIATION_IDLE);
    /* only symmetric, the current suite: an Announce offering nothing */
    CHECK_RC(e4c_client_announce(c), E4_RESULT_OK);
    CHECK(ev.count == 3 && ev.len > 27 && ev.msg[26] == 0);

    CHECK_RC(e4c_client_set_negotiation_callback(NULL, on_event, &ev), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_client_announce(NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK(e4c_client_negotiation_status(NULL) == E4_ERROR_PARAMETER_INVALID);
    e4c_client_free(c);
    free(first);
    free(ev.msg);
    e4c_set_time(0);
}

int main(void)
{
    e4c_client *c = (e4c_client *)1;
    uint8_t id[E4_ID_LEN] = {0}, key[E4_KEY_LEN];
    size_t n;

    suite_round_trip(E4C_SUITE_SYMMETRIC, 0);
    suite_round_trip(E4C_SUITE_PUBKEY, 32);
    suite_round_trip(E4C_SUITE_PQ, 1952);     /* C2's ML-DSA-65 public key */
    suite_round_trip(E4C_SUITE_HYBRID, 1984); /* Ed25519 + ML-DSA-65 */
    negotiation();

    memset(key, 1, sizeof key);
    CHECK_RC(e4c_client_new(0x77, id, key, sizeof key, NULL, 0, &c), E4_ERROR_UNSUPPORTED_SUITE);
    CHECK(c == NULL);
    CHECK_RC(e4c_client_new(E4C_SUITE_SYMMETRIC, NULL, key, sizeof key, NULL, 0, &c),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_client_new(E4C_SUITE_SYMMETRIC, id, key, sizeof key, NULL, 0, NULL),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_client_new(E4C_SUITE_PUBKEY, id, key, sizeof key, NULL, 0, &c),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_client_protect(NULL, key, 64, &n, key, 1, "t"), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_client_unprotect(NULL, key, 64, &n, key, 1, "t"), E4_ERROR_PARAMETER_INVALID);
    CHECK(e4c_client_suite(NULL) == E4_ERROR_PARAMETER_INVALID);
    CHECK(e4c_client_overhead(NULL) == 0);
    e4c_client_free(NULL);
    return checks_summary("test_generic");
}
