/* Minimal test helpers for the C tests of e4-ffi. */
#ifndef E4FFI_CHECK_H
#define E4FFI_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int checks_failed = 0;
static int checks_run = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        checks_run++;                                                      \
        if (!(cond)) {                                                     \
            checks_failed++;                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
        }                                                                  \
    } while (0)

#define CHECK_RC(expr, expected)                                           \
    do {                                                                   \
        int rc_ = (expr);                                                  \
        checks_run++;                                                      \
        if (rc_ != (expected)) {                                           \
            checks_failed++;                                               \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n",   \
                    __FILE__, __LINE__, #expr, rc_, e4c_strerror(rc_),     \
                    (int)(expected));                                      \
        }                                                                  \
    } while (0)

static int checks_summary(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, checks_run, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}

#endif
