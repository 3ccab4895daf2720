/* The symmetric-key API as libe4 programs use it: storage on the stack and
 * on the heap, protect/unprotect round trips, commands on the control
 * topic, persistence, and every error path (null pointers, short buffers,
 * tampering, uninitialised storage). Run under AddressSanitizer. */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include "e4/e4.h"
#include "check.h"

static const uint8_t KEY[E4_KEY_LEN] = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t TOPICKEY[E4_KEY_LEN] = {
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa,
    0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5,
    0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf};

static void setup(e4storage_symkey *s, uint8_t id[E4_ID_LEN])
{
    const char *name = "device-1";
    uint8_t hash[E4_TOPICHASH_LEN];
    CHECK_RC(e4c_symkey_init(s), E4_RESULT_OK);
    CHECK_RC(e4c_derive_clientid(id, E4_ID_LEN, name, strlen(name)), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_set_id(s, id), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_set_idkey(s, KEY), E4_RESULT_OK);
    CHECK_RC(e4c_derive_topichash(hash, sizeof hash, "sensors/t"), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_set_topic_key(s, hash, TOPICKEY), E4_RESULT_OK);
}

/* A command for `s`'s control topic, sealed as C2 does in symmetric mode: a
 * symmetric message under the client key, made here by a second storage
 * that holds the client key as the key of a topic. */
static size_t seal_command(uint8_t *out, size_t max, const uint8_t *cmd, size_t len)
{
    static e4storage_symkey c2;
    uint8_t hash[E4_TOPICHASH_LEN];
    size_t n = 0;
    CHECK_RC(e4c_symkey_init(&c2), E4_RESULT_OK);
    CHECK_RC(e4c_derive_topichash(hash, sizeof hash, "c2"), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_set_topic_key(&c2, hash, KEY), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_protect_message(out, max, &n, cmd, len, "c2", &c2, 0), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_destroy(&c2), E4_RESULT_OK);
    return n;
}

static void round_trip(void)
{
    e4storage_symkey s; /* on the stack, as libe4's examples */
    uint8_t id[E4_ID_LEN];
    const char *msg = "21.5 degrees";
    uint8_t ct[64], pt[64];
    size_t clen = 0, plen = 0;

    setup(&s, id);
    CHECK_RC(e4c_symkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)msg,
                                        strlen(msg), "sensors/t", &s, 0), E4_RESULT_OK);
    CHECK(clen == strlen(msg) + E4_MSGHDR_LEN);
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "sensors/t", &s, 0),
             E4_RESULT_OK);
    CHECK(plen == strlen(msg) && memcmp(pt, msg, plen) == 0);

    /* replay: the same bytes again */
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "sensors/t", &s, 0),
             E4_ERROR_MESSAGE_REPLAYED);
    /* wrong topic, unknown topic */
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "other", &s, 0),
             E4_ERROR_TOPICKEY_MISSING);
    CHECK_RC(e4c_symkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)msg,
                                        strlen(msg), "other", &s, 0), E4_ERROR_TOPICKEY_MISSING);
    /* tampering: every byte flipped in turn (another payload: the same one
     * in the same second gives the same bytes, a replay) */
    msg = "22.5 degrees";
    CHECK_RC(e4c_symkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)msg,
                                        strlen(msg), "sensors/t", &s, 0), E4_RESULT_OK);
    for (size_t i = E4_TIMESTAMP_LEN; i < clen; i++) {
        ct[i] ^= 0x40;
        CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "sensors/t", &s, 0),
                 E4_ERROR_INVALID_TAG);
        ct[i] ^= 0x40;
    }
    /* the plaintext buffer exactly the size of the payload, then one less */
    CHECK_RC(e4c_symkey_unprotect_message(pt, clen - E4_MSGHDR_LEN - 1, &plen, ct, clen,
                                          "sensors/t", &s, 0), E4_ERROR_CIPHERTEXT_TOO_SHORT);
    {
        uint8_t *exact = malloc(clen - E4_MSGHDR_LEN);
        CHECK_RC(e4c_symkey_unprotect_message(exact, clen - E4_MSGHDR_LEN, &plen, ct, clen,
                                              "sensors/t", &s, 0), E4_RESULT_OK);
        free(exact);
    }
    /* output buffer one byte short */
    CHECK_RC(e4c_symkey_protect_message(ct, strlen(msg) + E4_MSGHDR_LEN - 1, &clen,
                                        (const uint8_t *)msg, strlen(msg), "sensors/t", &s, 0),
             E4_ERROR_CIPHERTEXT_TOO_SHORT);
    /* truncated messages of every length */
    for (size_t n = 0; n < E4_MSGHDR_LEN + 1; n++) {
        uint8_t *m = malloc(n ? n : 1);
        memcpy(m, ct, n);
        int rc = e4c_symkey_unprotect_message(pt, sizeof pt, &plen, m, n, "sensors/t", &s, 0);
        CHECK(rc == E4_ERROR_CIPHERTEXT_TOO_SHORT);
        free(m);
    }
    CHECK_RC(e4c_symkey_destroy(&s), E4_RESULT_OK);
    /* destroyed: refused */
    CHECK_RC(e4c_symkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)msg,
                                        strlen(msg), "sensors/t", &s, 0), E4_ERROR_PARAMETER_INVALID);
}

