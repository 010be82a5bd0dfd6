/*
 * test_vectors_main.c - drive cn_protocol from line commands, for the host tests
 * (tests/test_firmware_core.py). One command per stdin line, exactly one stdout
 * line per command. Hex is lowercase; "-" stands for empty hex. Numbers may be
 * decimal or 0x-prefixed, and negative where the field is signed.
 *
 * Framing
 *   cobs_enc HEX                 -> HEX | ERR reason
 *   cobs_dec HEX                 -> HEX | ERR reason
 *   crc HEX                      -> decimal CRC-16/CCITT-FALSE
 *   frame TYPE SEQ BODYHEX       -> WIREHEX | ERR reason
 *   parse RAWHEX                 -> TYPE SEQ BODYHEX | DROP reason
 *   decode HEX                   -> EVENTS of a fresh decoder
 *   feed HEX                     -> EVENTS of the session decoder
 *   reset | init                 -> OK (forget a partial frame | also zero the counters)
 *   stats                        -> frames=N cobs_error=N truncated=N bad_version=N
 *                                   bad_length=N bad_crc=N oversize=N
 *   EVENTS: "TYPE SEQ BODYHEX" per frame, "DROP reason" per dropped frame,
 *   joined by " ; ", or NONE.
 *
 * Messages (each prints "BODYHEX WIREHEX": body encoder, then frame encoder)
 *   enc_ack SEQ
 *   enc_info SEQ PROTOCOL_VERSION FWHEX CHIPHEX REGIONS MAX_PAYLOAD
 *   enc_tx_done SEQ AIRTIME_US TIMESTAMP_US TX_POWER_DBM
 *   enc_pong SEQ DATAHEX
 *   enc_rx SEQ TIMESTAMP_US FREQ_HZ RSSI_CDBM SNR_CDB FREQ_ERROR_HZ SF BW_HZ CR FLAGS PAYLOADHEX
 *   enc_nack SEQ CODE DETAILHEX
 *   dec TYPE BODYHEX             -> name=value ... | ERR reason
 *   check_configure BODYHEX      -> OK | ERR reason field
 *
 * The device (info: firmware "cn-test 1.0", chip "SX1276", regions 0x3F, 255)
 *   dev_init                     -> OK
 *   dev_feed HEX                 -> "SEND WIREHEX" | "ACT CONFIGURE SEQ name=value ..." |
 *                                   "ACT TRANSMIT SEQ PAYLOADHEX" | "IGNORE reason" |
 *                                   "DROP reason", joined by " ; ", or NONE
 *   dev_ack SEQ | dev_nack SEQ CODE DETAILHEX | dev_tx_done SEQ AIRTIME TS POWER |
 *   dev_rx TS FREQ RSSI SNR FERR SF BW CR FLAGS PAYLOADHEX   -> WIREHEX | ERR reason
 *   dev_stats                    -> transmitting=N tx_seq=N unknown_type=N bad_frame=N
 *                                   invalid_parameter=N busy=N repeats=N event_seq=N
 *
 * The clock
 *   clock_init NOW32 -> OK;  clock_update NOW32 -> U64;  clock_extend STAMP32 -> U64
 */
#if !defined(ARDUINO)  /* a host tool: never part of a firmware build */

#include "cn_protocol.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE (1u << 17)
#define MAX_BYTES (1u << 16)
#define MAX_ARGS 16

typedef struct {
    cn_decoder dec;
    cn_device dev;
    cn_clock clk;
    cn_frame frame;
    uint8_t a[MAX_BYTES];  /* decoded hex arguments */
    uint8_t b[MAX_BYTES];
    uint8_t c[MAX_BYTES];
    uint8_t out[MAX_BYTES];
    char text[MAX_BYTES];
} state;

static const uint8_t FW[] = "cn-test 1.0";
static const uint8_t CHIP[] = "SX1276";

