/*
 * cn_protocol.h - the device side of the coverage-net native serial protocol,
 * version 1 (firmware_bridge/PROTOCOL.md is the specification).
 *
 * Plain C99 for any MCU and for the host tests: no Arduino headers, no malloc,
 * no mutable globals. The caller owns every buffer and every state struct.
 * Functions return a length (>= 0) or a negative CN_E_* code; the only
 * exceptions return a value that cannot fail (cn_crc16*, cn_clock_*).
 * Multi-byte fields are packed byte by byte, little-endian, so the same code
 * runs on AVR (16-bit int), ARM, Xtensa and x86.
 *
 * Layers, bottom up:
 *   cn_cobs_* / cn_crc16      framing primitives
 *   cn_frame_* / cn_decoder   whole frames, streaming decode with drop counters
 *   cn_*_body / cn_*_frame    message encoders (device -> host)
 *   cn_*_decode               request decoders (host -> device)
 *   cn_cache                  responses to the last seqs, for retried requests
 *   cn_device                 the request state machine the sketch drives
 */
#ifndef CN_PROTOCOL_H
#define CN_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sizes ------------------------------------------------------------------------- */

#define CN_PROTOCOL_VERSION 1
#define CN_HEADER_LEN 6                 /* version type seq:u16 length:u16 */
#define CN_CRC_LEN 2
#define CN_MIN_RAW 8                    /* header + crc, empty body */
#define CN_MAX_BODY 320
#define CN_MAX_RAW 328                  /* 6 + 320 + 2 */
#define CN_MAX_ENCODED 330              /* COBS(raw) of the largest frame, no delimiter */
#define CN_MAX_WIRE 331                 /* ... plus the 0x00 delimiter */
#define CN_COBS_MAX_INPUT 16000         /* keeps every length inside a 16-bit int */
/* Bytes COBS needs for n input bytes (no delimiter). */
#define CN_COBS_ENCODED_MAX(n) ((n) + (n) / 254u + 1u)
/* Wire bytes of a frame whose body has n bytes. */
#define CN_WIRE_LEN_MAX(n) (CN_COBS_ENCODED_MAX((n) + CN_MIN_RAW) + 1u)

#define CN_MAX_TX_PAYLOAD 255           /* a LoRa packet */
#define CN_CONFIGURE_LEN 15
#define CN_TX_DONE_LEN 13
#define CN_RX_FIXED_LEN 27              /* RX body without the payload */

/* ---- message types, NACK codes, flags ----------------------------------------------- */

enum cn_type {
    CN_HELLO = 0x01,      /* host -> device: host_version:u8 */
    CN_GET_INFO = 0x02,   /* host -> device: empty */
    CN_CONFIGURE = 0x03,  /* host -> device: 15 bytes */
    CN_TRANSMIT = 0x04,   /* host -> device: payload[1..255] */
    CN_PING = 0x05,       /* host -> device: data[0..320] */
    CN_ACK = 0x80,
    CN_INFO = 0x81,
    CN_TX_DONE = 0x84,
    CN_PONG = 0x85,
    CN_RX = 0x90,         /* unsolicited */
    CN_NACK = 0xFF
};

enum cn_nack_code {
    CN_NACK_BUSY = 1,
    CN_NACK_INVALID_PARAMETER = 2,
    CN_NACK_UNSUPPORTED = 3,
    CN_NACK_RADIO_FAILURE = 4,
    CN_NACK_BAD_FRAME = 5,
    CN_NACK_UNKNOWN_TYPE = 6
};

#define CN_CONFIGURE_IQ_INVERTED 0x01u  /* CONFIGURE flags bit 0 */
#define CN_RX_CRC_OK 0x01u              /* RX flags bit 0 */

/* INFO regions bit mask */
#define CN_REGION_US915 0x0001u
#define CN_REGION_EU868 0x0002u
#define CN_REGION_AU915 0x0004u
#define CN_REGION_AS923_1 0x0008u
#define CN_REGION_KR920 0x0010u
#define CN_REGION_IN865 0x0020u

/* ---- error codes (always negative) ------------------------------------------------- */

