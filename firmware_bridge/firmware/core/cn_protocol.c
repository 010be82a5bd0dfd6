/*
 * cn_protocol.c - see cn_protocol.h. Plain C99, no allocation, no mutable
 * globals; every multi-byte value is packed and unpacked byte by byte.
 */
#include "cn_protocol.h"

#include <string.h>

/* ---- CRC-16/CCITT-FALSE ------------------------------------------------------------ */

static uint16_t crc_step(uint16_t crc, uint8_t byte)
{
    uint8_t bit;
    crc = (uint16_t)(crc ^ (uint16_t)((uint16_t)byte << 8));
    for (bit = 0; bit < 8; bit++) {
        if (crc & 0x8000u) {
            crc = (uint16_t)((uint16_t)(crc << 1) ^ 0x1021u);
        } else {
            crc = (uint16_t)(crc << 1);
        }
    }
    return crc;
}

uint16_t cn_crc16_update(uint16_t crc, const uint8_t *data, size_t len)
{
    size_t i;
    if (data == NULL) {
        return crc;
    }
    for (i = 0; i < len; i++) {
        crc = crc_step(crc, data[i]);
    }
    return crc;
}

uint16_t cn_crc16(const uint8_t *data, size_t len)
{
    return cn_crc16_update(0xFFFFu, data, len);
}

/* ---- little-endian fields ---------------------------------------------------------- */

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static int8_t to_i8(uint8_t u)
{
    return u < 0x80u ? (int8_t)u : (int8_t)((int)u - 256);
}

/* ---- the sink: every encoder writes through one of these --------------------------- */

/* A flat sink copies bytes into `out`; a COBS sink encodes them on the fly
 * (the reference encoder: close a block at every 0x00 and after 254 data
 * bytes) while keeping the CRC of everything put so far. */
typedef struct {
    uint8_t *out;
    size_t cap;
    size_t pos;       /* next free byte of out */
    size_t code_pos;  /* the current block's code byte (COBS) */
    uint8_t code;     /* 1 + data bytes in the current block (COBS) */
    uint8_t cobs;
    uint16_t crc;
    int err;
} sink;

static void sink_init(sink *s, uint8_t *out, size_t cap, int cobs)
{
    s->out = out;
    s->cap = cap;
    s->pos = 0;
    s->code_pos = 0;
    s->code = 1;
    s->cobs = (uint8_t)(cobs != 0);
    s->crc = 0xFFFFu;
    s->err = (out == NULL && cap > 0) ? CN_E_ARG : CN_OK;
    if (s->cobs && s->err == CN_OK) {
        if (cap < 1) {
            s->err = CN_E_NOSPACE;
        } else {
            s->pos = 1;  /* room for the first code byte */
        }
    }
}

static void sink_open_block(sink *s)
{
    s->out[s->code_pos] = s->code;
    s->code_pos = s->pos;
    s->code = 1;
    if (s->pos >= s->cap) {
        s->err = CN_E_NOSPACE;
    } else {
        s->pos++;
    }
}

static void put(sink *s, uint8_t b)
{
    s->crc = crc_step(s->crc, b);
    if (s->err != CN_OK) {
        return;
    }
    if (!s->cobs) {
        if (s->pos >= s->cap) {
            s->err = CN_E_NOSPACE;
            return;
        }
        s->out[s->pos++] = b;
        return;
    }
    if (b == 0) {
        sink_open_block(s);
        return;
    }
    if (s->pos >= s->cap) {
        s->err = CN_E_NOSPACE;
        return;
    }
    s->out[s->pos++] = b;
    s->code++;
    if (s->code == 0xFFu) {
        sink_open_block(s);
    }
}

static void put_bytes(sink *s, const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        put(s, p[i]);
    }
}

static void put_u16(sink *s, uint16_t v)
{
    put(s, (uint8_t)(v & 0xFFu));
    put(s, (uint8_t)(v >> 8));
}

static void put_u32(sink *s, uint32_t v)
{
    put(s, (uint8_t)(v & 0xFFu));
    put(s, (uint8_t)((v >> 8) & 0xFFu));
    put(s, (uint8_t)((v >> 16) & 0xFFu));
    put(s, (uint8_t)(v >> 24));
}

