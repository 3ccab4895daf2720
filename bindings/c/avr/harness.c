/*
 * The C library's symmetric mode on an ATmega2560 (simavr), through
 * libe4's API only: e4c_symkey_init, _set_id, _set_idkey, _set_topic_key,
 * e4c_symkey_protect_message and e4c_symkey_unprotect_message, with the
 * clock from e4c_set_time. Built by build.sh against the no_std build of
 * e4-ffi (libe4.a, -DE4_SMALL_STORAGE); see bindings/c/README.md.
 *
 * Output on UART0, one record per line:
 *   R <name> <status> <cycles> <stack>   status 0 = ok
 *   I <name> <value>
 *   OK                                   every check passed
 *   FAIL <step> <code>                   a check failed
 *
 * Cycles: Timer1 at prescaler 1 counts CPU cycles, overflows counted in an
 * interrupt; TCNT1 is read before the timer stops (simavr reads 0 once it
 * is stopped); the cost of an empty call is subtracted. Peak stack: the free
 * RAM between .bss and the stack pointer is painted, the call made with
 * interrupts off, the lowest overwritten byte gives the stack used (return
 * address included). Same method as benches/avr/harness.c.
 *
 * With -DE4_MINIMAL the firmware only sets up a client, protects and
 * unprotects (no timing, no printing, no checks): its avr-size is the
 * flash and static RAM a device needs for the library.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <stdint.h>
#include <string.h>

#include "e4/e4.h"

#define MSG_LEN 64
#define NOW 1700000000ULL

static const char topic[] = "sensors/temperature";
static e4storage_symkey store;
static uint8_t payload[MSG_LEN];
static uint8_t sealed[MSG_LEN + E4_MSGHDR_LEN];
static uint8_t opened[MSG_LEN];
static size_t sealed_len, opened_len;
static uint64_t now = NOW;

/* The client: id and client key derived or fixed, one topic key. */
static int setup(void) {
    uint8_t id[E4_ID_LEN], key[E4_KEY_LEN], hash[E4_TOPICHASH_LEN];
    int rc;
    e4c_set_time(NOW);
    if ((rc = e4c_symkey_init(&store)) != E4_RESULT_OK)
        return rc;
    if ((rc = e4c_derive_clientid(id, sizeof id, "avr-device", 10)) != E4_RESULT_OK)
        return rc;
    if ((rc = e4c_symkey_set_id(&store, id)) != E4_RESULT_OK)
        return rc;
    for (uint8_t i = 0; i < E4_KEY_LEN; i++)
        key[i] = (uint8_t)(0x40 + i);
    if ((rc = e4c_symkey_set_idkey(&store, key)) != E4_RESULT_OK)
        return rc;
    if ((rc = e4c_derive_topichash(hash, sizeof hash, topic)) != E4_RESULT_OK)
        return rc;
    for (uint8_t i = 0; i < E4_KEY_LEN; i++)
        key[i] = (uint8_t)(0x80 + 3 * i);
    if ((rc = e4c_symkey_set_topic_key(&store, hash, key)) != E4_RESULT_OK)
        return rc;
    for (uint8_t i = 0; i < MSG_LEN; i++)
        payload[i] = (uint8_t)i;
    return E4_RESULT_OK;
}

/* The clock moves one second per message: AES-SIV is deterministic, the
 * same payload at the same second would be refused as a replay. */
static uint8_t do_protect(void) {
    e4c_set_time(++now);
    return (uint8_t)-e4c_symkey_protect_message(sealed, sizeof sealed, &sealed_len, payload,
                                                MSG_LEN, topic, &store, 0);
}

/* Replays are refused: each unprotect follows the protect of a new message. */
static uint8_t do_unprotect(void) {
    return (uint8_t)-e4c_symkey_unprotect_message(opened, sizeof opened, &opened_len, sealed,
                                                  sealed_len, topic, &store, 0);
}

#ifdef E4_MINIMAL

volatile uint8_t sink;

int main(void) {
    sink = (uint8_t)setup();
    sink = do_protect();
    sink = do_unprotect();
    cli();
    sleep_mode();
    for (;;)
        ;
}

#else

typedef uint8_t (*fn_t)(void);

extern uint8_t __heap_start;
static volatile uint16_t overflows;

ISR(TIMER1_OVF_vect) { overflows++; }

static void putch(char c) {
    while (!(UCSR0A & _BV(UDRE0)))
        ;
    UDR0 = c;
}

static void puts_P_(const char *s) {
    char c;
    while ((c = pgm_read_byte(s++)))
        putch(c);
}
#define puts_(s) puts_P_(PSTR(s))

/* Decimal without division. */
static void putu(uint32_t v) {
    static const uint32_t pow10[] PROGMEM = {1000000000UL, 100000000UL, 10000000UL, 1000000UL,
                                             100000UL,     10000UL,     1000UL,     100UL,
                                             10UL,         1UL};
    uint8_t started = 0;
    for (uint8_t i = 0; i < 10; i++) {
        char d = '0';
        uint32_t p = pgm_read_dword(&pow10[i]);
        while (v >= p) {
            v -= p;
            d++;
        }
        if (d != '0' || started || i == 9) {
            putch(d);
            started = 1;
        }
    }
}