static const char *reason(int err)
{
    switch (err) {
    case CN_E_NOSPACE: return "nospace";
    case CN_E_ARG: return "arg";
    case CN_E_COBS: return "cobs_error";
    case CN_E_TRUNCATED: return "truncated";
    case CN_E_OVERSIZE: return "oversize";
    case CN_E_BAD_VERSION: return "bad_version";
    case CN_E_BAD_LENGTH: return "bad_length";
    case CN_E_BAD_CRC: return "bad_crc";
    case CN_E_BAD_BODY: return "bad_body";
    case CN_E_BAD_PARAM: return "bad_param";
    case CN_E_UNSUPPORTED: return "unsupported";
    case CN_E_UNKNOWN_TYPE: return "unknown_type";
    case CN_E_PENDING: return "pending";
    case CN_E_NOT_FOUND: return "not_found";
    default: return "error";
    }
}

static const char *type_name(uint8_t type)
{
    switch (type) {
    case CN_CONFIGURE: return "CONFIGURE";
    case CN_TRANSMIT: return "TRANSMIT";
    default: return "?";
    }
}

/* Hex text to bytes; "-" is empty. Returns the length or -1. */
static long unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s);
    size_t i;
    if (strcmp(s, "-") == 0) {
        return 0;
    }
    if (n % 2 != 0 || n / 2 > cap) {
        return -1;
    }
    for (i = 0; i < n / 2; i++) {
        unsigned int v;
        char pair[3];
        char *end;
        pair[0] = s[2 * i];
        pair[1] = s[2 * i + 1];
        pair[2] = '\0';
        v = (unsigned int)strtoul(pair, &end, 16);
        if (*end != '\0') {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return (long)(n / 2);
}

static void print_hex(const uint8_t *p, size_t n)
{
    size_t i;
    if (n == 0) {
        fputc('-', stdout);
        return;
    }
    for (i = 0; i < n; i++) {
        printf("%02x", p[i]);
    }
}

static int num_u(const char *s, unsigned long long max, unsigned long long *v)
{
    char *end;
    errno = 0;
    if (s[0] == '-') {
        return -1;
    }
    *v = strtoull(s, &end, 0);
    return (errno != 0 || *end != '\0' || *v > max) ? -1 : 0;
}

static int num_s(const char *s, long long min, long long max, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 0);
    return (errno != 0 || *end != '\0' || *v < min || *v > max) ? -1 : 0;
}

/* Events: one separator between items. */
static void event_sep(int *first)
{
    if (!*first) {
        fputs(" ; ", stdout);
    }
    *first = 0;
}

static void print_frame(const cn_frame *f)
{
    printf("%u %u ", (unsigned)f->type, (unsigned)f->seq);
    print_hex(f->body, f->body_len);
}

static void print_configure(const cn_configure *c)
{
    printf("freq_hz=%lu spreading_factor=%u bandwidth_hz=%lu coding_rate=%u tx_power_dbm=%d "
           "sync_word=%u preamble_symbols=%u flags=%u",
           (unsigned long)c->freq_hz, (unsigned)c->spreading_factor,
           (unsigned long)c->bandwidth_hz, (unsigned)c->coding_rate, (int)c->tx_power_dbm,
           (unsigned)c->sync_word, (unsigned)c->preamble_symbols, (unsigned)c->flags);
}

static void feed_decoder(state *st, cn_decoder *dec, const uint8_t *p, size_t n)
{
    size_t i;
    int first = 1;
    for (i = 0; i < n; i++) {
        int r = cn_decoder_feed_byte(dec, p[i], &st->frame);
        if (r == 1) {
            event_sep(&first);
            print_frame(&st->frame);
        } else if (r < 0) {
            event_sep(&first);
            printf("DROP %s", reason(r));
        }
    }
    if (first) {
        fputs("NONE", stdout);
    }
}