static void timestamps(void)
{
    e4storage_symkey *s = malloc(sizeof *s); /* on the heap */
    uint8_t id[E4_ID_LEN], ct[64], pt[64];
    size_t clen, plen;
    setup(s, id);
    e4c_set_time(1700000000);
    CHECK_RC(e4c_symkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)"x", 1,
                                        "sensors/t", s, 0), E4_RESULT_OK);
    e4c_set_time(1700000000 + 600);
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "sensors/t", s, 0),
             E4_ERROR_TIMESTAMP_TOO_OLD);
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "sensors/t", s,
                                          E4_OPTION_IGNORE_TIMESTAMP), E4_RESULT_OK);
    e4c_set_time(1700000000 - 1);
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "sensors/t", s, 0),
             E4_ERROR_TIMESTAMP_IN_FUTURE);
    e4c_set_time(0);
    CHECK(e4c_get_time() > 1700000000);
    CHECK_RC(e4c_symkey_destroy(s), E4_RESULT_OK);
    free(s);
}

static void commands(void)
{
    static e4storage_symkey s;
    uint8_t id[E4_ID_LEN], ct[128], pt[128], cmd[1 + E4_KEY_LEN + E4_TOPICHASH_LEN];
    char ctrl[E4_CTRLTOPIC_LEN + 1];
    size_t clen, plen = 99;
    uint8_t newkey[E4_KEY_LEN];

    setup(&s, id);
    CHECK_RC(e4c_derive_control_topic(ctrl, sizeof ctrl, id), E4_RESULT_OK);
    CHECK(strlen(ctrl) == E4_CTRLTOPIC_LEN && strncmp(ctrl, "e4/", 3) == 0);

    /* SetTopicKey(key, hash("news")) */
    memset(newkey, 0x5a, sizeof newkey);
    cmd[0] = 0x03;
    memcpy(cmd + 1, newkey, E4_KEY_LEN);
    CHECK_RC(e4c_derive_topichash(cmd + 1 + E4_KEY_LEN, E4_TOPICHASH_LEN, "news"), E4_RESULT_OK);
    clen = seal_command(ct, sizeof ct, cmd, sizeof cmd);
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, ctrl, &s, 0),
             E4_RESULT_OK_CONTROL);
    CHECK(plen == 0);
    /* the same command again: a replay */
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, ctrl, &s, 0),
             E4_ERROR_MESSAGE_REPLAYED);
    /* "news" now has a key */
    CHECK_RC(e4c_symkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)"hi", 2, "news",
                                        &s, 0), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "news", &s, 0),
             E4_RESULT_OK);

    /* RemoveTopic shorter than a topic hash: refused (libe4 read past it) */
    cmd[0] = 0x00;
    clen = seal_command(ct, sizeof ct, cmd, 5);
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, ctrl, &s, 0),
             E4_ERROR_INVALID_COMMAND);
    /* RemoveTopic(hash("news")) */
    memmove(cmd + 1, cmd + 1 + E4_KEY_LEN, E4_TOPICHASH_LEN);
    clen = seal_command(ct, sizeof ct, cmd, 1 + E4_TOPICHASH_LEN);
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, ctrl, &s, 0),
             E4_RESULT_OK_CONTROL);
    CHECK_RC(e4c_symkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)"hi", 2, "news",
                                        &s, 0), E4_ERROR_TOPICKEY_MISSING);
    /* unknown opcode, empty command */
    cmd[0] = 0x42;
    clen = seal_command(ct, sizeof ct, cmd, 1);
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, ctrl, &s, 0),
             E4_ERROR_INVALID_COMMAND);
    /* a command sealed with another key */
    {
        uint8_t otherkey[E4_KEY_LEN];
        memset(otherkey, 7, sizeof otherkey);
        CHECK_RC(e4c_symkey_set_idkey(&s, otherkey), E4_RESULT_OK);
        cmd[0] = 0x01;
        clen = seal_command(ct, sizeof ct, cmd, 1);
        CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, ctrl, &s, 0),
                 E4_ERROR_INVALID_TAG);
        CHECK_RC(e4c_symkey_set_idkey(&s, KEY), E4_RESULT_OK);
        /* ResetTopics */
        CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, ctrl, &s, 0),
                 E4_RESULT_OK_CONTROL);
        CHECK_RC(e4c_symkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)"x", 1,
                                            "sensors/t", &s, 0), E4_ERROR_TOPICKEY_MISSING);
    }
    CHECK_RC(e4c_symkey_destroy(&s), E4_RESULT_OK);
}