enum cn_error {
    CN_OK = 0,
    CN_E_NOSPACE = -1,      /* the output buffer is too small */
    CN_E_ARG = -2,          /* an argument is out of range (body too long, NULL) */
    /* frame drops, in the order the decoder checks them (PROTOCOL.md "Framing") */
    CN_E_COBS = -3,         /* cobs_error */
    CN_E_TRUNCATED = -4,    /* truncated: fewer than 8 raw bytes */
    CN_E_OVERSIZE = -5,     /* oversize: more than the largest frame without a delimiter */
    CN_E_BAD_VERSION = -6,  /* bad_version */
    CN_E_BAD_LENGTH = -7,   /* bad_length: length field disagrees with the frame size */
    CN_E_BAD_CRC = -8,      /* bad_crc */
    /* bodies of well-framed requests */
    CN_E_BAD_BODY = -9,     /* body size wrong for its type: NACK BAD_FRAME */
    CN_E_BAD_PARAM = -10,   /* a field out of range: NACK INVALID_PARAMETER */
    CN_E_UNSUPPORTED = -11, /* a feature this device lacks: NACK UNSUPPORTED */
    CN_E_UNKNOWN_TYPE = -12,/* a type the device does not take (dropped, counted) */
    /* response cache */
    CN_E_PENDING = -13,     /* a repeat of a request still being carried out */
    CN_E_NOT_FOUND = -14    /* no cache entry for that seq */
};

/* ---- framing primitives ------------------------------------------------------------ */

/* COBS-encode `len` bytes (no 0x00 delimiter appended). Follows the reference
 * encoder of Cheshire & Baker: a run of 254 non-zero bytes gets code 0xFF and
 * the last block always gets its own code byte. Returns the encoded length. */
int cn_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap);

/* Invert cn_cobs_encode (delimiter already removed). CN_E_COBS on input no
 * encoder produces: empty, a 0x00 inside, a block running past the end. */
int cn_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap);

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR.
 * cn_crc16(b"123456789", 9) == 0x29B1. Bitwise, so no table costs AVR RAM. */
uint16_t cn_crc16(const uint8_t *data, size_t len);
uint16_t cn_crc16_update(uint16_t crc, const uint8_t *data, size_t len);

/* ---- frames ------------------------------------------------------------------------ */

/* A frame that passed every framing check. `body` points into the decoder (or
 * the raw buffer given to cn_frame_parse) and is valid until the next feed. */
typedef struct {
    uint8_t type;
    uint16_t seq;
    uint16_t crc;        /* the frame's own CRC: a fingerprint for the response cache */
    uint16_t body_len;
    const uint8_t *body;
} cn_frame;

/* Wire bytes of one frame: COBS(version type seq length body crc) 0x00.
 * Needs out_cap >= CN_WIRE_LEN_MAX(body_len). Returns the wire length. */
int cn_frame_encode(uint8_t type, uint16_t seq, const uint8_t *body, size_t body_len,
                    uint8_t *out, size_t out_cap);

/* Check a raw (COBS-decoded) frame: truncated, oversize, bad_version,
 * bad_length, bad_crc, in that order. Returns the body length or a CN_E_*. */
int cn_frame_parse(const uint8_t *raw, size_t raw_len, cn_frame *frame);

/* The streaming decoder: feed it every byte from the port. */
typedef struct {
    uint8_t raw[CN_MAX_RAW];  /* the current frame, COBS-decoded as it arrives */
    uint16_t raw_len;         /* raw bytes so far (beyond CN_MAX_RAW counted, not kept) */
    uint16_t enc_len;         /* encoded bytes so far */
    uint8_t block_left;       /* data bytes still due in the current COBS block */
    uint8_t zero_due;         /* the next code byte implies a 0x00 first */
    uint8_t discarding;       /* oversize: skipping to the next delimiter */
    /* frames delivered, and frames dropped by reason (PROTOCOL.md names) */
    uint32_t frames;
    uint32_t cobs_error;
    uint32_t truncated;
    uint32_t bad_version;
    uint32_t bad_length;
    uint32_t bad_crc;
    uint32_t oversize;
} cn_decoder;

int cn_decoder_init(cn_decoder *dec);   /* zero everything, counters included */
int cn_decoder_reset(cn_decoder *dec);  /* forget a partial frame, keep the counters */

/* Returns 1 when `byte` completed a valid frame (now in *frame_out), 0 when
 * more bytes are needed (an empty frame, 0x00 0x00, is the resync idiom and
 * not counted), or the negative CN_E_* reason of a frame it just dropped and
 * counted. Decoding always carries on with the next byte. */
int cn_decoder_feed_byte(cn_decoder *dec, uint8_t byte, cn_frame *frame_out);

/* ---- messages the device sends ----------------------------------------------------- */

typedef struct {
    uint8_t protocol_version;
    const uint8_t *firmware_version;  /* UTF-8, not NUL-terminated */
    uint8_t firmware_version_len;
    const uint8_t *radio_chip;
    uint8_t radio_chip_len;
    uint16_t regions;                 /* CN_REGION_* */
    uint8_t max_payload;
} cn_info;

typedef struct {
    uint32_t airtime_us;
    uint64_t radio_timestamp_us;      /* device clock at the end of transmission */
    int8_t tx_power_dbm;
} cn_tx_done;