static void put_u64(sink *s, uint64_t v)
{
    uint8_t i;
    for (i = 0; i < 8; i++) {
        put(s, (uint8_t)(v & 0xFFu));
        v >>= 8;
    }
}

/* Unsigned conversions of negative values are defined (modulo 2^n). */
static void put_i8(sink *s, int8_t v) { put(s, (uint8_t)v); }
static void put_i16(sink *s, int16_t v) { put_u16(s, (uint16_t)v); }
static void put_i32(sink *s, int32_t v) { put_u32(s, (uint32_t)v); }

/* Close a COBS sink: the last block's code byte (no delimiter). */
static int sink_finish_cobs(sink *s)
{
    if (s->err != CN_OK) {
        return s->err;
    }
    s->out[s->code_pos] = s->code;
    return (int)s->pos;
}

static int sink_finish_flat(const sink *s)
{
    return s->err != CN_OK ? s->err : (int)s->pos;
}

/* ---- COBS ---------------------------------------------------------------------------- */

int cn_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    sink s;
    if ((in == NULL && len > 0) || len > CN_COBS_MAX_INPUT) {
        return CN_E_ARG;
    }
    sink_init(&s, out, out_cap, 1);
    put_bytes(&s, in, len);
    return sink_finish_cobs(&s);
}

int cn_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    size_t i = 0;
    size_t o = 0;
    if (in == NULL || len > CN_COBS_MAX_INPUT) {
        return CN_E_ARG;
    }
    if (len == 0) {
        return CN_E_COBS;  /* every encoding has at least one code byte */
    }
    while (i < len) {
        uint8_t code = in[i];
        size_t k;
        if (code == 0 || (size_t)code > len - i) {
            return CN_E_COBS;
        }
        for (k = 1; k < code; k++) {
            if (in[i + k] == 0) {
                return CN_E_COBS;
            }
            if (o >= out_cap) {
                return CN_E_NOSPACE;
            }
            out[o++] = in[i + k];
        }
        i += code;
        if (code != 0xFFu && i < len) {
            if (o >= out_cap) {
                return CN_E_NOSPACE;
            }
            out[o++] = 0;
        }
    }
    return (int)o;
}

/* ---- frames -------------------------------------------------------------------------- */

static int frame_begin(sink *s, uint8_t type, uint16_t seq, size_t body_len, uint8_t *out,
                       size_t out_cap)
{
    if (body_len > CN_MAX_BODY || out == NULL) {
        return CN_E_ARG;
    }
    sink_init(s, out, out_cap, 1);
    put(s, (uint8_t)CN_PROTOCOL_VERSION);
    put(s, type);
    put_u16(s, seq);
    put_u16(s, (uint16_t)body_len);
    return s->err;
}

/* Append the CRC of everything put so far, close the COBS block, delimit. */
static int frame_end(sink *s)
{
    uint16_t crc = s->crc;
    int n;
    put_u16(s, crc);
    n = sink_finish_cobs(s);
    if (n < 0) {
        return n;
    }
    if ((size_t)n >= s->cap) {
        return CN_E_NOSPACE;
    }
    s->out[n] = 0x00;  /* the delimiter */
    return n + 1;
}

int cn_frame_encode(uint8_t type, uint16_t seq, const uint8_t *body, size_t body_len,
                    uint8_t *out, size_t out_cap)
{
    sink s;
    int r;
    if (body == NULL && body_len > 0) {
        return CN_E_ARG;
    }
    r = frame_begin(&s, type, seq, body_len, out, out_cap);
    if (r < 0) {
        return r;
    }
    put_bytes(&s, body, body_len);
    return frame_end(&s);
}

int cn_frame_parse(const uint8_t *raw, size_t raw_len, cn_frame *frame)
{
    uint16_t length;
    uint16_t crc;
    if (raw == NULL || frame == NULL) {
        return CN_E_ARG;
    }
    if (raw_len < CN_MIN_RAW) {
        return CN_E_TRUNCATED;
    }
    if (raw_len > CN_MAX_RAW) {
        return CN_E_OVERSIZE;
    }
    /* A frame of another version may have another layout: judge nothing else. */
    if (raw[0] != CN_PROTOCOL_VERSION) {
        return CN_E_BAD_VERSION;
    }
    length = get_u16(raw + 4);
    if ((size_t)length != raw_len - CN_MIN_RAW) {
        return CN_E_BAD_LENGTH;
    }
    crc = get_u16(raw + raw_len - CN_CRC_LEN);
    if (cn_crc16(raw, raw_len - CN_CRC_LEN) != crc) {
        return CN_E_BAD_CRC;
    }
    frame->type = raw[1];
    frame->seq = get_u16(raw + 2);
    frame->crc = crc;
    frame->body_len = length;
    frame->body = raw + CN_HEADER_LEN;
    return (int)length;
}