static void persistence(void)
{
    static e4storage_symkey a, b;
    uint8_t id[E4_ID_LEN], id2[E4_ID_LEN], hash[E4_TOPICHASH_LEN], ct[64], pt[64];
    char path[] = "/tmp/e4ffi-test-XXXXXX";
    size_t clen, plen;
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);

    setup(&a, id);
    CHECK_RC(e4c_symkey_sync(&a), E4_ERROR_PERSISTENCE_ERROR); /* no file configured */
    CHECK_RC(e4c_symkey_configure_storage(&a, path), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_sync(&a), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)"saved", 5,
                                        "sensors/t", &a, 0), E4_RESULT_OK);

    CHECK_RC(e4c_symkey_init(&b), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_load(&b, path), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_get_id(&b, id2), E4_RESULT_OK);
    CHECK(memcmp(id, id2, E4_ID_LEN) == 0);
    CHECK_RC(e4c_symkey_unprotect_message(pt, sizeof pt, &plen, ct, clen, "sensors/t", &b, 0),
             E4_RESULT_OK);
    CHECK(plen == 5 && memcmp(pt, "saved", 5) == 0);

    /* remove_topic saves by itself (a file is configured) */
    CHECK_RC(e4c_derive_topichash(hash, sizeof hash, "sensors/t"), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_remove_topic(&b, hash), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_remove_topic(&b, hash), E4_ERROR_TOPICKEY_MISSING);
    CHECK_RC(e4c_symkey_load(&a, NULL), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_protect_message(ct, sizeof ct, &clen, (const uint8_t *)"x", 1,
                                        "sensors/t", &a, 0), E4_ERROR_TOPICKEY_MISSING);

    /* missing and foreign files */
    CHECK_RC(e4c_symkey_load(&b, "/nonexistent/e4"), E4_ERROR_PERSISTENCE_ERROR);
    {
        FILE *f = fopen(path, "wb");
        fputs("E42Pnot a symmetric state", f);
        fclose(f);
        CHECK_RC(e4c_symkey_load(&a, path), E4_ERROR_PERSISTENCE_INCOMPATIBLE);
        f = fopen(path, "wb");
        fputs("E41Ptruncated", f);
        fclose(f);
        CHECK_RC(e4c_symkey_load(&a, path), E4_ERROR_PERSISTENCE_ERROR);
    }
    /* a path longer than E4_MAX_PATH */
    {
        char longpath[E4_MAX_PATH + 10];
        memset(longpath, 'a', sizeof longpath - 1);
        longpath[sizeof longpath - 1] = 0;
        CHECK_RC(e4c_symkey_configure_storage(&a, longpath), E4_ERROR_PARAMETER_INVALID);
    }
    unlink(path);
    CHECK_RC(e4c_symkey_destroy(&a), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_destroy(&b), E4_RESULT_OK);
}

static void full_storage(void)
{
    static e4storage_symkey s;
    uint8_t id[E4_ID_LEN], hash[E4_TOPICHASH_LEN];
    char topic[32];
    int i;
    setup(&s, id); /* one topic already */
    for (i = 1; i < E4_TOPICS_MAX; i++) {
        snprintf(topic, sizeof topic, "t/%d", i);
        CHECK_RC(e4c_derive_topichash(hash, sizeof hash, topic), E4_RESULT_OK);
        CHECK_RC(e4c_symkey_set_topic_key(&s, hash, TOPICKEY), E4_RESULT_OK);
    }
    CHECK_RC(e4c_derive_topichash(hash, sizeof hash, "one too many"), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_set_topic_key(&s, hash, TOPICKEY), E4_ERROR_STORAGE_FULL);
    /* libe4 wrote past the table when removing from a full store */
    CHECK_RC(e4c_derive_topichash(hash, sizeof hash, "t/99"), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_remove_topic(&s, hash), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_reset_topics(&s), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_destroy(&s), E4_RESULT_OK);
}