static void feed_device(state *st, const uint8_t *p, size_t n)
{
    size_t i;
    int first = 1;
    for (i = 0; i < n; i++) {
        cn_request req;
        int r = cn_decoder_feed_byte(&st->dev.decoder, p[i], &st->frame);
        if (r < 0) {
            event_sep(&first);
            printf("DROP %s", reason(r));
            continue;
        }
        if (r == 0) {
            continue;
        }
        r = cn_device_handle(&st->dev, &st->frame, &req, st->out, sizeof(st->out));
        event_sep(&first);
        if (r > 0) {
            fputs("SEND ", stdout);
            print_hex(st->out, (size_t)r);
        } else if (r == 0) {
            printf("ACT %s %u ", type_name(req.type), (unsigned)req.seq);
            if (req.type == CN_CONFIGURE) {
                print_configure(&req.configure);
            } else {
                print_hex(req.payload, req.payload_len);
            }
        } else {
            printf("IGNORE %s", reason(r));
        }
    }
    if (first) {
        fputs("NONE", stdout);
    }
}

static int device_init(state *st)
{
    cn_info info;
    info.protocol_version = CN_PROTOCOL_VERSION;
    info.firmware_version = FW;
    info.firmware_version_len = (uint8_t)(sizeof(FW) - 1);
    info.radio_chip = CHIP;
    info.radio_chip_len = (uint8_t)(sizeof(CHIP) - 1);
    info.regions = 0x3F;
    info.max_payload = CN_MAX_TX_PAYLOAD;
    return cn_device_init(&st->dev, &info);
}

/* Body then frame of one message; prints "BODYHEX WIREHEX" or "ERR reason". */
static void print_pair(state *st, int body_len, int wire_len)
{
    if (body_len < 0 || wire_len < 0) {
        printf("ERR %s", reason(body_len < 0 ? body_len : wire_len));
        return;
    }
    print_hex(st->b, (size_t)body_len);
    fputc(' ', stdout);
    print_hex(st->out, (size_t)wire_len);
}

static void print_result(state *st, int n)
{
    if (n < 0) {
        printf("ERR %s", reason(n));
    } else {
        print_hex(st->out, (size_t)n);
    }
}

/* RX fields from argv[0..9] (+ payload hex in argv[9]); -1 on a bad number. */
static int parse_rx(state *st, char **v, cn_rx *rx)
{
    unsigned long long u;
    long long s;
    long n;
    if (num_u(v[0], UINT64_MAX, &u) < 0) return -1;
    rx->radio_timestamp_us = (uint64_t)u;
    if (num_u(v[1], UINT32_MAX, &u) < 0) return -1;
    rx->freq_hz = (uint32_t)u;
    if (num_s(v[2], INT16_MIN, INT16_MAX, &s) < 0) return -1;
    rx->rssi_cdbm = (int16_t)s;
    if (num_s(v[3], INT16_MIN, INT16_MAX, &s) < 0) return -1;
    rx->snr_cdb = (int16_t)s;
    if (num_s(v[4], INT32_MIN, INT32_MAX, &s) < 0) return -1;
    rx->freq_error_hz = (int32_t)s;
    if (num_u(v[5], UINT8_MAX, &u) < 0) return -1;
    rx->spreading_factor = (uint8_t)u;
    if (num_u(v[6], UINT32_MAX, &u) < 0) return -1;
    rx->bandwidth_hz = (uint32_t)u;
    if (num_u(v[7], UINT8_MAX, &u) < 0) return -1;
    rx->coding_rate = (uint8_t)u;
    if (num_u(v[8], UINT8_MAX, &u) < 0) return -1;
    rx->flags = (uint8_t)u;
    n = unhex(v[9], st->a, 0xFFFF);
    if (n < 0) return -1;
    rx->payload = st->a;
    rx->payload_len = (uint16_t)n;
    return 0;
}

static int parse_tx_done(char **v, cn_tx_done *tx)
{
    unsigned long long u;
    long long s;
    if (num_u(v[0], UINT32_MAX, &u) < 0) return -1;
    tx->airtime_us = (uint32_t)u;
    if (num_u(v[1], UINT64_MAX, &u) < 0) return -1;
    tx->radio_timestamp_us = (uint64_t)u;
    if (num_s(v[2], INT8_MIN, INT8_MAX, &s) < 0) return -1;
    tx->tx_power_dbm = (int8_t)s;
    return 0;
}