/* ---- the streaming decoder --------------------------------------------------------- */

int cn_decoder_init(cn_decoder *dec)
{
    if (dec == NULL) {
        return CN_E_ARG;
    }
    memset(dec, 0, sizeof(*dec));
    return CN_OK;
}

int cn_decoder_reset(cn_decoder *dec)
{
    if (dec == NULL) {
        return CN_E_ARG;
    }
    dec->raw_len = 0;
    dec->enc_len = 0;
    dec->block_left = 0;
    dec->zero_due = 0;
    dec->discarding = 0;
    return CN_OK;
}

static void decoder_out(cn_decoder *dec, uint8_t b)
{
    if (dec->raw_len < CN_MAX_RAW) {
        dec->raw[dec->raw_len] = b;
    }
    /* Beyond CN_MAX_RAW only the count matters: cn_frame_parse says oversize. */
    dec->raw_len++;
}

static int decoder_count(cn_decoder *dec, int r)
{
    switch (r) {
    case CN_E_COBS: dec->cobs_error++; break;
    case CN_E_TRUNCATED: dec->truncated++; break;
    case CN_E_OVERSIZE: dec->oversize++; break;
    case CN_E_BAD_VERSION: dec->bad_version++; break;
    case CN_E_BAD_LENGTH: dec->bad_length++; break;
    case CN_E_BAD_CRC: dec->bad_crc++; break;
    default: break;
    }
    return r;
}

int cn_decoder_feed_byte(cn_decoder *dec, uint8_t byte, cn_frame *frame_out)
{
    int r;
    if (dec == NULL || frame_out == NULL) {
        return CN_E_ARG;
    }
    if (byte != 0x00) {
        if (dec->discarding) {
            return 0;
        }
        if (dec->enc_len >= CN_MAX_ENCODED) {
            /* No valid frame is this long: skip everything up to the next 0x00. */
            cn_decoder_reset(dec);
            dec->discarding = 1;
            return decoder_count(dec, CN_E_OVERSIZE);
        }
        dec->enc_len++;
        if (dec->block_left == 0) {  /* a code byte */
            if (dec->zero_due) {
                decoder_out(dec, 0x00);
            }
            dec->block_left = (uint8_t)(byte - 1u);
            dec->zero_due = (uint8_t)(byte != 0xFFu);
        } else {
            decoder_out(dec, byte);
            dec->block_left--;
        }
        return 0;
    }
    /* The delimiter. */
    if (dec->discarding || dec->enc_len == 0) {
        cn_decoder_reset(dec);
        return 0;
    }
    if (dec->block_left != 0) {
        r = CN_E_COBS;  /* the last block promised more bytes than came */
    } else {
        r = cn_frame_parse(dec->raw, dec->raw_len, frame_out);
    }
    cn_decoder_reset(dec);
    if (r < 0) {
        return decoder_count(dec, r);
    }
    dec->frames++;
    return 1;
}

/* ---- message encoders ---------------------------------------------------------------- */

typedef void (*put_fn)(sink *s, const void *msg);

typedef struct {
    uint8_t code;
    const char *detail;
    size_t detail_len;
} nack_msg;

static size_t info_len(const cn_info *m)
{
    return 6u + (size_t)m->firmware_version_len + (size_t)m->radio_chip_len;
}

static void put_info(sink *s, const void *msg)
{
    const cn_info *m = (const cn_info *)msg;
    put(s, m->protocol_version);
    put(s, m->firmware_version_len);
    put_bytes(s, m->firmware_version, m->firmware_version_len);
    put(s, m->radio_chip_len);
    put_bytes(s, m->radio_chip, m->radio_chip_len);
    put_u16(s, m->regions);
    put(s, m->max_payload);
}

static void put_tx_done(sink *s, const void *msg)
{
    const cn_tx_done *m = (const cn_tx_done *)msg;
    put_u32(s, m->airtime_us);
    put_u64(s, m->radio_timestamp_us);
    put_i8(s, m->tx_power_dbm);
}

