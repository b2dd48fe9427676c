"""The composer's mix: every part on its own channel strip, one reverb, a master bus.

::

    part (2, samples) -> strip: high-pass, EQ, compression (drums, bass), width, send
      sum of strips ----------------------------------------------> master: EQ, glue
      sum of sends -> reverb (room | hall | plate impulse) -------/

A part's role (drums, bass, pad, keys, lead, guitar, perc) picks its strip; the genre's
production template (``[production.<name>]`` in styles.toml) picks the reverb, how much of
it, the master EQ and the glue compression.

DSP is scipy (RBJ biquads through ``lfilter``, FFT convolution, polyphase resampling) and
one numba loop for the compressor's attack and release. pedalboard would do all of this
but is GPL-3.0 and scoreflow is Apache-2.0; scipy and numba are BSD.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numba import njit
from scipy import signal

REVERB_DECIMATION = 2  # the reverb runs at half the sample rate (its top is 12 kHz at 48 kHz)


@dataclass(frozen=True)
class Strip:
    """A part's channel strip. Frequencies in Hz, levels in dB."""

    highpass_hz: float = 0.0
    low_shelf: tuple[float, float] = (0.0, 0.0)  # (frequency, gain)
    high_shelf: tuple[float, float] = (0.0, 0.0)
    compress: tuple[float, float, float, float] = ()  # type: ignore[assignment]
    # (threshold under the loud level, ratio, attack ms, release ms)
    width: float = 0.0  # how far under 1 the part's L/R correlation is taken (0: as played)
    send: float = 0.0  # reverb send, linear
    level_db: float = -12.0  # fader: the part's loud level (`loud_db`) in the mix


STRIPS = {
    "drums": Strip(
        low_shelf=(70.0, 2.0), high_shelf=(8000.0, -2.0), compress=(-4.0, 3.0, 10.0, 90.0),
        width=0.3, send=0.14, level_db=-14.0,
    ),
    "bass": Strip(
        highpass_hz=32.0, compress=(-4.0, 3.0, 12.0, 150.0), send=0.02, level_db=-13.0
    ),
    "pad": Strip(
        highpass_hz=80.0, high_shelf=(7000.0, 2.0), width=0.55, send=0.42, level_db=-16.0
    ),
    "keys": Strip(highpass_hz=60.0, width=0.45, send=0.28, level_db=-14.0),
    "lead": Strip(
        highpass_hz=120.0, high_shelf=(8000.0, 1.5), width=0.2, send=0.3, level_db=-13.0
    ),
    "guitar": Strip(highpass_hz=90.0, width=0.4, send=0.22, level_db=-15.0),
    "perc": Strip(highpass_hz=150.0, width=0.45, send=0.38, level_db=-18.0),
}  # fmt: skip

# General MIDI program families -> role, for MIDI files we did not write.
_FAMILY_ROLE = (
    "keys", "perc", "pad", "guitar", "bass", "lead", "pad", "lead",
    "lead", "lead", "lead", "pad", "keys", "perc", "perc", "perc",
)  # fmt: skip
_PROGRAM_ROLE = {43: "bass", 44: "pad", 45: "keys", 46: "keys", 47: "perc"}


