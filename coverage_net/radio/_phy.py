"""LoRa physical-layer facts: time on air, demodulation floors, noise and sensitivity.

Every function takes scalars or array-likes, broadcasts them against each other and
returns a numpy ndarray of the broadcast shape (0-d for all-scalar input; wrap it in
`float` for a Python number), or fills and returns ``out=``. Invalid input raises
`InvalidInputError` naming the argument, the first bad value and its index.

Spreading factors 7 to 12 are supported. SF6 (implicit header only on SX127x) and
SF5 are left out: their preamble and header rules differ between chip families.
Bandwidths are the SX127x settings given by their nominal labels in Hz (7800 for
7.8 kHz, ...) and are used as given, so the narrowest ones are off by up to 0.2 %
from the chip's 500 kHz / 2^n values.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from coverage_net.radio._errors import InvalidInputError, ShapeMismatchError

__all__ = [
    "BANDWIDTHS_HZ",
    "BOLTZMANN_J_PER_K",
    "LORASIM_SENSITIVITY_DBM",
    "MAX_REPORTED_SNR_DB",
    "SNR_FLOOR_DB",
    "SPREADING_FACTORS",
    "SX1276_SENSITIVITY_DBM",
    "sensitivity_dbm",
    "snr_floor_db",
    "symbol_time_s",
    "thermal_noise_floor_dbm",
    "time_on_air_s",
]

BOLTZMANN_J_PER_K = 1.380649e-23
SPREADING_FACTORS = (7, 8, 9, 10, 11, 12)
BANDWIDTHS_HZ = (7800, 10400, 15600, 20800, 31250, 41700, 62500, 125_000, 250_000, 500_000)

SNR_FLOOR_DB = MappingProxyType({7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0})
"""Lowest SNR (dB) at which each spreading factor still demodulates (Semtech)."""

MAX_REPORTED_SNR_DB = 10.0
"""The packet SNR a LoRa modem reports saturates near +10 dB (SX127x/SX126x): its
estimate comes from the despread symbols, which a strong signal fills. Simulated radios
report at most this, and the verifier expects it."""


def _table(rows: dict[int, tuple[float, float, float]]) -> MappingProxyType:
    return MappingProxyType(
        {
            (sf, bw): dbm
            for sf, row in rows.items()
            for bw, dbm in zip((125_000, 250_000, 500_000), row, strict=True)
        }
    )


SX1276_SENSITIVITY_DBM = _table(
    {
        7: (-123.0, -120.0, -116.0),
        8: (-126.0, -123.0, -119.0),
        9: (-129.0, -125.0, -122.0),
        10: (-132.0, -128.0, -125.0),
        11: (-134.5, -130.0, -128.0),
        12: (-137.0, -133.0, -130.0),
    }
)
"""Receiver sensitivity (dBm) by ``(spreading_factor, bandwidth_hz)``, SX1276 datasheet."""

LORASIM_SENSITIVITY_DBM = _table(
    {
        7: (-126.5, -124.25, -120.75),
        8: (-127.25, -126.75, -124.0),
        9: (-131.25, -128.25, -127.5),
        10: (-132.75, -130.25, -128.75),
        11: (-134.5, -132.75, -128.75),
        12: (-133.25, -132.25, -132.25),
    }
)
"""Measured sensitivity (dBm) by ``(spreading_factor, bandwidth_hz)`` from LoRaSim's
loraDir.py (Bor et al., 2016); note SF12 measured worse than SF11 at 125 kHz."""

_SNR_FLOOR_BY_SF = np.full(13, np.nan)
_SNR_FLOOR_BY_SF[list(SNR_FLOOR_DB)] = list(SNR_FLOOR_DB.values())

# Semtech mandates low-data-rate optimisation once a symbol lasts 16 ms or more.
_LDRO_SYMBOL_TIME_MS = 16


def _describe(name: str, values: np.ndarray, bad: np.ndarray) -> str:
    if values.ndim == 0:
        return f"{name}={values.item()!r}"
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{name} has {values[index].item()!r} at index {index}"


def _reject(name: str, values: np.ndarray, bad: np.ndarray, accepted: str) -> None:
    if np.any(bad):
        raise InvalidInputError(f"{_describe(name, values, bad)}; accepted: {accepted}")


def _numbers(name: str, value: object, accepted: str) -> np.ndarray:
    try:
        values = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be numeric ({accepted}); got {value!r}") from None
    _reject(name, values, np.isnan(values), f"{accepted} (NaN is not)")
    _reject(name, values, np.isinf(values), f"{accepted} (infinity is not)")
    return values


def _whole(name: str, value: object, low: int, high: int, accepted: str = "") -> np.ndarray:
    accepted = accepted or f"whole numbers from {low} to {high}"
    values = _numbers(name, value, accepted)
    _reject(name, values, (values != np.round(values)) | (values < low) | (values > high),
            accepted)
    return values


def _spreading_factor(value: object) -> np.ndarray:
    return _whole("spreading_factor", value, 7, 12,
                  "whole numbers from 7 to 12 (SF5 and SF6 are not supported)")


def _lora_bandwidth(value: object) -> np.ndarray:
    accepted = "one of " + ", ".join(str(bw) for bw in BANDWIDTHS_HZ) + " Hz"
    values = _numbers("bandwidth_hz", value, accepted)
    _reject("bandwidth_hz", values, ~np.isin(values, BANDWIDTHS_HZ), accepted)
    return values


def _flag(name: str, value: object) -> np.ndarray:
    values = np.asarray(value)
    if values.dtype == bool:
        return values
    numbers = _numbers(name, value, "True/False or 1/0")
    _reject(name, numbers, ~np.isin(numbers, (0, 1)), "True/False or 1/0")
    return numbers.astype(bool)


def _shape(**arrays: np.ndarray) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{name}{a.shape}" for name, a in arrays.items())
        raise ShapeMismatchError(
            f"arguments do not broadcast together: {shapes}; give arrays whose shapes "
            "are equal or 1 in each dimension"
        ) from None


def _finish(result: np.ndarray, shape: tuple[int, ...], out: np.ndarray | None) -> np.ndarray:
    result = np.asarray(result, dtype=float)
    if result.shape != shape:
        result = np.broadcast_to(result, shape).copy()
    if out is None:
        return result
    if not isinstance(out, np.ndarray) or out.shape != shape:
        got = out.shape if isinstance(out, np.ndarray) else type(out).__name__
        raise ShapeMismatchError(f"out must be an ndarray of shape {shape}; got {got}")
    if not np.can_cast(result.dtype, out.dtype, casting="same_kind"):
        raise InvalidInputError(f"out must have a floating dtype; got {out.dtype}")
    np.copyto(out, result)
    return out


def symbol_time_s(
    spreading_factor: object, bandwidth_hz: object = 125_000, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Duration of one LoRa chirp symbol, 2**SF / BW, in seconds.

    Parameters
    ----------
    spreading_factor : array_like of int
        7 to 12.
    bandwidth_hz : array_like of int, default 125000
        One of `BANDWIDTHS_HZ`.
    out : ndarray, optional
        Array of the broadcast shape to fill.

    Returns
    -------
    ndarray
        Seconds, in the broadcast shape of the inputs.

    Examples
    --------
    >>> symbol_time_s([7, 12], 125_000)
    array([0.001024, 0.032768])
    """
    sf = _spreading_factor(spreading_factor)
    bw = _lora_bandwidth(bandwidth_hz)
    return _finish(np.exp2(sf) / bw, _shape(spreading_factor=sf, bandwidth_hz=bw), out)