typedef struct {
    uint64_t radio_timestamp_us;      /* device clock captured in the receive interrupt */
    uint32_t freq_hz;
    int16_t rssi_cdbm;                /* hundredths of a dBm */
    int16_t snr_cdb;                  /* hundredths of a dB */
    int32_t freq_error_hz;
    uint8_t spreading_factor;
    uint32_t bandwidth_hz;
    uint8_t coding_rate;              /* 5..8 for 4/5..4/8 */
    uint8_t flags;                    /* CN_RX_CRC_OK */
    const uint8_t *payload;
    uint16_t payload_len;
} cn_rx;

/* Bodies, packed into `out`; each returns the body length. */
int cn_info_body(const cn_info *info, uint8_t *out, size_t out_cap);
int cn_tx_done_body(const cn_tx_done *tx, uint8_t *out, size_t out_cap);
int cn_rx_body(const cn_rx *rx, uint8_t *out, size_t out_cap);
int cn_nack_body(uint8_t code, const char *detail, uint8_t *out, size_t out_cap);

/* Whole frames, COBS-encoded straight into `out` with no body buffer in
 * between (an RX frame needs no 282-byte scratch on an AVR). Each returns the
 * wire length; out_cap >= CN_MAX_WIRE always suffices. */
int cn_ack_frame(uint16_t seq, uint8_t *out, size_t out_cap);
int cn_info_frame(uint16_t seq, const cn_info *info, uint8_t *out, size_t out_cap);
int cn_tx_done_frame(uint16_t seq, const cn_tx_done *tx, uint8_t *out, size_t out_cap);
int cn_pong_frame(uint16_t seq, const uint8_t *data, size_t len, uint8_t *out, size_t out_cap);
int cn_rx_frame(uint16_t seq, const cn_rx *rx, uint8_t *out, size_t out_cap);
/* `detail` is NUL-terminated UTF-8 text, or NULL for none. */
int cn_nack_frame(uint16_t seq, uint8_t code, const char *detail, uint8_t *out,
                  size_t out_cap);

/* ---- requests the device receives -------------------------------------------------- */

typedef struct {
    uint32_t freq_hz;
    uint8_t spreading_factor;
    uint32_t bandwidth_hz;
    uint8_t coding_rate;        /* 5..8 for 4/5..4/8 */
    int8_t tx_power_dbm;
    uint8_t sync_word;
    uint16_t preamble_symbols;
    uint8_t flags;              /* CN_CONFIGURE_IQ_INVERTED */
} cn_configure;

/* Each returns 0 (or the payload length) or CN_E_BAD_BODY / CN_E_BAD_PARAM. */
int cn_hello_decode(const uint8_t *body, size_t len, uint8_t *host_version);
int cn_get_info_decode(const uint8_t *body, size_t len);
int cn_configure_decode(const uint8_t *body, size_t len, cn_configure *cfg);
/* Ranges any SX127x/SX126x could take (the chip may still refuse some):
 * CN_E_BAD_PARAM or CN_E_UNSUPPORTED (reserved flag bits), naming the field in
 * *field when field is not NULL. */
int cn_configure_check(const cn_configure *cfg, const char **field);
/* Returns the payload length, 1..255. */
int cn_transmit_decode(const uint8_t *body, size_t len, const uint8_t **payload);
/* Returns the data length, 0..320. */
int cn_ping_decode(const uint8_t *body, size_t len, const uint8_t **data);

/* The inverse, for host-side tools and tests. */
int cn_configure_body(const cn_configure *cfg, uint8_t *out, size_t out_cap);

/* ---- response cache ---------------------------------------------------------------- */

/* Remembers the responses to the last CN_CACHE_SLOTS requests that act on the
 * radio (CONFIGURE, TRANSMIT), so a request resent with the same seq is
 * answered from memory and a retried TRANSMIT never goes on the air twice.
 * An entry matches a repeat only if seq, type and frame CRC all agree, so a
 * new request that merely reuses a seq is carried out. */
#define CN_CACHE_SLOTS 8
#define CN_CACHE_BODY_MAX 24   /* TX_DONE is 13, ACK 0, NACK 1 + short detail */

enum cn_cache_state { CN_SLOT_FREE = 0, CN_SLOT_PENDING = 1, CN_SLOT_DONE = 2 };

typedef struct {
    uint16_t seq;
    uint16_t req_crc;
    uint8_t req_type;
    uint8_t state;              /* enum cn_cache_state */
    uint8_t resp_type;
    uint8_t resp_len;
    uint8_t resp_body[CN_CACHE_BODY_MAX];
} cn_cache_entry;

typedef struct {
    cn_cache_entry slot[CN_CACHE_SLOTS];
    uint8_t next;               /* round-robin: the oldest entry */
} cn_cache;

int cn_cache_init(cn_cache *cache);
/* Slot index of an entry for this very request, or CN_E_NOT_FOUND. */
int cn_cache_lookup(const cn_cache *cache, const cn_frame *req);
/* Reserve a pending entry for a request about to be carried out (replacing
 * any entry of the same seq, else the oldest finished one). Slot index. */