def role_of(program: int, *, is_drum: bool) -> str:
    """The strip a General MIDI instrument gets: drums, bass, pad, keys, lead, guitar, perc."""
    if is_drum:
        return "drums"
    return _PROGRAM_ROLE.get(program, _FAMILY_ROLE[program // 8])


# -- filters -------------------------------------------------------------------------------
def biquad(
    kind: str, freq_hz: float, sample_rate: int, *, gain_db: float = 0.0, q: float = 0.707
) -> tuple[np.ndarray, np.ndarray]:
    """RBJ cookbook biquad ``(b, a)``: highpass, lowpass, low_shelf, high_shelf, peak."""
    w = 2 * math.pi * min(freq_hz, 0.49 * sample_rate) / sample_rate
    cw, alpha = math.cos(w), math.sin(w) / (2 * q)
    big_a = 10 ** (gain_db / 40)
    if kind == "highpass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "lowpass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "peak":
        b = [1 + alpha * big_a, -2 * cw, 1 - alpha * big_a]
        a = [1 + alpha / big_a, -2 * cw, 1 - alpha / big_a]
    elif kind in ("low_shelf", "high_shelf"):
        s = 1 if kind == "low_shelf" else -1
        root = 2 * math.sqrt(big_a) * alpha
        b = [
            big_a * ((big_a + 1) - s * (big_a - 1) * cw + root),
            s * 2 * big_a * ((big_a - 1) - s * (big_a + 1) * cw),
            big_a * ((big_a + 1) - s * (big_a - 1) * cw - root),
        ]
        a = [
            (big_a + 1) + s * (big_a - 1) * cw + root,
            -s * 2 * ((big_a - 1) + s * (big_a + 1) * cw),
            (big_a + 1) + s * (big_a - 1) * cw - root,
        ]
    else:
        raise ValueError(f"unknown filter {kind!r}")
    return np.array(b) / a[0], np.array(a) / a[0]


def equalize(
    audio: np.ndarray, sample_rate: int, bands: list[tuple[str, float, float]]
) -> np.ndarray:
    """Apply ``(kind, frequency, gain_db)`` biquads in order to (2, samples) `audio`, as
    one cascade (one pass over the samples)."""
    sections = [
        np.concatenate(biquad(kind, freq, sample_rate, gain_db=gain))
        for kind, freq, gain in bands
        if freq > 0 and (kind in ("highpass", "lowpass") or gain != 0)
    ]
    if not sections:
        return audio
    sos = np.array(sections, dtype=np.float32)
    return signal.sosfilt(sos, audio, axis=-1).astype(np.float32, copy=False)


@njit(cache=True, nogil=True)
def _gain_db(level_db, threshold_db, ratio, knee_db, attack, release):  # type: ignore[no-untyped-def]
    """Gain reduction (dB, <= 0) per sample: soft-knee static curve, then attack/release
    smoothing (one-pole coefficients)."""
    out = np.empty_like(level_db)
    g = 0.0
    slope = 1.0 / ratio - 1.0
    for i in range(level_db.shape[0]):
        over = level_db[i] - threshold_db
        if 2.0 * over < -knee_db:
            target = 0.0
        elif 2.0 * abs(over) <= knee_db:
            target = slope * (over + knee_db / 2.0) ** 2 / (2.0 * knee_db)
        else:
            target = slope * over
        coef = attack if target < g else release
        g = coef * g + (1.0 - coef) * target
        out[i] = g
    return out


def compress(audio: np.ndarray, sample_rate: int, **settings: float) -> np.ndarray:
    """A stereo-linked feed-forward compressor on the peak of the channels, with make-up
    gain for half the reduction at the loudest point: `audio` times its `compressor_gain`.

    Parameters
    ----------
    audio : np.ndarray, shape (2, samples), float32
    **settings : float
        `compressor_gain`'s: ``threshold_db`` (relative to the material's loud level, the
        95th percentile of its peak level where it sounds, above -60 dBFS, so a part
        compresses alike at any gain), ``ratio``, ``attack_ms``, ``release_ms`` and
        optionally ``knee_db``.
    """
    gain = compressor_gain(audio, sample_rate, **settings)
    return audio if gain is None else audio * gain


def compressor_gain(
    audio: np.ndarray,
    sample_rate: int,
    *,
    threshold_db: float,
    ratio: float,
    attack_ms: float,
    release_ms: float,
    knee_db: float = 6.0,
) -> np.ndarray | None:
    """The gain curve `compress` applies to `audio` (make-up included); None where it
    would leave it alone. Applied alike to the stems of a bus, it compresses them as the
    bus is compressed, so they still sum to it.

    Returns
    -------
    np.ndarray, shape (samples,), float32, or None
    """
    if ratio <= 1 or not audio.shape[-1]:
        return None
    peak = np.maximum(np.abs(audio[0]), np.abs(audio[1]))
    level = 20 * np.log10(np.maximum(peak, np.float32(1e-6)))
    sounding = level[level > -60.0]
    if not len(sounding):
        return None
    loud = float(np.percentile(sounding[:: max(1, len(sounding) // 20000)], 95))
    coef = [math.exp(-1000.0 / (ms * sample_rate)) for ms in (attack_ms, release_ms)]
    reduction = _gain_db(level, loud + threshold_db, ratio, knee_db, *coef)
    makeup = -0.5 * float(reduction.min())
    return np.power(np.float32(10), (reduction + np.float32(makeup)) / np.float32(20))


@cache
def _decorrelator(sample_rate: int, *, length_s: float = 0.018, seed: int = 7) -> np.ndarray:
    """A short unit-energy noise burst with a flat-ish spectrum: convolving with it gives a
    copy of a signal that is uncorrelated with it but sounds the same (a diffuse double)."""
    n = int(length_s * sample_rate)
    rng = np.random.default_rng(seed)
    burst = rng.standard_normal(n) * np.exp(-4.0 * np.arange(n) / n)
    return (burst / np.sqrt((burst**2).sum())).astype(np.float32)


def correlation(audio: np.ndarray) -> float:
    """Pearson correlation of the left and right channels of (2, samples) `audio`."""
    left, right = audio[0].astype(np.float64), audio[1].astype(np.float64)
    left, right = left - left.mean(), right - right.mean()
    denom = math.sqrt(float(left @ left) * float(right @ right))
    return float(left @ right) / denom if denom > 0 else 1.0


def widen(audio: np.ndarray, sample_rate: int, *, width: float) -> np.ndarray:
    """Mid/side widening to a L/R correlation of ``1 - width``: a decorrelated double of
    the mid is added to the side, as much as that takes (nothing where the part is already
    that wide, as a stereo-sampled pad often is).

    Parameters
    ----------
    audio : np.ndarray, shape (2, samples), float32
    width : float
        0 leaves the part as it is; 0.5 aims at a correlation of 0.5.
    """
    if width <= 0 or not audio.shape[-1]:
        return audio
    target = 1.0 - min(width, 0.9)
    mid = (audio[0] + audio[1]) * np.float32(0.5)
    side = (audio[0] - audio[1]) * np.float32(0.5)
    m2, s2 = float(mid @ mid), float(side @ side)
    if m2 <= 0 or (m2 - s2) / (m2 + s2) <= target:
        return audio
    double = signal.oaconvolve(mid, _decorrelator(sample_rate))[: len(mid)]
    d2 = float(double @ double)
    k = math.sqrt(max(0.0, (m2 * (1 - target) - s2 * (1 + target)) / (d2 * (1 + target))))
    added = (k * double).astype(np.float32)
    return np.stack([audio[0] + added, audio[1] - added])


def loud_db(audio: np.ndarray, sample_rate: int) -> float:
    """A part's loud level: the 90th percentile of its 50 ms RMS levels where it sounds
    (above -70 dBFS); -inf when silent."""
    block = int(0.05 * sample_rate)
    n = audio.shape[-1] // block
    if not n:
        return -math.inf
    square = audio[0, : n * block] ** 2 + audio[1, : n * block] ** 2
    power = square.reshape(n, block).mean(axis=1, dtype=np.float64) / 2
    level = 10 * np.log10(np.maximum(power, 1e-20))
    sounding = level[level > -70.0]
    return float(np.percentile(sounding, 90)) if len(sounding) else -math.inf


def excite(audio: np.ndarray, sample_rate: int, *, amount: float) -> np.ndarray:
    """Add "air": the 3 kHz-and-up band, full-wave rectified (an octave up, in proportion
    at any level), kept above 7 kHz and added at `amount` (0 = off). Brings top octaves to
    samples recorded at low rates, as a studio exciter does.

    Parameters
    ----------
    audio : np.ndarray, shape (2, samples), float32
    """
    if amount <= 0 or sample_rate < 32000:
        return audio
    band = equalize(audio, sample_rate, [("highpass", 3000.0, 0.0)])
    air = equalize(np.abs(band), sample_rate, [("highpass", 7000.0, 0.0)] * 2)
    return audio + np.float32(amount) * air


# -- reverb --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Space:
    """A reverb preset: decay (RT60), pre-delay, damping (Hz the tail darkens to), early
    reflections (count within `early_s`), and how bright the start is."""

    decay_s: float
    predelay_s: float
    damping_hz: float
    early: int
    early_s: float


SPACES = {
    "room": Space(decay_s=0.8, predelay_s=0.006, damping_hz=4000.0, early=12, early_s=0.035),
    "hall": Space(decay_s=2.4, predelay_s=0.024, damping_hz=3000.0, early=18, early_s=0.08),
    "plate": Space(decay_s=1.7, predelay_s=0.004, damping_hz=7000.0, early=0, early_s=0.0),
}


@cache
def impulse_response(kind: str, sample_rate: int) -> np.ndarray:
    """A stereo impulse response of one of `SPACES` at ``sample_rate / REVERB_DECIMATION``:
    sparse early reflections, then decorrelated noise decaying at the preset's RT60 and
    darkening towards its damping frequency.

    Returns
    -------
    np.ndarray, shape (2, n), float32, unit energy per channel
    """
    space = SPACES[kind]
    rate = sample_rate // REVERB_DECIMATION
    n = int((space.predelay_s + space.decay_s) * rate)
    rng = np.random.default_rng(1234)
    t = np.arange(n) / rate
    late = rng.standard_normal((2, n)) * np.exp(-6.91 * t / space.decay_s)
    b, a = biquad("lowpass", space.damping_hz, rate)
    dark = signal.lfilter(b, a, late, axis=1)
    blend = np.clip(t / (0.6 * space.decay_s), 0, 1)
    late = late * (1 - blend) + dark * blend
    onset = np.clip((t - space.early_s) / 0.02, 0, 1)  # the diffuse tail builds up
    ir = late * onset
    for _ in range(space.early):  # discrete reflections, a different pattern per side
        for c in (0, 1):
            at = int(rng.uniform(0.002, space.early_s) * rate)
            ir[c, at] += (
                rng.uniform(0.3, 0.9)
                * rng.choice([-1, 1])
                * math.sqrt(1 - at / (space.early_s * rate + 1))
            )
    ir = np.concatenate([np.zeros((2, int(space.predelay_s * rate))), ir], axis=1)
    ir /= np.sqrt((ir**2).sum(axis=1, keepdims=True))
    return ir.astype(np.float32)


def reverb(send: np.ndarray, sample_rate: int, *, kind: str) -> np.ndarray:
    """The wet stereo signal of a mono `send` (samples,) through `impulse_response`.

    Returns
    -------
    np.ndarray, shape (2, samples), float32
    """
    q = REVERB_DECIMATION
    low = signal.resample_poly(send, 1, q).astype(np.float32)
    ir = impulse_response(kind, sample_rate)
    wet = np.stack([signal.oaconvolve(low, ir[c])[: len(low)] for c in (0, 1)])
    up = signal.resample_poly(wet, q, 1, axis=-1)[:, : len(send)]
    out = np.zeros((2, len(send)), np.float32)
    out[:, : up.shape[-1]] = up
    return out


# -- the mix -------------------------------------------------------------------------------
def channel_strip(audio: np.ndarray, sample_rate: int, strip: Strip) -> np.ndarray:
    """One part, (2, samples), through its strip (high-pass, shelves, compression, width,
    then the fader: the part's loud level set to the strip's `level_db`)."""
    audio = equalize(
        audio,
        sample_rate,
        [
            ("highpass", strip.highpass_hz, 0.0),
            ("low_shelf", *strip.low_shelf),
            ("high_shelf", *strip.high_shelf),
        ],
    )
    if strip.compress:
        threshold, ratio, attack, release = strip.compress
        audio = compress(
            audio, sample_rate, threshold_db=threshold, ratio=ratio, attack_ms=attack,
            release_ms=release,
        )  # fmt: skip
    audio = widen(audio, sample_rate, width=strip.width)
    loud = loud_db(audio, sample_rate)
    if math.isfinite(loud):
        audio = audio * np.float32(10 ** ((strip.level_db - loud) / 20))
    return audio


def mix_parts(
    parts: list[tuple[str, np.ndarray]],
    sample_rate: int,
    *,
    template: dict[str, Any],
    reverb_amount: float = 1.0,
) -> np.ndarray:
    """Sum the parts through their strips, add the reverb, and run the master bus.

    Parameters
    ----------
    parts : list of (role, audio)
        audio of shape (2, samples), float32, all the same length.
    template : dict
        A ``[production.<name>]`` entry: reverb (room, hall, plate), reverb_send (scales
        every part's send), width (scales every part's width), low_db / presence_db / air_db
        (master shelves at 100 Hz, a peak at 3 kHz, a shelf at 10 kHz), exciter (`excite`
        amount), glue_ratio and
        glue_threshold_db (master compression).
    reverb_amount : float
        The configured ``composer.reverb`` against its default (0 = dry).

    Returns
    -------
    np.ndarray, shape (2, samples), float32
    """
    return mix_stems({"mix": parts}, sample_rate, template=template,
                     reverb_amount=reverb_amount)["mix"]  # fmt: skip


def mix_stems(
    stems: dict[str, list[tuple[str, np.ndarray]]],
    sample_rate: int,
    *,
    template: dict[str, Any],
    reverb_amount: float = 1.0,
) -> dict[str, np.ndarray]:
    """`mix_parts` with the parts grouped into stems kept apart, as an engineer prints
    stems through the master bus: each stem gets its parts' strips, its own share of the
    reverb (a convolution: the stems' returns sum to the mix's), the master EQ and exciter,
    and then the glue compressor's gain, computed once on the sum of the stems and applied
    to each. The stems therefore sum to the mix (to float rounding).

    Parameters
    ----------
    stems : dict of name -> list of (role, audio)
        audio of shape (2, samples), float32, all the same length.

    Returns
    -------
    dict of name -> np.ndarray, shape (2, samples), float32
    """
    samples = next((a.shape[-1] for parts in stems.values() for _, a in parts), 0)
    width_scale = float(template.get("width", 1.0))
    send_scale = float(template.get("reverb_send", 1.0)) * reverb_amount
    master = [
        ("low_shelf", 100.0, float(template.get("low_db", 0.0))),
        ("peak", 3000.0, float(template.get("presence_db", 0.0))),
        ("high_shelf", 10000.0, float(template.get("air_db", 0.0))),
    ]
    buses: dict[str, np.ndarray] = {}
    for name, parts in stems.items():
        bus = np.zeros((2, samples), np.float32)
        send = np.zeros(samples, np.float32)
        for role, audio in parts:
            base = STRIPS.get(role, STRIPS["keys"])
            strip = dataclasses.replace(base, width=base.width * width_scale)
            out = channel_strip(audio, sample_rate, strip)
            bus += out
            if strip.send * send_scale > 0:
                send += (out[0] + out[1]) * np.float32(0.5 * strip.send * send_scale)
        if send.any():
            bus += reverb(send, sample_rate, kind=str(template.get("reverb", "room")))
        bus = equalize(bus, sample_rate, master)
        buses[name] = excite(bus, sample_rate, amount=float(template.get("exciter", 0.0)))
    total = buses[next(iter(buses))] if len(buses) == 1 else sum(buses.values())
    gain = compressor_gain(
        np.asarray(total), sample_rate, threshold_db=float(template.get("glue_threshold_db", -4.0)),
        ratio=float(template.get("glue_ratio", 1.0)), attack_ms=30.0, release_ms=250.0,
    )  # fmt: skip
    if gain is None:
        return buses
    return {name: bus * gain for name, bus in buses.items()}
