// coverage_net_fw - coverage-net devboard firmware.
//
// Speaks the native serial protocol v1 (firmware_bridge/PROTOCOL.md) on the USB
// serial port and drives an SX127x/SX126x LoRa radio through RadioLib.
// Built against RadioLib 6.6.0 exactly (platformio.ini: lib_deps = jgromes/RadioLib@6.6.0;
// arduino-cli: arduino-cli lib install "RadioLib@6.6.0").
//
// All protocol logic (framing, CRC, message layout, retried-request memory,
// BUSY while transmitting) lives in ../core/cn_protocol.c, which the host tests
// build and check against the shared vectors. This file only moves bytes
// between the serial port, that core and the radio:
//   - one writer: every frame leaves through writeFrame();
//   - one interrupt: the radio's RX-done / TX-done line stamps micros() and sets a flag;
//   - loop(): extend the clock, service the radio flag, feed serial bytes to the core.
// Nothing else may print to Serial: it carries frames only.

#include <RadioLib.h>
#include <cn_protocol.h>

#include "board.h"

#define FW_VERSION "coverage-net-fw 0.1.0"
#define SERIAL_BAUD 115200  // USB CDC ignores it; USB-UART bridges (ESP32 boards) need it
#define TX_GRACE_US 1000000UL  // TX-done IRQ later than 2 x airtime + this: the radio failed

#if defined(ESP32)
#define RADIO_ISR_ATTR IRAM_ATTR
#elif defined(ESP8266)
#define RADIO_ISR_ATTR ICACHE_RAM_ATTR
#else
#define RADIO_ISR_ATTR
#endif

BOARD_RADIO radio = new Module(BOARD_PIN_NSS, BOARD_PIN_IRQ, BOARD_PIN_RST, BOARD_PIN_GPIO);

cn_device dev;                       // decoder, response cache, counters
cn_clock clk;                        // micros() extended to 64 bits
uint8_t wireOut[CN_MAX_WIRE];        // the one output buffer
uint8_t rxPayload[CN_MAX_TX_PAYLOAD];
cn_configure current;                // the configuration the radio runs with
bool configured = false;
bool radioOk = false;

const uint8_t RADIO_IDLE = 0, RADIO_RX = 1, RADIO_TX = 2;
uint8_t radioState = RADIO_IDLE;
uint16_t txSeq = 0;                  // the TRANSMIT on the air
uint32_t txAirtimeUs = 0;
uint32_t txStartUs = 0;

volatile bool radioIrq = false;      // set in the interrupt, cleared in loop()
volatile uint32_t radioIrqUs = 0;    // micros() when the radio raised it

// The radio's DIO line: a packet was received or sent. Only stamp and flag here.
RADIO_ISR_ATTR void onRadioIrq(void) {
  radioIrqUs = micros();
  radioIrq = true;
}

// The only function that writes to the serial port.
void writeFrame(int len) {
  if (len > 0) {
    Serial.write(wireOut, (size_t)len);
  }
}

int32_t roundToInt(float x) {
  return (int32_t)(x < 0.0f ? x - 0.5f : x + 0.5f);
}

int16_t clampInt16(int32_t v) {
  return (int16_t)(v < -32768L ? -32768L : (v > 32767L ? 32767L : v));
}

// RadioLib codes that mean "the chip did not answer", not "that value is not allowed".
bool isRadioFault(int16_t state) {
  return state == RADIOLIB_ERR_CHIP_NOT_FOUND || state == RADIOLIB_ERR_SPI_WRITE_FAILED ||
         state <= -700;  // RADIOLIB_ERR_SPI_CMD_* of the SX126x
}

int16_t beginRadio() {
#if defined(BOARD_PIN_SCK)
  SPI.begin(BOARD_PIN_SCK, BOARD_PIN_MISO, BOARD_PIN_MOSI, BOARD_PIN_NSS);
#endif
#if defined(BOARD_SX126X)
  // Defaults until the host's CONFIGURE; the radio stays idle until then.
  int16_t state = radio.begin(434.0, 125.0, 9, 7, RADIOLIB_SX126X_SYNC_WORD_PRIVATE, 10, 8,
                              BOARD_TCXO_V);
#if defined(BOARD_DIO2_RF_SWITCH)
  if (state == RADIOLIB_ERR_NONE) {
    state = radio.setDio2AsRfSwitch(true);
  }
#endif
#else
  int16_t state = radio.begin();
#endif
  if (state == RADIOLIB_ERR_NONE) {
    // One line serves both events on these chips (SX127x DIO0, SX126x DIO1).
    radio.setPacketReceivedAction(onRadioIrq);
    radio.setPacketSentAction(onRadioIrq);
  }
  return state;
}

