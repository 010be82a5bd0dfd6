// board.h - pins and radio chip of each supported devboard.
//
// Choose with -DCN_BOARD_<NAME> (the PlatformIO environments do) or let the
// Arduino core's board macro pick; with neither, the sketch assumes an
// Adafruit Feather M0 RFM95. Check the pins against your board's schematic:
// clones move them.
//
// BOARD_RADIO        RadioLib class of the chip (BOARD_SX126X set for the SX126x family)
// BOARD_CHIP         name reported in INFO
// BOARD_REGIONS      INFO regions bit mask the antenna/matching network covers
// BOARD_PIN_NSS      SPI chip select
// BOARD_PIN_IRQ      SX127x: DIO0 (RX done / TX done); SX126x: DIO1
// BOARD_PIN_RST      reset
// BOARD_PIN_GPIO     SX127x: DIO1 (or RADIOLIB_NC); SX126x: BUSY
// BOARD_PIN_SCK/MISO/MOSI   only where the radio is not on the default SPI pins
// BOARD_TCXO_V       SX126x: TCXO voltage on DIO3 (0 for a crystal)
// BOARD_DIO2_RF_SWITCH      SX126x: DIO2 drives the antenna switch
#ifndef COVERAGE_NET_BOARD_H
#define COVERAGE_NET_BOARD_H

#include <cn_protocol.h>

#define CN_REGIONS_915 (CN_REGION_US915 | CN_REGION_AU915 | CN_REGION_AS923_1 | CN_REGION_KR920)
#define CN_REGIONS_868 (CN_REGION_EU868 | CN_REGION_IN865)

#if defined(CN_BOARD_TTGO_LORA32_V21) || defined(ARDUINO_TTGO_LoRa32_v21new)
// LilyGO TTGO LoRa32 v2.1 (T3 v1.6.1): ESP32 + SX1276
#define BOARD_NAME "TTGO LoRa32 v2.1"
#define BOARD_RADIO SX1276
#define BOARD_CHIP "SX1276"
#define BOARD_PIN_NSS 18
#define BOARD_PIN_IRQ 26
#define BOARD_PIN_RST 23
#define BOARD_PIN_GPIO 33
#define BOARD_PIN_SCK 5
#define BOARD_PIN_MISO 19
#define BOARD_PIN_MOSI 27

#elif defined(CN_BOARD_HELTEC_V3) || defined(ARDUINO_heltec_wifi_lora_32_V3)
// Heltec WiFi LoRa 32 V3: ESP32-S3 + SX1262, TCXO on DIO3, RF switch on DIO2
#define BOARD_NAME "Heltec WiFi LoRa 32 V3"
#define BOARD_RADIO SX1262
#define BOARD_SX126X 1
#define BOARD_CHIP "SX1262"
#define BOARD_PIN_NSS 8
#define BOARD_PIN_IRQ 14
#define BOARD_PIN_RST 12
#define BOARD_PIN_GPIO 13
#define BOARD_PIN_SCK 9
#define BOARD_PIN_MISO 11
#define BOARD_PIN_MOSI 10
#define BOARD_TCXO_V 1.8f
#define BOARD_DIO2_RF_SWITCH 1

#elif defined(CN_BOARD_FEATHER_32U4_RFM95) || defined(ARDUINO_AVR_FEATHER32U4)
// Adafruit Feather 32u4 RFM95 (2.5 KB RAM: the core fits, barely)
#define BOARD_NAME "Adafruit Feather 32u4 RFM95"
#define BOARD_RADIO SX1276
#define BOARD_CHIP "SX1276"
#define BOARD_PIN_NSS 8
#define BOARD_PIN_IRQ 7
#define BOARD_PIN_RST 4
#define BOARD_PIN_GPIO RADIOLIB_NC

#else
// Adafruit Feather M0 RFM95 (CN_BOARD_FEATHER_M0_RFM95, ARDUINO_SAMD_FEATHER_M0), the default
#define BOARD_NAME "Adafruit Feather M0 RFM95"
#define BOARD_RADIO SX1276
#define BOARD_CHIP "SX1276"
#define BOARD_PIN_NSS 8
#define BOARD_PIN_IRQ 3
#define BOARD_PIN_RST 4
#define BOARD_PIN_GPIO RADIOLIB_NC
#endif

// The 915 MHz build of each board unless told otherwise (-DCN_BAND_868).
#ifndef BOARD_REGIONS
#if defined(CN_BAND_868)
#define BOARD_REGIONS CN_REGIONS_868
#else
#define BOARD_REGIONS CN_REGIONS_915
#endif
#endif

#ifndef BOARD_TCXO_V
#define BOARD_TCXO_V 0.0f
#endif

#endif  // COVERAGE_NET_BOARD_H