static void put_rx(sink *s, const void *msg)
{
    const cn_rx *m = (const cn_rx *)msg;
    put_u64(s, m->radio_timestamp_us);
    put_u32(s, m->freq_hz);
    put_i16(s, m->rssi_cdbm);
    put_i16(s, m->snr_cdb);
    put_i32(s, m->freq_error_hz);
    put(s, m->spreading_factor);
    put_u32(s, m->bandwidth_hz);
    put(s, m->coding_rate);
    put(s, m->flags);
    put_bytes(s, m->payload, m->payload_len);
}

static void put_nack(sink *s, const void *msg)
{
    const nack_msg *m = (const nack_msg *)msg;
    put(s, m->code);
    put_bytes(s, (const uint8_t *)m->detail, m->detail_len);
}

static int emit_body(put_fn fn, const void *msg, size_t len, uint8_t *out, size_t out_cap)
{
    sink s;
    if (len > CN_MAX_BODY) {
        return CN_E_ARG;
    }
    sink_init(&s, out, out_cap, 0);
    fn(&s, msg);
    return sink_finish_flat(&s);
}

static int emit_frame(uint8_t type, uint16_t seq, put_fn fn, const void *msg, size_t len,
                      uint8_t *out, size_t out_cap)
{
    sink s;
    int r = frame_begin(&s, type, seq, len, out, out_cap);
    if (r < 0) {
        return r;
    }
    fn(&s, msg);
    return frame_end(&s);
}

static int info_ok(const cn_info *m)
{
    return m != NULL && (m->firmware_version != NULL || m->firmware_version_len == 0) &&
           (m->radio_chip != NULL || m->radio_chip_len == 0);
}

static int rx_ok(const cn_rx *m)
{
    return m != NULL && (m->payload != NULL || m->payload_len == 0);
}

/* A NACK detail: NUL-terminated text, cut to `max` bytes at a UTF-8 boundary. */
static nack_msg make_nack(uint8_t code, const char *detail, size_t max)
{
    nack_msg m;
    size_t n = 0;
    m.code = code;
    m.detail = detail;
    if (detail != NULL) {
        while (detail[n] != '\0' && n <= max) {
            n++;
        }
        if (n > max) {
            n = max;
            /* never cut inside a multi-byte character (continuation bytes are 10xxxxxx) */
            while (n > 0 && (((uint8_t)detail[n]) & 0xC0u) == 0x80u) {
                n--;
            }
        }
    }
    m.detail_len = n;
    return m;
}

int cn_info_body(const cn_info *info, uint8_t *out, size_t out_cap)
{
    if (!info_ok(info)) {
        return CN_E_ARG;
    }
    return emit_body(put_info, info, info_len(info), out, out_cap);
}

int cn_tx_done_body(const cn_tx_done *tx, uint8_t *out, size_t out_cap)
{
    if (tx == NULL) {
        return CN_E_ARG;
    }
    return emit_body(put_tx_done, tx, CN_TX_DONE_LEN, out, out_cap);
}

int cn_rx_body(const cn_rx *rx, uint8_t *out, size_t out_cap)
{
    if (!rx_ok(rx)) {
        return CN_E_ARG;
    }
    return emit_body(put_rx, rx, CN_RX_FIXED_LEN + (size_t)rx->payload_len, out, out_cap);
}

int cn_nack_body(uint8_t code, const char *detail, uint8_t *out, size_t out_cap)
{
    nack_msg m = make_nack(code, detail, CN_MAX_BODY);  /* one more than fits: caught below */
    return emit_body(put_nack, &m, 1u + m.detail_len, out, out_cap);
}

int cn_ack_frame(uint16_t seq, uint8_t *out, size_t out_cap)
{
    return cn_frame_encode(CN_ACK, seq, NULL, 0, out, out_cap);
}

int cn_info_frame(uint16_t seq, const cn_info *info, uint8_t *out, size_t out_cap)
{
    if (!info_ok(info)) {
        return CN_E_ARG;
    }
    return emit_frame(CN_INFO, seq, put_info, info, info_len(info), out, out_cap);
}