static void invalid_arguments(void)
{
    static e4storage_symkey s, garbage;
    uint8_t id[E4_ID_LEN], buf[64];
    size_t n;
    char small[E4_CTRLTOPIC_LEN];

    setup(&s, id);
    /* null pointers everywhere */
    CHECK_RC(e4c_symkey_init(NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_set_id(NULL, id), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_set_id(&s, NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_set_idkey(&s, NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_set_topic_key(&s, NULL, KEY), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_set_topic_key(&s, id, NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_remove_topic(&s, NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_reset_topics(NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_configure_storage(&s, NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_load(NULL, "x"), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_sync(NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_protect_message(NULL, 64, &n, buf, 4, "sensors/t", &s, 0),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_protect_message(buf, 64, NULL, buf, 4, "sensors/t", &s, 0),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_protect_message(buf, 64, &n, NULL, 4, "sensors/t", &s, 0),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_protect_message(buf, 64, &n, buf, 4, NULL, &s, 0),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_protect_message(buf, 64, &n, buf, 4, "sensors/t", NULL, 0),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_unprotect_message(NULL, 64, &n, buf, 40, "sensors/t", &s, 0),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_unprotect_message(buf, 64, NULL, buf, 40, "sensors/t", &s, 0),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_unprotect_message(buf, 64, &n, NULL, 40, "sensors/t", &s, 0),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_unprotect_message(buf, 64, &n, buf, 40, NULL, &s, 0),
             E4_ERROR_PARAMETER_INVALID);
    /* lengths that overflow */
    CHECK_RC(e4c_symkey_protect_message(buf, 64, &n, buf, SIZE_MAX - 4, "sensors/t", &s, 0),
             E4_ERROR_PARAMETER_OVERFLOW);
    /* an all-zero client key */
    memset(buf, 0, sizeof buf);
    CHECK_RC(e4c_symkey_set_idkey(&s, buf), E4_ERROR_PARAMETER_INVALID);
    /* storage never initialised (static: zeros), misaligned storage */
    CHECK_RC(e4c_symkey_set_id(&garbage, id), E4_ERROR_PARAMETER_INVALID);
    memset(&garbage, 0xa5, sizeof garbage);
    CHECK_RC(e4c_symkey_protect_message(buf, 64, &n, buf, 4, "sensors/t", &garbage, 0),
             E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_symkey_set_id((uint8_t *)&s + 1, id), E4_ERROR_PARAMETER_INVALID);
    /* a client without key cannot unprotect */
    CHECK_RC(e4c_symkey_init(&garbage), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_unprotect_message(buf, 64, &n, buf, 40, "sensors/t", &garbage, 0),
             E4_ERROR_PARAMETER_INVALID);
    /* derive helpers */
    CHECK_RC(e4c_derive_clientid(id, E4_ID_LEN - 1, "a", 1), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_derive_clientid(NULL, E4_ID_LEN, "a", 1), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_derive_clientid(id, E4_ID_LEN, NULL, 1), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_derive_topichash(id, E4_TOPICHASH_LEN, NULL), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_derive_topichash(id, 8, "t"), E4_ERROR_PARAMETER_INVALID);
    CHECK_RC(e4c_derive_control_topic(small, sizeof small, id), E4_ERROR_CIPHERTEXT_TOO_SHORT);
    CHECK_RC(e4c_derive_control_topic(NULL, 64, id), E4_ERROR_PARAMETER_INVALID);
    CHECK(e4c_hex_decode((char *)buf, 2, "0aFf", 4) == 4 && buf[0] == 0x0a && buf[1] == 0xff);
    CHECK(e4c_hex_decode((char *)buf, 1, "0aff", 4) == 0);
    CHECK(e4c_hex_decode((char *)buf, 8, "0g", 2) == 0);
    CHECK(e4c_hex_decode((char *)buf, 8, "abc", 3) == 0);
    CHECK(strcmp(e4c_strerror(E4_ERROR_INVALID_TAG), "invalid authentication tag") == 0);
    CHECK(e4c_strerror(12345) != NULL);
    CHECK_RC(e4c_symkey_destroy(&garbage), E4_RESULT_OK);
    CHECK_RC(e4c_symkey_destroy(&s), E4_RESULT_OK);
}

static void known_answers(void)
{
    /* e4go: ids and topic hashes are SHA3-256 truncated to 16 bytes */
    uint8_t h[E4_TOPICHASH_LEN];
    static const uint8_t empty[16] = {0xa7, 0xff, 0xc6, 0xf8, 0xbf, 0x1e, 0xd7, 0x66,
                                      0x51, 0xc1, 0x47, 0x56, 0xa0, 0x61, 0xd6, 0x62};
    CHECK_RC(e4c_derive_topichash(h, sizeof h, ""), E4_RESULT_OK);
    CHECK(memcmp(h, empty, 16) == 0);
    CHECK_RC(e4c_derive_clientid(h, sizeof h, "", 0), E4_RESULT_OK);
    CHECK(memcmp(h, empty, 16) == 0);
}

int main(void)
{
    round_trip();
    timestamps();
    commands();
    persistence();
    full_storage();
    invalid_arguments();
    known_answers();
    return checks_summary("test_symkey");
}