static uint8_t nop(void) { return 0; }

static uint32_t cycles_of(fn_t f, uint8_t *status) {
    cli();
    overflows = 0;
    TCNT1 = 0;
    TIFR1 = _BV(TOV1);
    TIMSK1 = _BV(TOIE1);
    TCCR1A = 0;
    sei();
    TCCR1B = _BV(CS10);
    uint8_t r = f();
    cli();
    uint16_t t = TCNT1;
    TCCR1B = 0;
    uint32_t n = overflows;
    if ((TIFR1 & _BV(TOV1)) && t < 0x8000)
        n++;
    sei();
    *status = r;
    return n * 65536UL + t;
}

static uint16_t stack_of(fn_t f, uint8_t *status) {
    cli();
    uint8_t *lo = &__heap_start;
    uint8_t *sp = (uint8_t *)SP;
    for (uint8_t *p = lo; p < sp - 8; p++)
        *p = 0xa5;
    uint16_t base = SP;
    *status = f();
    uint8_t *p = lo;
    while (p < sp && *p == 0xa5)
        p++;
    sei();
    return base - (uint16_t)p + 1;
}

static uint32_t baseline;
static uint8_t failed;

static void fail(const char *step, int code) { /* step in flash */
    puts_("FAIL ");
    puts_P_(step);
    putch(' ');
    putch('-');
    putu((uint32_t)(-code));
    putch('\n');
    failed = 1;
}

static void record(const char *name, uint8_t status, uint32_t cycles, uint16_t stack) {
    puts_("R ");
    puts_P_(name);
    putch(' ');
    putu(status);
    putch(' ');
    putu(cycles - baseline);
    putch(' ');
    putu(stack);
    putch('\n');
}

int main(void) {
    UCSR0B = _BV(TXEN0);
    uint8_t st, st2;
    int rc = setup();
    if (rc != E4_RESULT_OK)
        fail(PSTR("setup"), rc);
    baseline = cycles_of(nop, &st);
    puts_("I storage_bytes ");
    putu(sizeof(e4storage_symkey));
    putch('\n');

    /* protect, then the round trip */
    uint32_t c_protect = cycles_of(do_protect, &st);
    if (st != 0 || sealed_len != MSG_LEN + E4_MSGHDR_LEN)
        fail(PSTR("protect"), -(int)st);
    uint32_t c_unprotect = cycles_of(do_unprotect, &st2);
    if (st2 != 0 || opened_len != MSG_LEN || memcmp(opened, payload, MSG_LEN) != 0)
        fail(PSTR("unprotect"), -(int)st2);

    /* a replay and a modified message are refused */
    rc = e4c_symkey_unprotect_message(opened, sizeof opened, &opened_len, sealed, sealed_len,
                                      topic, &store, 0);
    if (rc != E4_ERROR_MESSAGE_REPLAYED)
        fail(PSTR("replay"), rc);
    do_protect();
    sealed[E4_MSGHDR_LEN + 3] ^= 1;
    rc = e4c_symkey_unprotect_message(opened, sizeof opened, &opened_len, sealed, sealed_len,
                                      "sensors/temperature", &store, 0);
    if (rc != E4_ERROR_INVALID_TAG)
        fail(PSTR("tamper"), rc);
    /* no key for another topic; a short output buffer */
    rc = e4c_symkey_protect_message(sealed, sizeof sealed, &sealed_len, payload, MSG_LEN,
                                    "sensors/other", &store, 0);
    if (rc != E4_ERROR_TOPICKEY_MISSING)
        fail(PSTR("missing_key"), rc);
    rc = e4c_symkey_protect_message(sealed, MSG_LEN, &sealed_len, payload, MSG_LEN, topic,
                                    &store, 0);
    if (rc != E4_ERROR_CIPHERTEXT_TOO_SHORT)
        fail(PSTR("short_buffer"), rc);
    /* no files on this target: libe4's memory storage answers OK */
    if ((rc = e4c_symkey_sync(&store)) != E4_RESULT_OK)
        fail(PSTR("sync"), rc);

    /* peak stack of a protect and of the unprotect of its message */
    uint16_t s_protect = stack_of(do_protect, &st);
    uint16_t s_unprotect = stack_of(do_unprotect, &st2);
    if (st != 0 || st2 != 0 || memcmp(opened, payload, MSG_LEN) != 0)
        fail(PSTR("stack_round_trip"), -(int)(st | st2));

    record(PSTR("protect_64"), 0, c_protect, s_protect);
    record(PSTR("unprotect_64"), 0, c_unprotect, s_unprotect);
    if (!failed)
        puts_("OK\n");
    cli();
    sleep_mode();
    for (;;)
        ;
}

#endif