int cn_tx_done_frame(uint16_t seq, const cn_tx_done *tx, uint8_t *out, size_t out_cap)
{
    if (tx == NULL) {
        return CN_E_ARG;
    }
    return emit_frame(CN_TX_DONE, seq, put_tx_done, tx, CN_TX_DONE_LEN, out, out_cap);
}

int cn_pong_frame(uint16_t seq, const uint8_t *data, size_t len, uint8_t *out, size_t out_cap)
{
    return cn_frame_encode(CN_PONG, seq, data, len, out, out_cap);
}

int cn_rx_frame(uint16_t seq, const cn_rx *rx, uint8_t *out, size_t out_cap)
{
    if (!rx_ok(rx)) {
        return CN_E_ARG;
    }
    return emit_frame(CN_RX, seq, put_rx, rx, CN_RX_FIXED_LEN + (size_t)rx->payload_len, out,
                      out_cap);
}

int cn_nack_frame(uint16_t seq, uint8_t code, const char *detail, uint8_t *out,
                  size_t out_cap)
{
    nack_msg m = make_nack(code, detail, CN_MAX_BODY);
    return emit_frame(CN_NACK, seq, put_nack, &m, 1u + m.detail_len, out, out_cap);
}

/* ---- request decoders ---------------------------------------------------------------- */

int cn_hello_decode(const uint8_t *body, size_t len, uint8_t *host_version)
{
    if (body == NULL || len != 1) {
        return CN_E_BAD_BODY;
    }
    if (host_version != NULL) {
        *host_version = body[0];
    }
    return CN_OK;
}

int cn_get_info_decode(const uint8_t *body, size_t len)
{
    (void)body;
    return len == 0 ? CN_OK : CN_E_BAD_BODY;
}

int cn_configure_decode(const uint8_t *body, size_t len, cn_configure *cfg)
{
    if (body == NULL || cfg == NULL) {
        return CN_E_ARG;
    }
    if (len != CN_CONFIGURE_LEN) {
        return CN_E_BAD_BODY;
    }
    cfg->freq_hz = get_u32(body);
    cfg->spreading_factor = body[4];
    cfg->bandwidth_hz = get_u32(body + 5);
    cfg->coding_rate = body[9];
    cfg->tx_power_dbm = to_i8(body[10]);
    cfg->sync_word = body[11];
    cfg->preamble_symbols = get_u16(body + 12);
    cfg->flags = body[14];
    return CN_OK;
}

static int lora_bandwidth_ok(uint32_t bw_hz)
{
    switch (bw_hz) {
    case 7800ul: case 10400ul: case 15600ul: case 20800ul: case 31250ul:
    case 41700ul: case 62500ul: case 125000ul: case 250000ul: case 500000ul:
        return 1;
    default:
        return 0;
    }
}

static int bad(const char **field, const char *name, int code)
{
    if (field != NULL) {
        *field = name;
    }
    return code;
}

int cn_configure_check(const cn_configure *cfg, const char **field)
{
    if (cfg == NULL) {
        return CN_E_ARG;
    }
    if (cfg->freq_hz < 137000000ul || cfg->freq_hz > 1020000000ul) {
        return bad(field, "freq_hz", CN_E_BAD_PARAM);
    }
    if (cfg->spreading_factor < 5 || cfg->spreading_factor > 12) {
        return bad(field, "spreading_factor", CN_E_BAD_PARAM);
    }
    if (!lora_bandwidth_ok(cfg->bandwidth_hz)) {
        return bad(field, "bandwidth_hz", CN_E_BAD_PARAM);
    }
    if (cfg->coding_rate < 5 || cfg->coding_rate > 8) {
        return bad(field, "coding_rate", CN_E_BAD_PARAM);
    }
    if (cfg->tx_power_dbm < -9 || cfg->tx_power_dbm > 22) {
        return bad(field, "tx_power_dbm", CN_E_BAD_PARAM);
    }
    if (cfg->preamble_symbols < 6) {
        return bad(field, "preamble_symbols", CN_E_BAD_PARAM);
    }
    if ((cfg->flags & (uint8_t)~CN_CONFIGURE_IQ_INVERTED) != 0) {
        return bad(field, "flags", CN_E_UNSUPPORTED);
    }
    if (field != NULL) {
        *field = NULL;
    }
    return CN_OK;
}