// Apply every CONFIGURE field; on failure name the field the radio refused.
int16_t applyConfig(const cn_configure &c, const char **field) {
  int16_t state = radio.standby();
  radioState = RADIO_IDLE;
  if (state != RADIOLIB_ERR_NONE) { *field = "standby"; return state; }
  state = radio.setFrequency((float)c.freq_hz / 1.0e6f);
  if (state != RADIOLIB_ERR_NONE) { *field = "freq_hz"; return state; }
  state = radio.setBandwidth((float)c.bandwidth_hz / 1000.0f);
  if (state != RADIOLIB_ERR_NONE) { *field = "bandwidth_hz"; return state; }
  state = radio.setSpreadingFactor(c.spreading_factor);
  if (state != RADIOLIB_ERR_NONE) { *field = "spreading_factor"; return state; }
  state = radio.setCodingRate(c.coding_rate);
  if (state != RADIOLIB_ERR_NONE) { *field = "coding_rate"; return state; }
  state = radio.setOutputPower(c.tx_power_dbm);
  if (state != RADIOLIB_ERR_NONE) { *field = "tx_power_dbm"; return state; }
  state = radio.setSyncWord(c.sync_word);
  if (state != RADIOLIB_ERR_NONE) { *field = "sync_word"; return state; }
  state = radio.setPreambleLength(c.preamble_symbols);
  if (state != RADIOLIB_ERR_NONE) { *field = "preamble_symbols"; return state; }
  state = radio.invertIQ((c.flags & CN_CONFIGURE_IQ_INVERTED) != 0);
  if (state != RADIOLIB_ERR_NONE) { *field = "flags"; return state; }
  return RADIOLIB_ERR_NONE;
}

int16_t startReceiving() {
  radioIrq = false;
  int16_t state = radio.startReceive();
  radioState = (state == RADIOLIB_ERR_NONE) ? RADIO_RX : RADIO_IDLE;
  return state;
}

// NACK a request the radio refused: "<what> (<RadioLib code>)".
void nackRadio(uint16_t seq, int16_t state, const char *what) {
  char detail[CN_NACK_DETAIL_MAX + 1];
  snprintf(detail, sizeof(detail), "%s (%d)", what, (int)state);
  uint8_t code = isRadioFault(state) ? CN_NACK_RADIO_FAILURE : CN_NACK_INVALID_PARAMETER;
  writeFrame(cn_device_nack(&dev, seq, code, detail, wireOut, sizeof(wireOut)));
}

void handleConfigure(const cn_request &req) {
  if (!radioOk) {
    writeFrame(cn_device_nack(&dev, req.seq, CN_NACK_RADIO_FAILURE, "no radio", wireOut,
                              sizeof(wireOut)));
    return;
  }
  const char *field = "radio";
  int16_t state = applyConfig(req.configure, &field);
  if (state == RADIOLIB_ERR_NONE) {
    state = startReceiving();
    field = "startReceive";
  }
  if (state != RADIOLIB_ERR_NONE) {
    if (configured) {  // back to the last configuration that worked
      const char *ignored;
      if (applyConfig(current, &ignored) == RADIOLIB_ERR_NONE) {
        startReceiving();
      }
    }
    nackRadio(req.seq, state, field);
    return;
  }
  current = req.configure;
  configured = true;
  writeFrame(cn_device_ack(&dev, req.seq, wireOut, sizeof(wireOut)));
}

void serviceRadio();

void handleTransmit(const cn_request &req) {
  if (!radioOk || !configured) {
    uint8_t code = radioOk ? CN_NACK_INVALID_PARAMETER : CN_NACK_RADIO_FAILURE;
    writeFrame(cn_device_nack(&dev, req.seq, code, radioOk ? "CONFIGURE first" : "no radio",
                              wireOut, sizeof(wireOut)));
    return;
  }
  serviceRadio();  // deliver a packet that arrived just before this request
  txAirtimeUs = radio.getTimeOnAir(req.payload_len);
  radioIrq = false;
  // RadioLib 6.6 takes a non-const pointer but only reads the payload.
  int16_t state = radio.startTransmit(const_cast<uint8_t *>(req.payload), req.payload_len);
  if (state != RADIOLIB_ERR_NONE) {
    startReceiving();
    nackRadio(req.seq, state, "startTransmit");
    return;
  }
  txStartUs = micros();
  txSeq = req.seq;
  radioState = RADIO_TX;
}

