/* The suite-generic API: for every suite, two clients with fresh keys
 * exchange a message; key export and re-import; errors. Run under
 * AddressSanitizer (a leaked handle fails the run). */
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

int main(void)
{
    e4c_client *c = (e4c_client *)1;
    uint8_t id[E4_ID_LEN] = {0}, key[E4_KEY_LEN];
    size_t n;

    suite_round_trip(E4C_SUITE_SYMMETRIC, 0);
    suite_round_trip(E4C_SUITE_PUBKEY, 32);
    suite_round_trip(E4C_SUITE_PQ, 1952);     /* C2's ML-DSA-65 public key */
    suite_round_trip(E4C_SUITE_HYBRID, 1984); /* Ed25519 + ML-DSA-65 */

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
