/*
 * A libe4 program: it uses only libe4's API (e4storage_symkey and
 * e4storage_pubkey, e4c_symkey_* and e4c_pubkey_*, e4c_derive_*,
 * e4c_hex_decode) and compiles against libe4's headers or e4-rs's
 * (bindings/c/include) with nothing changed but the include path.
 *
 * Protects stdin to stdout, or unprotects stdin to stdout:
 *
 *   libe4_client protect   sym    TOPIC TOPICKEY
 *   libe4_client unprotect sym    TOPIC TOPICKEY
 *   libe4_client protect   pubkey TOPIC TOPICKEY NAME SECRETKEY C2KEY
 *   libe4_client unprotect pubkey TOPIC TOPICKEY NAME SECRETKEY C2KEY SENDERNAME SENDERKEY
 *
 * Keys in hex: the topic key (32 bytes), the device's Ed25519 secret key
 * (64 bytes: seed and public key), C2's X25519 public key (32 bytes), the
 * sender's Ed25519 public key (32 bytes). Exit status 0 on success.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e4/e4.h"
#include "e4/util.h"

#define MAX_MSG 4096

static int fail(const char *what, int rc)
{
    fprintf(stderr, "libe4_client: %s failed: %d\n", what, rc);
    return 1;
}

static int key_arg(uint8_t *out, size_t len, const char *hexkey)
{
    if (strlen(hexkey) != 2 * len ||
        e4c_hex_decode((char *)out, len, hexkey, strlen(hexkey)) != (int)(2 * len)) {
        fprintf(stderr, "libe4_client: expected %u hex bytes: %s\n", (unsigned)len, hexkey);
        return 1;
    }
    return 0;
}

static int set_identity(e4storage_pubkey *s, const char *name, const char *sk, const char *c2)
{
    uint8_t id[E4_ID_LEN], key[E4_PK_EDDSA_PRIVKEY_LEN], c2key[E4_PK_X25519_PUBKEY_LEN];
    int rc;
    if (key_arg(key, sizeof key, sk) || key_arg(c2key, sizeof c2key, c2)) return 1;
    if ((rc = e4c_derive_clientid(id, E4_ID_LEN, name, strlen(name))) != 0) return fail("derive_clientid", rc);
    if ((rc = e4c_pubkey_set_id(s, id)) != 0) return fail("set_id", rc);
    if ((rc = e4c_pubkey_set_idseckey(s, key)) != 0) return fail("set_idseckey", rc);
    if ((rc = e4c_pubkey_set_c2_pubkey(s, c2key)) != 0) return fail("set_c2_pubkey", rc);
    if ((rc = e4c_pubkey_c2sharedsecret_derivestore(s)) != 0) return fail("c2sharedsecret_derivestore", rc);
    return 0;
}

int main(int argc, char **argv)
{
    static e4storage_symkey sym;
    static e4storage_pubkey pk;
    static uint8_t in[MAX_MSG], out[MAX_MSG + 256];
    uint8_t topichash[E4_TOPICHASH_LEN], topickey[E4_KEY_LEN];
    size_t inlen, outlen = 0;
    int protect, pubkey, rc;
    const char *topic;

    if (argc < 5) {
        fprintf(stderr, "usage: libe4_client protect|unprotect sym|pubkey TOPIC TOPICKEY [...]\n");
        return 2;
    }
    protect = strcmp(argv[1], "protect") == 0;
    pubkey = strcmp(argv[2], "pubkey") == 0;
    topic = argv[3];
    if ((pubkey && argc != (protect ? 8 : 10)) || (!pubkey && argc != 5)) {
        fprintf(stderr, "libe4_client: wrong number of arguments\n");
        return 2;
    }
    if (key_arg(topickey, sizeof topickey, argv[4])) return 2;
    if ((rc = e4c_derive_topichash(topichash, sizeof topichash, topic)) != 0)
        return fail("derive_topichash", rc);

    inlen = fread(in, 1, sizeof in, stdin);

    if (!pubkey) {
        uint8_t id[E4_ID_LEN], idkey[E4_KEY_LEN];
        /* a receiver needs an id and a client key (the commands' key) */
        memset(idkey, 0x42, sizeof idkey);
        e4c_symkey_init(&sym);
        if ((rc = e4c_derive_clientid(id, E4_ID_LEN, "libe4-example", 13)) != 0) return fail("derive_clientid", rc);
        if ((rc = e4c_symkey_set_id(&sym, id)) != 0) return fail("set_id", rc);
        if ((rc = e4c_symkey_set_idkey(&sym, idkey)) != 0) return fail("set_idkey", rc);
        if ((rc = e4c_symkey_set_topic_key(&sym, topichash, topickey)) != 0) return fail("set_topic_key", rc);
        if (protect)
            rc = e4c_symkey_protect_message(out, sizeof out, &outlen, in, inlen, topic, &sym, 0);
        else
            rc = e4c_symkey_unprotect_message(out, sizeof out, &outlen, in, inlen, topic, &sym, 0);
    } else {
        e4c_pubkey_init(&pk);
        if (set_identity(&pk, argv[5], argv[6], argv[7])) return 1;
        if ((rc = e4c_pubkey_set_topic_key(&pk, topichash, topickey)) != 0) return fail("set_topic_key", rc);
        if (protect) {
            rc = e4c_pubkey_protect_message(out, sizeof out, &outlen, in, inlen, topic, &pk, 0);
        } else {
            uint8_t sender[E4_ID_LEN], senderkey[E4_PK_EDDSA_PUBKEY_LEN];
            if (key_arg(senderkey, sizeof senderkey, argv[9])) return 2;
            e4c_derive_clientid(sender, E4_ID_LEN, argv[8], strlen(argv[8]));
            if ((rc = e4c_pubkey_set_device_key(&pk, sender, senderkey)) != 0) return fail("set_device_key", rc);
            rc = e4c_pubkey_unprotect_message(out, sizeof out, &outlen, in, inlen, topic, &pk, 0);
        }
    }
    if (rc != E4_RESULT_OK) return fail(protect ? "protect" : "unprotect", rc);
    fwrite(out, 1, outlen, stdout);
    return 0;
}