def time_on_air_s(
    payload_bytes: object,
    spreading_factor: object,
    bandwidth_hz: object = 125_000,
    coding_rate: object = 5,
    preamble_symbols: object = 8,
    explicit_header: object = True,
    crc: object = True,
    low_data_rate_optimize: object = None,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Airtime of one LoRa packet, per Semtech AN1200.13 (the SX127x datasheet formula).

    ``T = (n_preamble + 4.25 + n_payload) * 2**SF / BW`` with
    ``n_payload = 8 + max(ceil((8 PL - 4 SF + 28 + 16 CRC - 20 IH) / (4 (SF - 2 DE))) * CR, 0)``.
    Airtime drives duty-cycle and dwell-time budgets and collision windows, so it is
    computed exactly, symbol by symbol, rather than from a bit rate.

    Parameters
    ----------
    payload_bytes : array_like of int
        PHY payload length, 0 to 255 (for LoRaWAN: MAC header, payload and MIC).
    spreading_factor : array_like of int
        7 to 12.
    bandwidth_hz : array_like of int, default 125000
        One of `BANDWIDTHS_HZ`.
    coding_rate : array_like of int, default 5
        Denominator of the 4/x code rate: 5 to 8 (4/5 to 4/8).
    preamble_symbols : array_like of int, default 8
        Programmed preamble length, 0 to 65535 (LoRaWAN uses 8).
    explicit_header : array_like of bool, default True
        False for implicit-header packets (IH = 1).
    crc : array_like of bool, default True
        Whether a payload CRC is sent.
    low_data_rate_optimize : array_like of bool or None, default None
        DE; None switches it on where a symbol lasts 16 ms or more (SF11 and SF12 at
        125 kHz), as LoRaWAN devices do.
    out : ndarray, optional
        Array of the broadcast shape to fill.

    Returns
    -------
    ndarray
        Seconds, in the broadcast shape of the inputs.

    Examples
    --------
    >>> time_on_air_s(20, 7)
    array(0.056576)
    >>> time_on_air_s(51, [7, 12])
    array([0.102656, 2.465792])
    """
    pl = _whole("payload_bytes", payload_bytes, 0, 255)
    sf = _spreading_factor(spreading_factor)
    bw = _lora_bandwidth(bandwidth_hz)
    cr = _whole("coding_rate", coding_rate, 5, 8, "whole numbers 5 to 8 (for 4/5 to 4/8)")
    n_preamble = _whole("preamble_symbols", preamble_symbols, 0, 65535)
    implicit = ~_flag("explicit_header", explicit_header)
    crc_on = _flag("crc", crc)
    if low_data_rate_optimize is None:
        de = np.asarray(False)
    else:
        de = _flag("low_data_rate_optimize", low_data_rate_optimize)
    shape = _shape(
        payload_bytes=pl, spreading_factor=sf, bandwidth_hz=bw, coding_rate=cr,
        preamble_symbols=n_preamble, explicit_header=implicit, crc=crc_on,
        low_data_rate_optimize=de,
    )
    if low_data_rate_optimize is None:
        de = np.exp2(sf) * 1000 >= _LDRO_SYMBOL_TIME_MS * bw
    numerator = 8 * pl - 4 * sf + 28 + 16 * crc_on - 20 * implicit
    payload_symbols = 8 + np.maximum(np.ceil(numerator / (4 * (sf - 2 * de))) * cr, 0)
    # Multiply by 2**SF before dividing by BW: keeps textbook values exact in binary.
    seconds = (n_preamble + 4.25 + payload_symbols) * np.exp2(sf) / bw
    return _finish(seconds, shape, out)


def snr_floor_db(spreading_factor: object, *, out: np.ndarray | None = None) -> np.ndarray:
    """Demodulation SNR floor of each spreading factor, from `SNR_FLOOR_DB`.

    Parameters
    ----------
    spreading_factor : array_like of int
        7 to 12.
    out : ndarray, optional
        Array of the same shape to fill.

    Returns
    -------
    ndarray
        dB, in the shape of ``spreading_factor``.

    Examples
    --------
    >>> snr_floor_db([7, 10, 12])
    array([ -7.5, -15. , -20. ])
    """
    sf = _spreading_factor(spreading_factor)
    return _finish(_SNR_FLOOR_BY_SF[sf.astype(np.intp)], sf.shape, out)


def thermal_noise_floor_dbm(
    bandwidth_hz: object,
    noise_figure_db: object = 6.0,
    temperature_k: object = 290.0,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Receiver noise floor, 10 log10(k T B / 1 mW) + NF, in dBm.

    With the exact Boltzmann constant this is -173.98 dBm/Hz at 290 K, not the
    rounded -174 dBm/Hz, so 125 kHz with NF 6 dB gives -117.006 dBm (not -117.03).

    Parameters
    ----------
    bandwidth_hz : array_like of float
        Noise bandwidth, positive; any value, not only LoRa settings.
    noise_figure_db : array_like of float, default 6.0
        Receiver noise figure, non-negative.
    temperature_k : array_like of float, default 290.0
        Noise temperature, positive.
    out : ndarray, optional
        Array of the broadcast shape to fill.

    Returns
    -------
    ndarray
        dBm, in the broadcast shape of the inputs.

    Examples
    --------
    >>> round(float(thermal_noise_floor_dbm(125_000)), 3)
    -117.006
    """
    bw = _numbers("bandwidth_hz", bandwidth_hz, "positive bandwidths in Hz")
    _reject("bandwidth_hz", bw, bw <= 0, "positive bandwidths in Hz")
    nf = _numbers("noise_figure_db", noise_figure_db, "non-negative noise figures in dB")
    _reject("noise_figure_db", nf, nf < 0, "non-negative noise figures in dB")
    temp = _numbers("temperature_k", temperature_k, "positive temperatures in kelvin")
    _reject("temperature_k", temp, temp <= 0, "positive temperatures in kelvin")
    shape = _shape(bandwidth_hz=bw, noise_figure_db=nf, temperature_k=temp)
    return _finish(10.0 * np.log10(BOLTZMANN_J_PER_K * temp * bw * 1000.0) + nf, shape, out)


def sensitivity_dbm(
    spreading_factor: object,
    bandwidth_hz: object = 125_000,
    noise_figure_db: object = 6.0,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Textbook receiver sensitivity: thermal noise floor (290 K) plus SNR floor.

    An estimate from first principles, 0 to 2.5 dB more optimistic than the SX1276
    datasheet (`SX1276_SENSITIVITY_DBM`), most at SF7 and 500 kHz. LoRaSim's
    measurements (`LORASIM_SENSITIVITY_DBM`) differ again; pick the table that
    matches the question being asked.

    Parameters
    ----------
    spreading_factor : array_like of int
        7 to 12.
    bandwidth_hz : array_like of int, default 125000
        One of `BANDWIDTHS_HZ`.
    noise_figure_db : array_like of float, default 6.0
        Receiver noise figure, non-negative.
    out : ndarray, optional
        Array of the broadcast shape to fill.

    Returns
    -------
    ndarray
        dBm, in the broadcast shape of the inputs.

    Examples
    --------
    >>> np.round(sensitivity_dbm([7, 12]), 2)
    array([-124.51, -137.01])
    """
    sf = _spreading_factor(spreading_factor)
    bw = _lora_bandwidth(bandwidth_hz)
    nf = _numbers("noise_figure_db", noise_figure_db, "non-negative noise figures in dB")
    shape = _shape(spreading_factor=sf, bandwidth_hz=bw, noise_figure_db=nf)
    floor = thermal_noise_floor_dbm(bw, nf)
    return _finish(floor + _SNR_FLOOR_BY_SF[sf.astype(np.intp)], shape, out)