int cn_transmit_decode(const uint8_t *body, size_t len, const uint8_t **payload)
{
    if (len < 1 || len > CN_MAX_TX_PAYLOAD || body == NULL) {
        return CN_E_BAD_PARAM;
    }
    if (payload != NULL) {
        *payload = body;
    }
    return (int)len;
}

int cn_ping_decode(const uint8_t *body, size_t len, const uint8_t **data)
{
    if (len > CN_MAX_BODY || (body == NULL && len > 0)) {
        return CN_E_BAD_BODY;
    }
    if (data != NULL) {
        *data = body;
    }
    return (int)len;
}

int cn_configure_body(const cn_configure *cfg, uint8_t *out, size_t out_cap)
{
    sink s;
    if (cfg == NULL) {
        return CN_E_ARG;
    }
    sink_init(&s, out, out_cap, 0);
    put_u32(&s, cfg->freq_hz);
    put(&s, cfg->spreading_factor);
    put_u32(&s, cfg->bandwidth_hz);
    put(&s, cfg->coding_rate);
    put_i8(&s, cfg->tx_power_dbm);
    put(&s, cfg->sync_word);
    put_u16(&s, cfg->preamble_symbols);
    put(&s, cfg->flags);
    return sink_finish_flat(&s);
}

/* ---- response cache ------------------------------------------------------------------ */

int cn_cache_init(cn_cache *cache)
{
    if (cache == NULL) {
        return CN_E_ARG;
    }
    memset(cache, 0, sizeof(*cache));
    return CN_OK;
}

static int cache_find_seq(const cn_cache *cache, uint16_t seq)
{
    int i;
    for (i = 0; i < CN_CACHE_SLOTS; i++) {
        if (cache->slot[i].state != CN_SLOT_FREE && cache->slot[i].seq == seq) {
            return i;
        }
    }
    return CN_E_NOT_FOUND;
}

int cn_cache_lookup(const cn_cache *cache, const cn_frame *req)
{
    int i;
    const cn_cache_entry *e;
    if (cache == NULL || req == NULL) {
        return CN_E_ARG;
    }
    i = cache_find_seq(cache, req->seq);
    if (i < 0) {
        return i;
    }
    e = &cache->slot[i];
    if (e->req_type != req->type || e->req_crc != req->crc) {
        return CN_E_NOT_FOUND;  /* same seq, another request: carry it out */
    }
    return i;
}

int cn_cache_begin(cn_cache *cache, const cn_frame *req)
{
    int i;
    int k;
    cn_cache_entry *e;
    if (cache == NULL || req == NULL) {
        return CN_E_ARG;
    }
    i = cache_find_seq(cache, req->seq);
    if (i < 0) {
        /* The oldest entry, passing over one still waiting for its response
         * unless every slot is (then the oldest goes all the same). */
        i = cache->next % CN_CACHE_SLOTS;
        for (k = 0; k < CN_CACHE_SLOTS; k++) {
            int j = (cache->next + k) % CN_CACHE_SLOTS;
            if (cache->slot[j].state != CN_SLOT_PENDING) {
                i = j;
                break;
            }
        }
        cache->next = (uint8_t)((i + 1) % CN_CACHE_SLOTS);
    }
    e = &cache->slot[i];
    e->seq = req->seq;
    e->req_crc = req->crc;
    e->req_type = req->type;
    e->state = CN_SLOT_PENDING;
    e->resp_type = 0;
    e->resp_len = 0;
    return i;
}

int cn_cache_complete(cn_cache *cache, uint16_t seq, uint8_t resp_type, const uint8_t *body,
                      size_t len)
{
    int i;
    cn_cache_entry *e;
    if (cache == NULL || (body == NULL && len > 0)) {
        return CN_E_ARG;
    }
    i = cache_find_seq(cache, seq);
    if (i < 0 || cache->slot[i].state != CN_SLOT_PENDING) {
        return CN_E_NOT_FOUND;
    }
    e = &cache->slot[i];
    if (len > CN_CACHE_BODY_MAX) {
        e->state = CN_SLOT_FREE;
        return CN_E_NOSPACE;
    }
    e->resp_type = resp_type;
    e->resp_len = (uint8_t)len;
    if (len > 0) {
        memcpy(e->resp_body, body, len);
    }
    e->state = CN_SLOT_DONE;
    return i;
}

