/* The public-key API: two devices exchanging signed messages, device keys
 * added and removed, persistence, and the error paths. Run under
 * AddressSanitizer. (Commands in public-key mode need C2's X25519 secret:
 * tests/api.rs covers them from Rust.) */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include "e4/e4.h"
#include "check.h"

static uint8_t SK_A[64], PK_A[32], SK_B[64], PK_B[32], C2[32];

static void hex(uint8_t *out, const char *h)
{
    CHECK(e4c_hex_decode((char *)out, strlen(h) / 2, h, strlen(h)) == (int)strlen(h));
}

static void keys(void)
{
    /* RFC 8032 test keys 1 and 2 (seed then public key), RFC 7748's Alice */
    hex(SK_A, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    hex(PK_A, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    hex(SK_B, "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
    hex(PK_B, "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
    memcpy(SK_A + 32, PK_A, 32);
    memcpy(SK_B + 32, PK_B, 32);
    hex(C2, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
}

static void device(e4storage_pubkey *s, const char *name, const uint8_t *sk, uint8_t id[16])
{
    uint8_t hash[E4_TOPICHASH_LEN], tk[E4_KEY_LEN];
    memset(tk, 0x11, sizeof tk);
    CHECK_RC(e4c_pubkey_init(s), E4_RESULT_OK);
    CHECK_RC(e4c_derive_clientid(id, E4_ID_LEN, name, strlen(name)), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_set_id(s, id), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_c2sharedsecret_derivestore(s), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_pubkey_set_idseckey(s, sk), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_set_idpubkey(s, sk + 32), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_set_c2_pubkey(s, C2), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_c2sharedsecret_derivestore(s), E4_RESULT_OK);
    CHECK_RC(e4c_derive_topichash(hash, sizeof hash, "meters/1"), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_set_topic_key(s, hash, tk), E4_RESULT_OK);
}

int main(void)
{
    static e4storage_pubkey a, b, c;
    uint8_t ida[16], idb[16], ct[256], pt[256], pk[32];
    size_t clen, plen;
    const char *msg = "1234 kWh";
    char path[] = "/tmp/e4ffi-pk-XXXXXX";
    int fd;

    keys();
    device(&a, "meter-a", SK_A, ida);
    device(&b, "meter-b", SK_B, idb);
    CHECK_RC(e4c_pubkey_get_idpubkey(&a, pk), E4_RESULT_OK);
    CHECK(memcmp(pk, PK_A, 32) == 0);
    CHECK_RC(e4c_pubkey_set_idpubkey(&a, PK_B), E4_ERROR_PARAMETER_INVALID);

    CHECK_RC(e4c_pubkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)msg, strlen(msg),
                                        "meters/1", &a, 0), E4_RESULT_OK);
    CHECK(clen == strlen(msg) + E4_PK_TOPICMSGHDR_LEN + E4_PK_EDDSA_SIG_LEN);
    CHECK(memcmp(ct + E4_TIMESTAMP_LEN, ida, E4_ID_LEN) == 0);
    /* b does not know a's key yet */
    CHECK_RC(e4c_pubkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "meters/1", &b, 0),
             E4_ERROR_DEVICEPK_MISSING);
    CHECK_RC(e4c_pubkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "meters/1", &b,
                                          E4_OPTION_IGNORE_MISSING_PUBKEY),
             E4_ERROR_DEVICEPK_MISSING);
    CHECK_RC(e4c_pubkey_set_device_key(&b, ida, PK_A), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "meters/1", &b, 0),
             E4_RESULT_OK);
    CHECK(plen == strlen(msg) && memcmp(pt, msg, plen) == 0);
    CHECK_RC(e4c_pubkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "meters/1", &b, 0),
             E4_ERROR_MESSAGE_REPLAYED);
    /* a wrong key for a: the signature fails */
    CHECK_RC(e4c_pubkey_set_device_key(&b, ida, PK_B), E4_RESULT_OK);
    msg = "1235 kWh";
    CHECK_RC(e4c_pubkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)msg, strlen(msg),
                                        "meters/1", &a, 0), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "meters/1", &b, 0),
             E4_ERROR_PK_SIGVERIF_FAILED);
    CHECK_RC(e4c_pubkey_set_device_key(&b, ida, PK_A), E4_RESULT_OK);
    /* tampering anywhere */
    for (size_t i = 0; i < clen; i++) {
        ct[i] ^= 1;
        int rc = e4c_pubkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "meters/1", &b, 0);
        CHECK(rc != E4_RESULT_OK);
        ct[i] ^= 1;
    }
    /* short buffers (a failed protect sets *ciphertext_len to 0) */
    size_t good = clen;
    CHECK_RC(e4c_pubkey_unprotect_message(pt, strlen(msg) - 1, &plen, ct, clen, "meters/1", &b, 0),
             E4_ERROR_CIPHERTEXT_TOO_SHORT);
    CHECK_RC(e4c_pubkey_protect_message(ct, strlen(msg) + 103, &clen, (const uint8_t *)msg,
                                        strlen(msg), "meters/1", &a, 0),
             E4_ERROR_CIPHERTEXT_TOO_SHORT);
    CHECK(clen == 0);
    clen = good;
    for (size_t n = 0; n < 104; n++) {
        uint8_t *m = malloc(n ? n : 1);
        memcpy(m, ct, n);
        CHECK_RC(e4c_pubkey_unprotect_message(pt, sizeof pt, &plen, m, n, "meters/1", &b, 0),
                 E4_ERROR_CIPHERTEXT_TOO_SHORT);
        free(m);
    }
    CHECK_RC(e4c_pubkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "meters/1", &b, 0),
             E4_RESULT_OK);

    /* persistence */
    fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_RC(e4c_pubkey_configure_storage(&b, path), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_sync(&b), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_init(&c), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_load(&c, path), E4_RESULT_OK);
    msg = "1236 kWh";
    CHECK_RC(e4c_pubkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)msg, strlen(msg),
                                        "meters/1", &a, 0), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "meters/1", &c, 0),
             E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_remove_device(&c, ida), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_remove_device(&c, ida), E4_ERROR_DEVICEPK_MISSING);
    CHECK_RC(e4c_pubkey_load(&b, NULL), E4_RESULT_OK); /* c saved the removal */
    msg = "1237 kWh";
    CHECK_RC(e4c_pubkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)msg, strlen(msg),
                                        "meters/1", &a, 0), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "meters/1", &b, 0),
             E4_ERROR_DEVICEPK_MISSING);
    {
        static e4storage_symkey sym;
        CHECK_RC(e4c_symkey_init(&sym), E4_RESULT_OK);
        CHECK_RC(e4c_symkey_load(&sym, path), E4_ERROR_PERSISTENCE_INCOMPATIBLE);
        CHECK_RC(e4c_symkey_destroy(&sym), E4_RESULT_OK);
        /* a pubkey storage is not a symkey storage */
        CHECK_RC(e4c_symkey_sync(&a), E4_ERROR_PARAMETER_INVALID);
    }
    unlink(path);
    CHECK_RC(e4c_pubkey_reset_devices(&c), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_reset_topics(&c), E4_RESULT_OK);

    /* null pointers */
    CHECK_RC(e4c_pubkey_set_idseckey(&a, NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_pubkey_set_c2_pubkey(NULL, C2), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_pubkey_set_device_key(&a, NULL, PK_A), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_pubkey_set_device_key(&a, ida, NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_pubkey_remove_device(&a, NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_pubkey_protect_message(ct, sizeof ct, &clen, NULL, 3, "meters/1", &a, 0),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_pubkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "meters/1", NULL, 0),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_pubkey_unprotect_message(pt, sizeof pt, NULL, ct, clen, "meters/1", &b, 0),
             E4_ERROR_PARAMETER_INVALID);

    CHECK_RC(e4c_pubkey_destroy(&a), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_destroy(&b), E4_RESULT_OK);
    CHECK_RC(e4c_pubkey_destroy(&c), E4_RESULT_OK);
    return checks_summary("test_pubkey");
}