void finishTransmit(uint64_t doneUs) {
  radio.finishTransmit();
  startReceiving();
  cn_tx_done done;
  done.airtime_us = txAirtimeUs;
  done.radio_timestamp_us = doneUs;
  done.tx_power_dbm = current.tx_power_dbm;
  writeFrame(cn_device_tx_done(&dev, txSeq, &done, wireOut, sizeof(wireOut)));
}

void deliverPacket(uint64_t rxUs) {
  size_t len = radio.getPacketLength();
  if (len > sizeof(rxPayload)) {
    len = sizeof(rxPayload);
  }
  int16_t state = radio.readData(rxPayload, len);
  if (state != RADIOLIB_ERR_NONE && state != RADIOLIB_ERR_CRC_MISMATCH) {
    startReceiving();
    return;  // nothing readable (header error, SPI trouble): no event
  }
  cn_rx rx;
  rx.radio_timestamp_us = rxUs;
  rx.freq_hz = current.freq_hz;
  rx.rssi_cdbm = clampInt16(roundToInt(radio.getRSSI() * 100.0f));
  rx.snr_cdb = clampInt16(roundToInt(radio.getSNR() * 100.0f));
  rx.freq_error_hz = roundToInt(radio.getFrequencyError());
  rx.spreading_factor = current.spreading_factor;
  rx.bandwidth_hz = current.bandwidth_hz;
  rx.coding_rate = current.coding_rate;
  rx.flags = (state == RADIOLIB_ERR_NONE) ? CN_RX_CRC_OK : 0;
  rx.payload = rxPayload;
  rx.payload_len = (uint16_t)len;
  startReceiving();  // RadioLib 6.x stays in continuous RX; restarting is harmless either way
  writeFrame(cn_device_rx(&dev, &rx, wireOut, sizeof(wireOut)));
}

void serviceRadio() {
  if (radioIrq) {
    noInterrupts();
    uint32_t stampUs = radioIrqUs;  // 32-bit copy must not tear on 8-bit MCUs
    radioIrq = false;
    interrupts();
    cn_clock_update(&clk, micros());  // the stamp is now in the clock's past
    uint64_t stamp = cn_clock_extend(&clk, stampUs);
    if (radioState == RADIO_TX) {
      finishTransmit(stamp);
    } else if (radioState == RADIO_RX) {
      deliverPacket(stamp);
    }
    return;
  }
  if (radioState == RADIO_TX && (uint32_t)(micros() - txStartUs) > 2UL * txAirtimeUs + TX_GRACE_US) {
    radio.finishTransmit();
    startReceiving();
    writeFrame(cn_device_nack(&dev, txSeq, CN_NACK_RADIO_FAILURE, "no TX done IRQ", wireOut,
                              sizeof(wireOut)));
  }
}

void serviceSerial() {
  while (Serial.available() > 0) {
    cn_frame frame;
    int r = cn_decoder_feed_byte(&dev.decoder, (uint8_t)Serial.read(), &frame);
    if (r != 1) {
      continue;  // more bytes needed, or a bad frame dropped and counted
    }
    cn_request req;
    int n = cn_device_handle(&dev, &frame, &req, wireOut, sizeof(wireOut));
    if (n > 0) {
      writeFrame(n);  // INFO, PONG, a remembered response, a refusal
    } else if (n == 0 && req.type == CN_CONFIGURE) {
      handleConfigure(req);
    } else if (n == 0 && req.type == CN_TRANSMIT) {
      handleTransmit(req);
    }
    // n < 0: a repeat of the TRANSMIT on the air, or a frame that is not a request
  }
}

void setup() {
  Serial.begin(SERIAL_BAUD);
  cn_clock_init(&clk, micros());
  static const char fw[] = FW_VERSION;
  static const char chip[] = BOARD_CHIP;
  cn_info info;
  info.protocol_version = CN_PROTOCOL_VERSION;
  info.firmware_version = (const uint8_t *)fw;
  info.firmware_version_len = (uint8_t)(sizeof(fw) - 1);
  info.radio_chip = (const uint8_t *)chip;
  info.radio_chip_len = (uint8_t)(sizeof(chip) - 1);
  info.regions = BOARD_REGIONS;
  info.max_payload = CN_MAX_TX_PAYLOAD;
  cn_device_init(&dev, &info);
  radioOk = (beginRadio() == RADIOLIB_ERR_NONE);
  // The radio stays idle until the host's CONFIGURE: never transmit or listen on a guess.
}

void loop() {
  cn_clock_update(&clk, micros());
  serviceRadio();
  serviceSerial();
}