int cn_cache_forget(cn_cache *cache, uint16_t seq)
{
    int i;
    if (cache == NULL) {
        return CN_E_ARG;
    }
    i = cache_find_seq(cache, seq);
    if (i >= 0) {
        cache->slot[i].state = CN_SLOT_FREE;
    }
    return i;
}

int cn_cache_reply(const cn_cache *cache, int slot, uint8_t *out, size_t out_cap)
{
    const cn_cache_entry *e;
    if (cache == NULL || slot < 0 || slot >= CN_CACHE_SLOTS) {
        return CN_E_ARG;
    }
    e = &cache->slot[slot];
    if (e->state == CN_SLOT_PENDING) {
        return CN_E_PENDING;
    }
    if (e->state != CN_SLOT_DONE) {
        return CN_E_NOT_FOUND;
    }
    return cn_frame_encode(e->resp_type, e->seq, e->resp_body, e->resp_len, out, out_cap);
}

/* ---- the device ---------------------------------------------------------------------- */

int cn_device_init(cn_device *dev, const cn_info *info)
{
    if (dev == NULL || !info_ok(info)) {
        return CN_E_ARG;
    }
    memset(dev, 0, sizeof(*dev));
    cn_decoder_init(&dev->decoder);
    cn_cache_init(&dev->cache);
    dev->info = *info;
    return CN_OK;
}

static int refuse(cn_device *dev, const cn_frame *f, int err, const char *field, uint8_t *out,
                  size_t out_cap)
{
    uint8_t code;
    switch (err) {
    case CN_E_BAD_BODY:
        dev->bad_frame++;
        code = CN_NACK_BAD_FRAME;
        break;
    case CN_E_UNSUPPORTED:
        dev->invalid_parameter++;
        code = CN_NACK_UNSUPPORTED;
        break;
    default:
        dev->invalid_parameter++;
        code = CN_NACK_INVALID_PARAMETER;
        break;
    }
    return cn_nack_frame(f->seq, code, field, out, out_cap);
}

int cn_device_handle(cn_device *dev, const cn_frame *f, cn_request *req, uint8_t *out,
                     size_t out_cap)
{
    int r;
    const char *field = NULL;
    if (dev == NULL || f == NULL || req == NULL || out == NULL) {
        return CN_E_ARG;
    }
    memset(req, 0, sizeof(*req));
    switch (f->type) {
    case CN_HELLO:
        if (cn_hello_decode(f->body, f->body_len, &dev->host_version) < 0) {
            return refuse(dev, f, CN_E_BAD_BODY, "HELLO body is 1 byte", out, out_cap);
        }
        /* A new session: forget the old one's responses (its seqs may recur). */
        cn_cache_init(&dev->cache);
        return cn_info_frame(f->seq, &dev->info, out, out_cap);
    case CN_GET_INFO:
        if (cn_get_info_decode(f->body, f->body_len) < 0) {
            return refuse(dev, f, CN_E_BAD_BODY, "GET_INFO body is empty", out, out_cap);
        }
        return cn_info_frame(f->seq, &dev->info, out, out_cap);
    case CN_PING:
        return cn_pong_frame(f->seq, f->body, f->body_len, out, out_cap);
    case CN_CONFIGURE:
    case CN_TRANSMIT:
        break;
    default:
        dev->unknown_type++;
        if (f->type & 0x80u) {
            return CN_E_UNKNOWN_TYPE;  /* a device -> host type: not a request, no answer */
        }
        return cn_nack_frame(f->seq, CN_NACK_UNKNOWN_TYPE, "unknown type", out, out_cap);
    }

    /* CONFIGURE and TRANSMIT act on the radio: a repeat is answered from memory. */
    r = cn_cache_lookup(&dev->cache, f);
    if (r >= 0) {
        dev->repeats++;
        return cn_cache_reply(&dev->cache, r, out, out_cap);  /* CN_E_PENDING: still on air */
    }
    if (dev->transmitting) {
        dev->busy++;
        return cn_nack_frame(f->seq, CN_NACK_BUSY, "transmitting", out, out_cap);
    }
    if (f->type == CN_CONFIGURE) {
        if (cn_configure_decode(f->body, f->body_len, &req->configure) < 0) {
            return refuse(dev, f, CN_E_BAD_BODY, "CONFIGURE body is 15 bytes", out, out_cap);
        }
        r = cn_configure_check(&req->configure, &field);
        if (r < 0) {
            return refuse(dev, f, r, field, out, out_cap);
        }
    } else {
        r = cn_transmit_decode(f->body, f->body_len, &req->payload);
        if (r < 0) {
            return refuse(dev, f, r, "payload is 1..255 bytes", out, out_cap);
        }
        req->payload_len = (uint16_t)r;
        dev->transmitting = 1;
        dev->tx_seq = f->seq;
    }
    cn_cache_begin(&dev->cache, f);
    req->type = f->type;
    req->seq = f->seq;
    return 0;
}

