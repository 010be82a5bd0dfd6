"""Impairments: how the simulated air and radios differ from the model the verifier uses.

The proof-of-coverage verifier predicts RSSI with the same propagation model the
channel uses. If the simulator delivered exactly that model, an "honest witnesses
accepted" figure would only show that the model agrees with itself. These
impairments put the differences real deployments have between the model and
what a radio reports, all seeded and all off by default:

* fast fading per packet and receiver (``fading="rician"``). Rician, not
  Rayleigh, because the links are fixed outdoor links between rooftop or mast
  antennas with a dominant (line-of-sight or strong diffracted) path plus
  scattered ones; measured K factors of fixed outdoor links are mostly 0-10 dB
  (Greenstein et al., "Moment-method estimation of the Ricean K-factor", IEEE
  Commun. Lett. 3(6), 1999; Erceg et al., the SUI channel models for fixed
  wireless, IEEE 802.16.3c-01/29r4, 2001). The fading is block fading: one draw
  per packet, since a beacon lasts well under the coherence time of a fixed link;
* measurement error on the RSSI and SNR a radio reports (not on the power that
  decides reception), and the radio's quantisation of both (an SX1276 reports
  RSSI in whole dB and SNR in quarter dB);
* a per-hotspot antenna gain error: the gain a hotspot asserts is not the gain
  its antenna has (cable loss, a detuned or mislabelled antenna);
* a per-hotspot host clock offset, for harnesses that stamp host times.

Every draw comes from a counter-based generator: a keyed hash (SplitMix64's
finaliser) of (seed, stream, packet id, receiver index) turned into normals by
Box-Muller. A draw therefore depends only on its own key, never on which other
receivers were evaluated or in what order, and a batch of receivers costs a few
vectorised integer operations instead of one seeded generator each.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

import numpy as np

from ._errors import ImpairmentError

FADING_MODELS = ("none", "rician")

REALISTIC_SHADOWING_DB = 4.0
"""The persistent per-link shadowing of a realistic air (dB, one sigma)."""
REALISTIC_IMPAIRMENTS: Mapping[str, object] = MappingProxyType({
    "fading": "rician", "rician_k_db": 6.0, "rssi_error_sigma_db": 1.0, "rssi_step_db": 1.0,
    "snr_error_sigma_db": 0.5, "snr_step_db": 0.25, "gain_error_sigma_db": 1.0,
    "clock_offset_sigma_ms": 500.0, "host_jitter_sigma_ms": 15.0})
"""A realistic air's impairments (`Impairments` keys): Rician fading (K = 6 dB), an
SX1276's RSSI (1 dB error in 1 dB steps) and SNR (0.5 dB in 0.25 dB steps), 1 dB
antenna gain errors, 0.5 s host clock offsets and 15 ms of host-time jitter per
packet (NTP, a forwarder's polling, a serial link). With `REALISTIC_SHADOWING_DB` it is
the air of issue #10's proof-of-coverage scenario and of the testnet: not the
verifier's model, which knows neither."""

_U64 = np.uint64
_M1, _M2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_GOLDEN = _U64(0x9E3779B97F4A7C15)
# streams: independent draws under one seed
_FADING, _RSSI_ERROR, _SNR_ERROR, _GAIN_ERROR, _CLOCK_OFFSET, _HOST_JITTER = 1, 2, 3, 4, 5, 6
# uniforms are (k + 1) / 2**53 for k in [0, 2**53): the largest Box-Muller radius
# the generator can produce, hence an exact bound on the fading's upper tail
_MAX_RADIUS = math.sqrt(-2.0 * math.log(2.0 ** -53))
_CLOCK_CLAMP_SIGMAS = 3.0


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 with full avalanche."""
    z = (z ^ (z >> _U64(30))) * _M1
    z = (z ^ (z >> _U64(27))) * _M2
    return z ^ (z >> _U64(31))


def _as_u64(values) -> np.ndarray:
    """Integers (scalar or array) as uint64, negative ones wrapped modulo 2**64."""
    return np.atleast_1d(np.asarray(values, dtype=np.int64)).astype(np.uint64)


def _normals(seed: int, stream: int, a, b) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals per key (seed, stream, a, b), broadcast over a, b."""
    with np.errstate(over="ignore"):
        key = _mix(_U64(seed) ^ _mix(_as_u64(stream) * _GOLDEN))
        h = _mix(key + _as_u64(a) * _GOLDEN)
        h = _mix(h ^ _mix(_as_u64(b) + _GOLDEN))
        u1 = ((_mix(h + _U64(1)) >> _U64(11)) + _U64(1)).astype(float) * 2.0 ** -53  # (0, 1]
        u2 = (_mix(h + _U64(2)) >> _U64(11)).astype(float) * 2.0 ** -53  # [0, 1)
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = 2.0 * math.pi * u2
    return radius * np.cos(angle), radius * np.sin(angle)


def _quantised(values: np.ndarray, step: float) -> np.ndarray:
    return values if step == 0 else np.round(values / step) * step


@dataclass(frozen=True)
class Impairments:
    """Seeded differences between the model and the air; the defaults change nothing.

    Parameters
    ----------
    fading : "none" or "rician"
        Per-packet, per-receiver fast fading of the received power.
    rician_k_db : float
        Rician K factor (power of the dominant path over the scattered ones), dB.
    rssi_error_sigma_db, snr_error_sigma_db : float
        Standard deviation of the Gaussian error on the RSSI / SNR a radio reports.
    rssi_step_db, snr_step_db : float
        Quantisation step of the reported RSSI / SNR (1.0 and 0.25 like an SX1276);
        0 reports the exact value.
    gain_error_sigma_db : float
        Standard deviation of each hotspot's antenna gain error (true gain = asserted
        gain + error), fixed per hotspot.
    clock_offset_sigma_ms : float
        Standard deviation of each hotspot's host clock offset, clamped to +-3 sigma.
    host_jitter_sigma_ms : float
        Standard deviation of the error of one packet's host timestamp about the host
        clock (time sync, polling, serial latency), clamped to +-3 sigma.
    seed : int
        Seed of every draw above (0 <= seed < 2**64).

    Examples
    --------
    >>> imp = Impairments(fading="rician", rician_k_db=6.0, seed=1)
    >>> imp.fading_db(7, [0, 1, 2]).shape
    (3,)
    >>> Impairments().active
    False
    """

    fading: str = "none"
    rician_k_db: float = 6.0
    rssi_error_sigma_db: float = 0.0
    rssi_step_db: float = 0.0
    snr_error_sigma_db: float = 0.0
    snr_step_db: float = 0.0
    gain_error_sigma_db: float = 0.0
    clock_offset_sigma_ms: float = 0.0
    host_jitter_sigma_ms: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.fading not in FADING_MODELS:
            raise ImpairmentError(f"impairments: fading {self.fading!r} is not one of "
                                  f"{list(FADING_MODELS)}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "fading":
                continue
            if f.name == "seed":
                if not isinstance(value, numbers.Integral) or isinstance(value, bool) \
                        or not 0 <= value < 2 ** 64:
                    raise ImpairmentError(f"impairments: seed must be an integer in "
                                          f"[0, 2**64), got {value!r}")
                continue
            if not isinstance(value, numbers.Real) or isinstance(value, bool) \
                    or not math.isfinite(value):
                raise ImpairmentError(f"impairments: {f.name} must be a finite number, "
                                      f"got {value!r}")
            if f.name != "rician_k_db" and value < 0:
                raise ImpairmentError(f"impairments: {f.name} must be >= 0, got {value!r}")

    @classmethod
    def from_mapping(cls, values: Mapping) -> Impairments:
        """Impairments from scenario keys; an unknown key is refused by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ImpairmentError(f"impairments: unknown key(s) {unknown}; known: "
                                  f"{sorted(known)}")
        return cls(**values)

    @property
    def active(self) -> bool:
        """Whether anything differs from the plain model."""
        return self != Impairments(seed=self.seed, rician_k_db=self.rician_k_db)

    @property
    def reports_exactly(self) -> bool:
        """Whether radios report the received power and SNR unchanged."""
        return not (self.rssi_error_sigma_db or self.rssi_step_db or self.snr_error_sigma_db
                    or self.snr_step_db)

    # -- fading -----------------------------------------------------------------------------
    def _rician(self) -> tuple[float, float]:
        """(dominant amplitude, scattered amplitude per quadrature) with E|h|^2 = 1."""
        k = 10.0 ** (self.rician_k_db / 10.0)
        return math.sqrt(k / (k + 1.0)), math.sqrt(1.0 / (2.0 * (k + 1.0)))

    def fading_db(self, packet_id: int, receivers) -> np.ndarray:
        """Power gain (dB, 20 log10 |h|) of packet `packet_id` at each receiver index.

        ``h = sqrt(K/(K+1)) + sqrt(1/(2(K+1))) (N1 + j N2)``, so the mean linear gain
        is 1 and the model's median path loss stays the reference.
        """
        receivers = np.atleast_1d(np.asarray(receivers))
        if self.fading == "none":
            return np.zeros(receivers.shape)
        x, y = _normals(self.seed, _FADING, packet_id, receivers)
        dominant, scattered = self._rician()
        power = (dominant + scattered * x) ** 2 + (scattered * y) ** 2
        with np.errstate(divide="ignore"):
            return 10.0 * np.log10(power)

    @property
    def fading_max_db(self) -> float:
        """The largest gain `fading_db` can return (0 without fading): the generator's
        radius is bounded, so this bound is exact, not a tail probability."""
        if self.fading == "none":
            return 0.0
        dominant, scattered = self._rician()
        return 20.0 * math.log10(dominant + scattered * _MAX_RADIUS)

    # -- what the radio reports -------------------------------------------------------------
    def reported_rssi_dbm(self, packet_id: int, receivers, rssi_dbm) -> np.ndarray:
        """The RSSI each receiver reports: measurement error, then the radio's step."""
        return self._reported(_RSSI_ERROR, self.rssi_error_sigma_db, self.rssi_step_db,
                              packet_id, receivers, rssi_dbm)

    def reported_snr_db(self, packet_id: int, receivers, snr_db) -> np.ndarray:
        """The SNR each receiver reports: measurement error, then the radio's step."""
        return self._reported(_SNR_ERROR, self.snr_error_sigma_db, self.snr_step_db,
                              packet_id, receivers, snr_db)

    def _reported(self, stream: int, sigma: float, step: float, packet_id: int, receivers,
                  values) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if sigma > 0:
            error, _ = _normals(self.seed, stream, packet_id, np.asarray(receivers))
            values = values + sigma * error
        return _quantised(values, step)

    # -- per hotspot ------------------------------------------------------------------------
    def gain_errors_db(self, hotspots) -> np.ndarray:
        """Antenna gain error (true minus asserted, dB) of each hotspot index."""
        hotspots = np.atleast_1d(np.asarray(hotspots))
        if self.gain_error_sigma_db == 0:
            return np.zeros(hotspots.shape)
        error, _ = _normals(self.seed, _GAIN_ERROR, 0, hotspots)
        return self.gain_error_sigma_db * error

    def gain_error_db(self, i: int) -> float:
        """Antenna gain error of hotspot `i` (true minus asserted, dB), fixed per hotspot."""
        return float(self.gain_errors_db([i])[0])

    def clock_offset_ms(self, i: int) -> int:
        """Host clock offset of hotspot `i` (host time minus true time, ms), fixed per
        hotspot and within +-3 sigma."""
        if self.clock_offset_sigma_ms == 0:
            return 0
        error, _ = _normals(self.seed, _CLOCK_OFFSET, 0, [i])
        limit = _CLOCK_CLAMP_SIGMAS * self.clock_offset_sigma_ms
        return int(np.rint(np.clip(self.clock_offset_sigma_ms * error[0], -limit, limit)))

    def host_jitter_ms(self, packet: int, i: int) -> int:
        """Error (ms) of hotspot `i`'s host timestamp of its `packet`-th timestamped
        packet, within +-3 sigma."""
        if self.host_jitter_sigma_ms == 0:
            return 0
        error, _ = _normals(self.seed, _HOST_JITTER, packet, [i])
        limit = _CLOCK_CLAMP_SIGMAS * self.host_jitter_sigma_ms
        return int(np.rint(np.clip(self.host_jitter_sigma_ms * error[0], -limit, limit)))