/* Hex to NUL-terminated text in st->text; -1 if not hex. */
static int text_arg(state *st, const char *hex)
{
    long n = unhex(hex, (uint8_t *)st->text, sizeof(st->text) - 1);
    if (n < 0) {
        return -1;
    }
    st->text[n] = '\0';
    return 0;
}

static void cmd_dec(state *st, unsigned long long type, long n)
{
    const uint8_t *p = NULL;
    cn_configure cfg;
    uint8_t hv = 0;
    int r;
    switch (type) {
    case CN_HELLO:
        r = cn_hello_decode(st->a, (size_t)n, &hv);
        if (r >= 0) printf("host_version=%u", (unsigned)hv);
        break;
    case CN_GET_INFO:
        r = cn_get_info_decode(st->a, (size_t)n);
        if (r >= 0) fputs("-", stdout);
        break;
    case CN_CONFIGURE:
        r = cn_configure_decode(st->a, (size_t)n, &cfg);
        if (r >= 0) print_configure(&cfg);
        break;
    case CN_TRANSMIT:
        r = cn_transmit_decode(st->a, (size_t)n, &p);
        if (r >= 0) {
            fputs("payload=", stdout);
            print_hex(p, (size_t)r);
        }
        break;
    case CN_PING:
        r = cn_ping_decode(st->a, (size_t)n, &p);
        if (r >= 0) {
            fputs("data=", stdout);
            print_hex(p, (size_t)r);
        }
        break;
    default:
        r = CN_E_UNKNOWN_TYPE;
        break;
    }
    if (r < 0) {
        printf("ERR %s", reason(r));
    }
}