/* Remember a response and end the transmission it answers. */
static void device_answered(cn_device *dev, uint16_t seq, uint8_t type, const uint8_t *body,
                            size_t len, int remember)
{
    if (remember) {
        cn_cache_complete(&dev->cache, seq, type, body, len);
    } else {
        cn_cache_forget(&dev->cache, seq);
    }
    if (dev->transmitting && dev->tx_seq == seq) {
        dev->transmitting = 0;
    }
}

int cn_device_ack(cn_device *dev, uint16_t seq, uint8_t *out, size_t out_cap)
{
    int n;
    if (dev == NULL) {
        return CN_E_ARG;
    }
    n = cn_ack_frame(seq, out, out_cap);
    if (n >= 0) {
        device_answered(dev, seq, CN_ACK, NULL, 0, 1);
    }
    return n;
}

int cn_device_nack(cn_device *dev, uint16_t seq, uint8_t code, const char *detail,
                   uint8_t *out, size_t out_cap)
{
    uint8_t body[CN_CACHE_BODY_MAX];
    nack_msg m;
    int len;
    int n;
    if (dev == NULL) {
        return CN_E_ARG;
    }
    m = make_nack(code, detail, CN_NACK_DETAIL_MAX);
    len = emit_body(put_nack, &m, 1u + m.detail_len, body, sizeof(body));
    if (len < 0) {
        return len;
    }
    n = cn_frame_encode(CN_NACK, seq, body, (size_t)len, out, out_cap);
    if (n >= 0) {
        /* BUSY means "try again": a repeat must be carried out, not refused again. */
        device_answered(dev, seq, CN_NACK, body, (size_t)len, code != CN_NACK_BUSY);
    }
    return n;
}

int cn_device_tx_done(cn_device *dev, uint16_t seq, const cn_tx_done *tx, uint8_t *out,
                      size_t out_cap)
{
    uint8_t body[CN_TX_DONE_LEN];
    int len;
    int n;
    if (dev == NULL) {
        return CN_E_ARG;
    }
    len = cn_tx_done_body(tx, body, sizeof(body));
    if (len < 0) {
        return len;
    }
    n = cn_frame_encode(CN_TX_DONE, seq, body, (size_t)len, out, out_cap);
    if (n >= 0) {
        device_answered(dev, seq, CN_TX_DONE, body, (size_t)len, 1);
    }
    return n;
}

int cn_device_rx(cn_device *dev, const cn_rx *rx, uint8_t *out, size_t out_cap)
{
    uint16_t seq;
    int n;
    if (dev == NULL) {
        return CN_E_ARG;
    }
    seq = (uint16_t)(dev->event_seq == 0xFFFFu ? 1u : dev->event_seq + 1u);
    n = cn_rx_frame(seq, rx, out, out_cap);
    if (n >= 0) {
        dev->event_seq = seq;
    }
    return n;
}

/* ---- the microsecond clock --------------------------------------------------------- */

int cn_clock_init(cn_clock *clk, uint32_t now_us32)
{
    if (clk == NULL) {
        return CN_E_ARG;
    }
    clk->last_us = now_us32;
    clk->wraps = 0;
    return CN_OK;
}

uint64_t cn_clock_update(cn_clock *clk, uint32_t now_us32)
{
    if (now_us32 < clk->last_us) {
        clk->wraps++;
    }
    clk->last_us = now_us32;
    return ((uint64_t)clk->wraps << 32) | now_us32;
}

uint64_t cn_clock_extend(const cn_clock *clk, uint32_t stamp_us32)
{
    uint64_t now = ((uint64_t)clk->wraps << 32) | clk->last_us;
    uint32_t age = clk->last_us - stamp_us32;  /* modulo 2^32 */
    return age > now ? 0 : now - age;
}