int cn_cache_begin(cn_cache *cache, const cn_frame *req);
/* Store the response to the pending request `seq`. Slot index, or
 * CN_E_NOT_FOUND (no pending entry), or CN_E_NOSPACE (body too long: the
 * entry is freed, so a repeat is carried out again). */
int cn_cache_complete(cn_cache *cache, uint16_t seq, uint8_t resp_type,
                      const uint8_t *body, size_t len);
/* Drop the entry of `seq` (a refusal worth retrying, like BUSY). Slot index. */
int cn_cache_forget(cn_cache *cache, uint16_t seq);
/* Wire bytes of the stored response in `slot`, or CN_E_PENDING. */
int cn_cache_reply(const cn_cache *cache, int slot, uint8_t *out, size_t out_cap);

/* ---- the device -------------------------------------------------------------------- */

/* What the firmware must carry out: CONFIGURE (apply `configure`, start
 * receiving) or TRANSMIT (`payload` points into the decoder: hand it to the
 * radio before feeding the next byte). */
typedef struct {
    uint8_t type;               /* CN_CONFIGURE or CN_TRANSMIT; 0 when nothing to do */
    uint16_t seq;
    cn_configure configure;
    const uint8_t *payload;
    uint16_t payload_len;
} cn_request;

#define CN_NACK_DETAIL_MAX (CN_CACHE_BODY_MAX - 1)  /* longer details are cut */

typedef struct {
    cn_decoder decoder;
    cn_cache cache;
    cn_info info;
    uint16_t event_seq;         /* seq of the last RX event */
    uint16_t tx_seq;            /* seq of the TRANSMIT on the air */
    uint8_t transmitting;
    uint8_t host_version;       /* from the last HELLO */
    /* requests refused or dropped above the framing layer */
    uint32_t unknown_type;
    uint32_t bad_frame;
    uint32_t invalid_parameter;
    uint32_t busy;
    uint32_t repeats;           /* requests answered from the cache (or ignored while pending) */
} cn_device;

int cn_device_init(cn_device *dev, const cn_info *info);

/* Decide what to do with a frame from cn_decoder_feed_byte(&dev->decoder, ...):
 *   > 0  a reply of that many bytes is in `out`: write it (INFO for HELLO and
 *        GET_INFO, PONG, a cached response to a repeat, a NACK refusal);
 *   0    `req` holds a CONFIGURE or TRANSMIT to carry out, then answer with
 *        cn_device_ack / cn_device_nack / cn_device_tx_done;
 *   < 0  nothing to send: CN_E_PENDING (repeat of the TRANSMIT on the air) or
 *        CN_E_UNKNOWN_TYPE (a device -> host type, bit 7 set: dropped).
 * HELLO starts a session: the cache is cleared, so a host that restarted
 * its seq counter is never answered from a previous session's memory.
 * While a TRANSMIT is on the air, CONFIGURE and TRANSMIT get NACK BUSY. */
int cn_device_handle(cn_device *dev, const cn_frame *frame, cn_request *req, uint8_t *out,
                     size_t out_cap);

/* Answers to a request returned by cn_device_handle; each is remembered for
 * repeats (except BUSY) and ends the transmission when seq is the TRANSMIT's.
 * Each returns the wire length written to `out`. */
int cn_device_ack(cn_device *dev, uint16_t seq, uint8_t *out, size_t out_cap);
int cn_device_nack(cn_device *dev, uint16_t seq, uint8_t code, const char *detail,
                   uint8_t *out, size_t out_cap);
int cn_device_tx_done(cn_device *dev, uint16_t seq, const cn_tx_done *tx, uint8_t *out,
                      size_t out_cap);
/* An RX event with the device's next event seq (1..65535, wrapping). */
int cn_device_rx(cn_device *dev, const cn_rx *rx, uint8_t *out, size_t out_cap);

/* ---- the microsecond clock --------------------------------------------------------- */

/* Extends a wrapping 32-bit microsecond counter (Arduino micros()) to 64 bits. */
typedef struct {
    uint32_t last_us;
    uint32_t wraps;
} cn_clock;

int cn_clock_init(cn_clock *clk, uint32_t now_us32);
/* Call with the current counter at least once per wrap (71.6 min); returns now. */
uint64_t cn_clock_update(cn_clock *clk, uint32_t now_us32);
/* The 64-bit time of a 32-bit stamp taken (in an interrupt, say) no later
 * than the last update and less than one wrap before it. */
uint64_t cn_clock_extend(const cn_clock *clk, uint32_t stamp_us32);

#ifdef __cplusplus
}
#endif

#endif /* CN_PROTOCOL_H */
