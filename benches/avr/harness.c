/*
 * Harness of the E4 AVR bench (ATmega2560 in simavr); see README.md.
 *
 * Cycles: Timer1 with prescaler 1 counts CPU cycles; overflows are counted
 * in an interrupt (each adds about 40 cycles to a measurement, < 0.1 %).
 * The cost of an empty call (e4b_nop) is subtracted.
 *
 * Peak stack: the free RAM between the end of .bss and the stack pointer is
 * painted with a pattern (twice, with two patterns), the function is called
 * with interrupts off, and the lowest overwritten byte gives the number of
 * bytes of stack used below the caller's stack pointer (return address
 * included).
 *
 * Output on UART0, one record per line:
 *   R <name> <status> <cycles> <stack>     status 0 = ok
 *   I <name> <value>
 *
 * Built with -DE4B_MINIMAL the firmware only runs the client (no timing,
 * no printing): its size is the flash a device needs for the client.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <stdint.h>

typedef uint8_t (*bench_fn)(void);

uint8_t e4b_init(void);
uint8_t e4b_init_prim(void);
uint8_t e4b_nop(void);
uint8_t e4b_topic_hash(void);
uint8_t e4b_protect_hashed(void);
uint8_t e4b_protect(void);
uint8_t e4b_unprotect_hashed(void);
uint8_t e4b_unprotect(void);
uint8_t e4b_protect_uncached(void);
uint8_t e4b_unprotect_uncached(void);
uint8_t e4b_siv_prepare(void);
uint8_t e4b_aes_block(void);
uint8_t e4b_aes_key_schedule(void);
uint8_t e4b_keccak_f(void);
uint8_t e4b_check(uint8_t which);
uint8_t e4b_abi_probe(void);
uint16_t e4b_client_size(void);

#ifdef E4B_MINIMAL

volatile uint8_t sink;

int main(void) {
    sink = e4b_init();
    sink = e4b_topic_hash();
    sink = e4b_protect_hashed();
    sink = e4b_unprotect_hashed();
    sink = e4b_protect();
    sink = e4b_unprotect();
    cli();
    sleep_mode();
    for (;;)
        ;
}

#else

extern uint8_t __heap_start;

static volatile uint16_t overflows;

ISR(TIMER1_OVF_vect) { overflows++; }

static void putch(char c) {
    while (!(UCSR0A & _BV(UDRE0)))
        ;
    UDR0 = c;
}

/* Strings stay in flash (PSTR), so that the harness adds almost nothing
 * to .data: the RAM figures are those of the client. */
static void puts_P_(const char *s) {
    char c;
    while ((c = pgm_read_byte(s++)))
        putch(c);
}
#define puts_(s) puts_P_(PSTR(s))

/* Decimal without division (a 32-bit division would pull in 1 KB). */
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

static uint32_t cycles_of(bench_fn f, uint8_t *status) {
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
    uint16_t t = TCNT1; /* read before stopping: simavr reads 0 once stopped */
    TCCR1B = 0;
    uint32_t n = overflows;
    if ((TIFR1 & _BV(TOV1)) && t < 0x8000)
        n++;
    sei();
    *status = r;
    return n * 65536UL + t;
}

static uint16_t paint_and_call(bench_fn f, uint8_t pattern) {
    uint8_t *lo = &__heap_start;
    uint8_t *sp = (uint8_t *)SP;
    for (uint8_t *p = lo; p < sp - 8; p++)
        *p = pattern;
    uint16_t base = SP;
    f();
    uint8_t *p = lo;
    while (p < sp && *p == pattern)
        p++;
    return base - (uint16_t)p + 1;
}

static uint16_t stack_of(bench_fn f) {
    cli();
    uint16_t a = paint_and_call(f, 0xa5);
    uint16_t b = paint_and_call(f, 0x5a);
    sei();
    return a > b ? a : b;
}

static uint32_t baseline;

/* check: index for e4b_check after the first (timed) call, or 0xff. */
static void bench(const char *name, bench_fn f, uint8_t check) { /* name in flash */
    uint8_t status;
    uint32_t c = cycles_of(f, &status);
    if (check != 0xff && e4b_check(check))
        status |= 0x80;
    uint16_t s = stack_of(f);
    puts_("R ");
    puts_P_(name);
    putch(' ');
    putu(status);
    putch(' ');
    putu(c - baseline);
    putch(' ');
    putu(s);
    putch('\n');
}

static void info(const char *name, uint32_t v) { /* name in flash */
    puts_("I ");
    puts_P_(name);
    putch(' ');
    putu(v);
    putch('\n');
}

int main(void) {
    UCSR0B = _BV(TXEN0);
    uint8_t status;
    info(PSTR("stack_args_broken"), e4b_abi_probe());
    info(PSTR("init"), e4b_init() | e4b_init_prim());
    baseline = cycles_of(e4b_nop, &status);
    info(PSTR("baseline"), baseline);
    info(PSTR("client_size"), e4b_client_size());

    bench(PSTR("topic_hash"), e4b_topic_hash, 0);
    /* Prepares the topic key in the provider's cache (small backend):
     * the rows below measure the steady state of a device that has sent
     * or received under this key before. */
    bench(PSTR("siv_prepare"), e4b_siv_prepare, 0xff);
    bench(PSTR("protect_hashed"), e4b_protect_hashed, 1);
    bench(PSTR("unprotect_hashed"), e4b_unprotect_hashed, 0xff);
    bench(PSTR("protect_uncached"), e4b_protect_uncached, 1);
    bench(PSTR("unprotect_uncached"), e4b_unprotect_uncached, 0xff);
    bench(PSTR("protect"), e4b_protect, 1);
    bench(PSTR("unprotect"), e4b_unprotect, 0xff);
    bench(PSTR("aes256_block"), e4b_aes_block, 2);
    bench(PSTR("aes256_key_schedule"), e4b_aes_key_schedule, 0xff);
    bench(PSTR("keccak_f1600"), e4b_keccak_f, 3);
    puts_("I done 1\n");

    cli();
    sleep_mode();
    for (;;)
        ;
}

#endif