static int run(state *st, int argc, char **v)
{
    const char *cmd = v[0];
    unsigned long long u1, u2, u3;
    long n;
    int r;
    cn_frame f;

#define NEED(k) do { if (argc != (k) + 1) return -1; } while (0)
#define HEX(i, buf) do { n = unhex(v[i], (buf), sizeof(buf)); if (n < 0) return -1; } while (0)
#define U(i, max, dst) do { if (num_u(v[i], (max), &(dst)) < 0) return -1; } while (0)

    if (strcmp(cmd, "cobs_enc") == 0) {
        NEED(1);
        HEX(1, st->a);
        print_result(st, cn_cobs_encode(st->a, (size_t)n, st->out, sizeof(st->out)));
    } else if (strcmp(cmd, "cobs_dec") == 0) {
        NEED(1);
        HEX(1, st->a);
        print_result(st, cn_cobs_decode(st->a, (size_t)n, st->out, sizeof(st->out)));
    } else if (strcmp(cmd, "crc") == 0) {
        NEED(1);
        HEX(1, st->a);
        printf("%u", (unsigned)cn_crc16(st->a, (size_t)n));
    } else if (strcmp(cmd, "frame") == 0) {
        NEED(3);
        U(1, 0xFF, u1);
        U(2, 0xFFFF, u2);
        HEX(3, st->a);
        print_result(st, cn_frame_encode((uint8_t)u1, (uint16_t)u2, st->a, (size_t)n, st->out,
                                         sizeof(st->out)));
    } else if (strcmp(cmd, "parse") == 0) {
        NEED(1);
        HEX(1, st->a);
        r = cn_frame_parse(st->a, (size_t)n, &f);
        if (r < 0) {
            printf("DROP %s", reason(r));
        } else {
            print_frame(&f);
        }
    } else if (strcmp(cmd, "decode") == 0) {
        cn_decoder fresh;
        NEED(1);
        HEX(1, st->a);
        cn_decoder_init(&fresh);
        feed_decoder(st, &fresh, st->a, (size_t)n);
    } else if (strcmp(cmd, "feed") == 0) {
        NEED(1);
        HEX(1, st->a);
        feed_decoder(st, &st->dec, st->a, (size_t)n);
    } else if (strcmp(cmd, "reset") == 0 || strcmp(cmd, "init") == 0) {
        NEED(0);
        if (cmd[0] == 'r') {
            cn_decoder_reset(&st->dec);
        } else {
            cn_decoder_init(&st->dec);
        }
        fputs("OK", stdout);
    } else if (strcmp(cmd, "stats") == 0) {
        const cn_decoder *d = &st->dec;
        NEED(0);
        printf("frames=%lu cobs_error=%lu truncated=%lu bad_version=%lu bad_length=%lu "
               "bad_crc=%lu oversize=%lu",
               (unsigned long)d->frames, (unsigned long)d->cobs_error,
               (unsigned long)d->truncated, (unsigned long)d->bad_version,
               (unsigned long)d->bad_length, (unsigned long)d->bad_crc,
               (unsigned long)d->oversize);
    } else if (strcmp(cmd, "enc_ack") == 0) {
        NEED(1);
        U(1, 0xFFFF, u1);
        print_pair(st, 0, cn_ack_frame((uint16_t)u1, st->out, sizeof(st->out)));
    } else if (strcmp(cmd, "enc_info") == 0) {
        cn_info info;
        long fw_len;
        long chip_len;
        NEED(6);
        U(1, 0xFFFF, u1);
        U(2, 0xFF, u2);
        fw_len = unhex(v[3], st->a, 255);
        chip_len = unhex(v[4], st->c, 255);
        if (fw_len < 0 || chip_len < 0) return -1;
        U(5, 0xFFFF, u3);
        info.protocol_version = (uint8_t)u2;
        info.firmware_version = st->a;
        info.firmware_version_len = (uint8_t)fw_len;
        info.radio_chip = st->c;
        info.radio_chip_len = (uint8_t)chip_len;
        info.regions = (uint16_t)u3;
        U(6, 0xFF, u3);
        info.max_payload = (uint8_t)u3;
        print_pair(st, cn_info_body(&info, st->b, sizeof(st->b)),
                   cn_info_frame((uint16_t)u1, &info, st->out, sizeof(st->out)));
    } else if (strcmp(cmd, "enc_tx_done") == 0) {
        cn_tx_done tx;
        NEED(4);
        U(1, 0xFFFF, u1);
        if (parse_tx_done(v + 2, &tx) < 0) return -1;
        print_pair(st, cn_tx_done_body(&tx, st->b, sizeof(st->b)),
                   cn_tx_done_frame((uint16_t)u1, &tx, st->out, sizeof(st->out)));
    } else if (strcmp(cmd, "enc_pong") == 0) {
        NEED(2);
        U(1, 0xFFFF, u1);
        HEX(2, st->b);
        print_pair(st, (int)n,
                   cn_pong_frame((uint16_t)u1, st->b, (size_t)n, st->out, sizeof(st->out)));
    } else if (strcmp(cmd, "enc_rx") == 0) {
        cn_rx rx;
        NEED(11);
        U(1, 0xFFFF, u1);
        if (parse_rx(st, v + 2, &rx) < 0) return -1;
        print_pair(st, cn_rx_body(&rx, st->b, sizeof(st->b)),
                   cn_rx_frame((uint16_t)u1, &rx, st->out, sizeof(st->out)));
    } else if (strcmp(cmd, "enc_nack") == 0) {
        NEED(3);
        U(1, 0xFFFF, u1);
        U(2, 0xFF, u2);
        if (text_arg(st, v[3]) < 0) return -1;
        print_pair(st, cn_nack_body((uint8_t)u2, st->text, st->b, sizeof(st->b)),
                   cn_nack_frame((uint16_t)u1, (uint8_t)u2, st->text, st->out,
                                 sizeof(st->out)));
    } else if (strcmp(cmd, "dec") == 0) {
        NEED(2);
        U(1, 0xFF, u1);
        HEX(2, st->a);
        cmd_dec(st, u1, n);
    } else if (strcmp(cmd, "check_configure") == 0) {
        cn_configure cfg;
        const char *field = NULL;
        NEED(1);
        HEX(1, st->a);
        r = cn_configure_decode(st->a, (size_t)n, &cfg);
        if (r >= 0) {
            r = cn_configure_check(&cfg, &field);
        }
        if (r < 0) {
            printf("ERR %s %s", reason(r), field != NULL ? field : "-");
        } else {
            fputs("OK", stdout);
        }
    } else if (strcmp(cmd, "dev_init") == 0) {
        NEED(0);
        r = device_init(st);
        fputs(r < 0 ? "ERR" : "OK", stdout);
    } else if (strcmp(cmd, "dev_feed") == 0) {
        NEED(1);
        HEX(1, st->c);
        feed_device(st, st->c, (size_t)n);
    } else if (strcmp(cmd, "dev_ack") == 0) {
        NEED(1);
        U(1, 0xFFFF, u1);
        print_result(st, cn_device_ack(&st->dev, (uint16_t)u1, st->out, sizeof(st->out)));
    } else if (strcmp(cmd, "dev_nack") == 0) {
        NEED(3);
        U(1, 0xFFFF, u1);
        U(2, 0xFF, u2);
        if (text_arg(st, v[3]) < 0) return -1;
        print_result(st, cn_device_nack(&st->dev, (uint16_t)u1, (uint8_t)u2, st->text,
                                        st->out, sizeof(st->out)));
    } else if (strcmp(cmd, "dev_tx_done") == 0) {
        cn_tx_done tx;
        NEED(4);
        U(1, 0xFFFF, u1);
        if (parse_tx_done(v + 2, &tx) < 0) return -1;
        print_result(st, cn_device_tx_done(&st->dev, (uint16_t)u1, &tx, st->out,
                                           sizeof(st->out)));
    } else if (strcmp(cmd, "dev_rx") == 0) {
        cn_rx rx;
        NEED(10);
        if (parse_rx(st, v + 1, &rx) < 0) return -1;
        print_result(st, cn_device_rx(&st->dev, &rx, st->out, sizeof(st->out)));
    } else if (strcmp(cmd, "dev_stats") == 0) {
        const cn_device *d = &st->dev;
        NEED(0);
        printf("transmitting=%u tx_seq=%u unknown_type=%lu bad_frame=%lu "
               "invalid_parameter=%lu busy=%lu repeats=%lu event_seq=%u",
               (unsigned)d->transmitting, (unsigned)d->tx_seq, (unsigned long)d->unknown_type,
               (unsigned long)d->bad_frame, (unsigned long)d->invalid_parameter,
               (unsigned long)d->busy, (unsigned long)d->repeats, (unsigned)d->event_seq);
    } else if (strcmp(cmd, "clock_init") == 0) {
        NEED(1);
        U(1, UINT32_MAX, u1);
        cn_clock_init(&st->clk, (uint32_t)u1);
        fputs("OK", stdout);
    } else if (strcmp(cmd, "clock_update") == 0) {
        NEED(1);
        U(1, UINT32_MAX, u1);
        printf("%llu", (unsigned long long)cn_clock_update(&st->clk, (uint32_t)u1));
    } else if (strcmp(cmd, "clock_extend") == 0) {
        NEED(1);
        U(1, UINT32_MAX, u1);
        printf("%llu", (unsigned long long)cn_clock_extend(&st->clk, (uint32_t)u1));
    } else {
        fputs("ERR unknown_command", stdout);
    }
    return 0;
#undef NEED
#undef HEX
#undef U
}

int main(void)
{
    static char line[MAX_LINE];
    static state st;
    cn_decoder_init(&st.dec);
    cn_clock_init(&st.clk, 0);
    if (device_init(&st) < 0) {
        return 1;
    }
    while (fgets(line, sizeof(line), stdin) != NULL) {
        char *argv[MAX_ARGS];
        int argc = 0;
        char *tok;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] != '\n' && !feof(stdin)) {
            fputs("line too long\n", stderr);
            return 2;
        }
        for (tok = strtok(line, " \t\r\n"); tok != NULL && argc < MAX_ARGS;
             tok = strtok(NULL, " \t\r\n")) {
            argv[argc++] = tok;
        }
        if (argc == 0) {
            fputs("ERR empty\n", stdout);
            continue;
        }
        if (run(&st, argc, argv) < 0) {
            fputs("ERR bad_args", stdout);
        }
        fputc('\n', stdout);
        fflush(stdout);
    }
    return 0;
}

#else
typedef int cn_test_vectors_main_is_host_only;
#endif
