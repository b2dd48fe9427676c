"""Mix cues into the soundtrack, duck it under dialogue, and bring it to a delivery loudness.

Loudness is BS.1770-4 (K-weighting, 400 ms blocks, absolute and relative gates), over the
whole programme or, for dialogue-gated presets, over the dialogue regions only; true peak
is read at 4x oversampling and held under the
ceiling by a look-ahead limiter whose gain curve never exceeds what each sample needs.
Every gain is a curve applied alike to the mix and to its buses, so the stems sum to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, cast

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly, sosfilt

from scoreflow.tasks.audio.align import fade
from scoreflow.tasks.timeline.model import Cue

OVERSAMPLE = 4
# Added to what the K-weighting filters, alternating in sign sample by sample: a Nyquist
# tone at -300 dBFS keeps the filters' state and its squares off float32's subnormal range
# (under 1.2e-38), where a decaying tail, then digital silence, runs scipy's sosfilt 40
# times slower (measured: 1.19 s against 0.03 s for a minute of stereo). Its energy, about
# 1e-30 a sample, is 23 orders under the -70 LKFS gate: no loudness moves.
DENORMAL_GUARD = 1e-15


TRANSITIONS = ("cut", "crossfade", "fade")


@dataclass(frozen=True)
class Placement:
    """A cue at its place on the timeline: samples ``[start, end)``.

    `transition` says how it meets the cue that ends where it starts: ``crossfade``
    (equal power, centred on the cut), ``cut`` (hard, declicked) or ``fade`` (the outgoing
    cue fades to silence by the cut, this one starts on it). `transition_s` is its length
    (None: the mix's crossfade length).
    """

    cue: CueAudio  # a `Cue`, or one spooled to disk
    start: int
    end: int
    transition: str = "crossfade"
    transition_s: float | None = None
    level_db: float = 0.0  # the cue's loudness against the others (`intensity_level_db`)


def intensity_level_db(intensity: float, *, range_lu: float) -> float:
    """A cue's loudness in the soundtrack relative to a mid-intensity cue: its brief's
    intensity (0..1) mapped linearly onto `range_lu` (0 = every cue at the same loudness),
    so a quiet drink plays under the crash that follows it."""
    return range_lu * (min(max(intensity, 0.0), 1.0) - 0.5)


@cache
def k_weighting(sample_rate: int) -> np.ndarray:
    """BS.1770-4 K-weighting (high shelf, then RLB high-pass) as second-order sections.

    At 48 kHz these are the coefficients tabled in the recommendation; other rates use the
    same analog prototypes through the bilinear transform.
    """
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / sample_rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        1.0,
        2 * (k * k - 1) / a0,
        (1 - k / q + k * k) / a0,
    ]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / sample_rate)
    a0 = 1 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


def _guard(n: int) -> np.ndarray:
    """`DENORMAL_GUARD` alternating in sign, + first, at least `n` samples (shared; a
    thread that grows it keeps its own, so another's smaller one never reaches it)."""
    global _GUARD
    guard = _GUARD
    if guard.size < n:
        guard = np.tile(np.array([DENORMAL_GUARD, -DENORMAL_GUARD], np.float32), (n + 1) // 2 + 1)
        _GUARD = guard
    return guard


_GUARD = np.zeros(0, np.float32)


class LoudnessMeter:
    """BS.1770-4 integrated loudness, fed in blocks of any length.

    The K-weighting filters carry their state from block to block and the 100 ms hop
    energies are kept (8 bytes a hop), so a programme of any length is measured in
    constant memory; the gates are applied to the hop sums at the end. Feeding one whole
    array gives `integrated_lufs`.
    """

    def __init__(self, sample_rate: int, channels: int = 2) -> None:
        self.hop = round(0.1 * sample_rate)  # blocks are 4 hops long
        self._sos = k_weighting(sample_rate).astype(np.float32)
        self._zi = np.zeros((self._sos.shape[0], channels, 2), np.float32)
        self._rest = np.zeros((channels, 0), np.float32)  # weighted, short of a whole hop
        self._energy: list[np.ndarray] = []
        self._heard = False
        self._fed = 0  # samples so far: the guard's sign follows the sample's index

    def feed(self, audio: np.ndarray) -> None:
        """Measure the next `audio`, shape (channels, samples)."""
        if not audio.shape[-1]:
            return
        self._heard = self._heard or bool(np.any(audio))
        first, n = self._fed % 2, audio.shape[-1]  # + on even samples of the programme
        self._fed += n
        guarded = np.add(audio, _guard(n + 1)[first : first + n], dtype=np.float32)
        weighted, self._zi = sosfilt(self._sos, guarded, zi=self._zi, axis=-1)
        if self._rest.shape[-1]:
            weighted = np.concatenate([self._rest, weighted], axis=-1)
        whole = weighted.shape[-1] // self.hop * self.hop
        if whole:
            hops = weighted[:, :whole].reshape(weighted.shape[0], -1, self.hop)
            self._energy.append(np.square(hops).sum(axis=(0, 2), dtype=np.float64))
        self._rest = weighted[:, whole:].copy()

    def lufs(self) -> float:
        """Integrated loudness of everything fed; -inf when silent or under 400 ms."""
        energy = np.concatenate(self._energy) if self._energy else np.zeros(0)
        if energy.size < 4 or not self._heard:
            return float("-inf")
        z = np.convolve(energy, np.ones(4), mode="valid") / (4 * self.hop)
        loud = -0.691 + 10 * np.log10(np.maximum(z, 1e-30))
        z = z[loud > -70.0]
        if not z.size:
            return float("-inf")
        relative = -0.691 + 10 * np.log10(z.mean()) - 10.0
        z = z[-0.691 + 10 * np.log10(z) > relative]
        return float(-0.691 + 10 * np.log10(z.mean()))


def feed_regions(
    meter: LoudnessMeter, audio: np.ndarray, start: int, regions: list[tuple[int, int]] | None
) -> None:
    """Feed `meter` the parts of `audio` (which begins at sample `start`) that lie in
    `regions` (all of it when None): regions met block by block join as in one array."""
    if regions is None:
        meter.feed(audio)
        return
    stop = start + audio.shape[-1]
    for a, b in regions:
        lo, hi = max(a, start), min(b, stop)
        if lo < hi:
            meter.feed(audio[:, lo - start : hi - start])


def integrated_lufs(
    audio: np.ndarray, sample_rate: int, *, regions: list[tuple[int, int]] | None = None
) -> float:
    """BS.1770-4 integrated loudness of (channels, samples) audio; -inf when silent/short.

    K-weighted mean square over 400 ms blocks every 100 ms, summed over the (front)
    channels; blocks under -70 LKFS, then those 10 LU under the mean of the rest, are gated
    out. With `regions` (``[start, end)`` samples), only those parts are measured, joined:
    the dialogue-gated loudness when they are the dialogue regions.
    """
    meter = LoudnessMeter(sample_rate, audio.shape[0])
    feed_regions(meter, audio, 0, regions or None)
    return meter.lufs()


def peak_envelope(
    audio: np.ndarray, *, floor_dbtp: float | None = None, block: int = 8192
) -> np.ndarray:
    """Per-sample true-peak estimate: max |x| over both channels at 4x oversampling.

    With `floor_dbtp`, only blocks whose sample peak comes within 6 dB of the floor are
    oversampled (intersample overs stay far below 6 dB); elsewhere the sample peak stands,
    which is then known to lie below the floor.

    Returns
    -------
    np.ndarray, shape (samples,), float32
    """
    n = audio.shape[-1]
    sample_peak = np.abs(audio).max(axis=0).astype(np.float32)
    starts: Iterable[int]
    if floor_dbtp is None:
        starts = range(0, n, block)
    else:
        gate = 10 ** ((floor_dbtp - 6.0) / 20)
        padded = np.pad(sample_peak, (0, -n % block))
        hot = padded.reshape(-1, block).max(axis=1) > gate
        starts = (int(i) * block for i in np.flatnonzero(hot))
    out = sample_peak.copy()
    pad = 64  # filter context either side of a block
    for s in starts:
        lo, hi = max(0, s - pad), min(n, s + block + pad)
        up = resample_poly(audio[:, lo:hi], OVERSAMPLE, 1, axis=-1)
        up = np.abs(up).max(axis=0).reshape(-1, OVERSAMPLE).max(axis=1)
        seg = slice(s, min(n, s + block))
        out[seg] = np.maximum(out[seg], up[s - lo : s - lo + (seg.stop - seg.start)])
    return out


def true_peak_dbtp(audio: np.ndarray) -> float:
    """Highest true peak in dBTP (4x oversampling).

    Only blocks within 6 dB of the highest sample peak can hold the highest true peak.
    """
    sample_peak = float(np.abs(audio).max()) if audio.size else 0.0
    if sample_peak <= 0:
        return float("-inf")
    peak = float(peak_envelope(audio, floor_dbtp=20 * np.log10(sample_peak)).max())
    return float(20 * np.log10(peak))


def limiter_gain(
    audio: np.ndarray, sample_rate: int, *, ceiling_dbtp: float, window_s: float = 0.005
) -> np.ndarray | None:
    """Gain curve of a look-ahead true-peak limiter; None when nothing reaches the ceiling.

    The needed gain per sample is min-filtered then averaged over the same window, so the
    smooth gain curve is never above the gain any sample needs.

    Returns
    -------
    np.ndarray, shape (samples,), float32, or None
    """
    ceiling = 10 ** (ceiling_dbtp / 20)
    env = peak_envelope(audio, floor_dbtp=ceiling_dbtp)
    need = np.minimum(1.0, ceiling / np.maximum(env, 1e-9))
    if need.min() >= 1.0:
        return None
    w = max(3, int(window_s * sample_rate) | 1)
    gain = uniform_filter1d(minimum_filter1d(need, size=w, mode="nearest"), size=w, mode="nearest")
    return gain.astype(np.float32)


def normalize_gain(
    audio: np.ndarray,
    sample_rate: int,
    *,
    target_lufs: float,
    true_peak_dbtp_max: float,
    regions: list[tuple[int, int]] | None = None,
    passes: int = 4,
) -> tuple[np.ndarray, dict[str, float]]:
    """Gain curve that brings `audio` to `target_lufs` with true peaks under the ceiling.

    Measure, scale, limit (4x oversampled, 0.1 dB under the ceiling), measure again;
    repeated until within 0.05 LU. With `regions`, loudness is measured over them only
    (dialogue gating).

    Returns
    -------
    (gain, report)
        gain: shape (samples,), float32; report: loudness and true peak before and after.
    """
    gain = np.ones(audio.shape[-1], np.float32)
    before = integrated_lufs(audio, sample_rate, regions=regions)
    report = {"before_lufs": before, "before_true_peak_dbtp": true_peak_dbtp(audio)}
    now = before
    if np.isfinite(before):
        for _ in range(passes):
            gain *= np.float32(10 ** ((target_lufs - now) / 20))
            limited = limiter_gain(audio * gain, sample_rate, ceiling_dbtp=true_peak_dbtp_max - 0.1)
            if limited is not None:
                gain *= limited
            now = integrated_lufs(audio * gain, sample_rate, regions=regions)
            if abs(now - target_lufs) < 0.05:
                break
    report.update(after_lufs=now, after_true_peak_dbtp=true_peak_dbtp(audio * gain))
    return gain, report


def normalize(
    audio: np.ndarray,
    sample_rate: int,
    *,
    target_lufs: float,
    true_peak_dbtp_max: float,
    regions: list[tuple[int, int]] | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """`audio` brought to the target by `normalize_gain`; returns (audio, report)."""
    gain, report = normalize_gain(
        audio,
        sample_rate,
        target_lufs=target_lufs,
        true_peak_dbtp_max=true_peak_dbtp_max,
        regions=regions,
    )
    return (audio * gain).astype(np.float32), report


def level(cue: Cue, *, target_lufs: float) -> Cue:
    """Scale a cue (body and tail) so its body sits at `target_lufs`."""
    g = level_gain(integrated_lufs(cue.audio, cue.sample_rate), target_lufs=target_lufs)
    if g == 1.0:
        return cue
    return dataclasses.replace(cue, audio=cue.audio * np.float32(g), tail=cue.tail * np.float32(g))


class CueAudio(Protocol):
    """What placing needs of a cue: its id, lengths and samples of body then tail (a
    `Cue` in memory, or one spooled to disk, `tasks.audio.spool.SpooledCue`)."""

    @property
    def scene_id(self) -> str: ...

    @property
    def samples(self) -> int: ...

    @property
    def tail_samples(self) -> int: ...

    def read(self, start: int, stop: int) -> np.ndarray: ...


@dataclass(frozen=True)
class Laid:
    """A placement with its edges worked out: the half crossfade it rises over (`h_in`)
    and falls over past its end (`h_out`, taken from its tail), else the fade in (`k_in`)
    and out (`k_out`, its declick or the fade to silence before a ``fade``), and the gain
    that levels it (`gain`)."""

    cue: CueAudio
    start: int
    h_in: int
    h_out: int
    k_in: int
    k_out: int
    gain: float = 1.0

    @property
    def stop(self) -> int:
        return self.start + self.cue.samples + self.h_out


def lay_out(
    placements: list[Placement],
    *,
    sample_rate: int,
    crossfade_s: float,
    declick_s: float = 0.005,
    gains: list[float] | None = None,
) -> list[Laid]:
    """Each placement's edges (see `place`), in timeline order; `gains` (one per
    placement, in the order given) level the cues."""
    order = sorted(range(len(placements)), key=lambda i: placements[i].start)
    items = [placements[i] for i in order]
    half = [0] * (len(items) + 1)  # half crossfade length at the start of item i
    fade_to_silence = [0] * (len(items) + 1)  # fade-out length of item i - 1
    for i in range(1, len(items)):
        a, b = items[i - 1], items[i]
        if a.end != b.start or b.transition == "cut":
            continue
        if b.transition not in TRANSITIONS:
            raise ValueError(f"cue {b.cue.scene_id}: unknown transition {b.transition!r}")
        length = int((crossfade_s if b.transition_s is None else b.transition_s) * sample_rate)
        if b.transition == "fade":
            fade_to_silence[i] = min(length, a.end - a.start)
            continue
        half[i] = min(length // 2, a.cue.tail_samples, a.end - a.start, (b.end - b.start) // 2)
    click = max(1, round(declick_s * sample_rate))
    laid = []
    for i, p in enumerate(items):
        n = p.cue.samples
        if n != p.end - p.start:
            raise ValueError(
                f"cue {p.cue.scene_id}: {n} samples for a {p.end - p.start}-sample span; "
                "fit it first"
            )
        k_in = 0 if half[i] else min(click, n)
        k_out = 0 if half[i + 1] else max(min(click, n), fade_to_silence[i + 1])
        gain = 1.0 if gains is None else gains[order[i]]
        laid.append(Laid(p.cue, p.start, half[i], half[i + 1], k_in, k_out, gain))
    return laid


def render(
    laid: list[Laid],
    start: int,
    stop: int,
    *,
    total_samples: int,
    sample_rate: int,
    fade_in_s: float = 0.0,
    fade_out_s: float = 0.0,
    channels: int = 2,
) -> np.ndarray:
    """Samples ``[start, stop)`` of the timeline the `laid` cues make (`place`): each cue
    is read only where it overlaps, so a block costs what its cues there cost.

    Returns
    -------
    np.ndarray, shape (channels, stop - start), float32
    """
    out = np.zeros((channels, stop - start), np.float32)
    for item in laid:
        lo, hi = max(start, item.start), min(stop, item.stop, total_samples)
        if lo < hi:
            out[:, lo - start : hi - start] += _shaped(item, lo - item.start, hi - item.start)
    for seconds, fade_in in ((fade_in_s, True), (fade_out_s, False)):
        k = min(int(seconds * sample_rate), total_samples)
        span = (0, k) if fade_in else (total_samples - k, total_samples)
        lo, hi = max(start, span[0]), min(stop, span[1])
        if k and lo < hi:
            curve = fade(k, fade_in=fade_in)[lo - span[0] : hi - span[0]]
            out[:, lo - start : hi - start] *= curve
    return out


def _shaped(item: Laid, u: int, v: int) -> np.ndarray:
    """Samples ``[u, v)`` of a laid cue (0 = its start) with its level and edge curves."""
    sig = item.cue.read(u, v).astype(np.float32)
    if item.gain != 1.0:
        sig = sig * np.float32(item.gain)
    n, h_in, h_out = item.cue.samples, item.h_in, item.h_out
    if h_in:  # rising half of the centred equal-power curve: sin(pi/4) .. 1
        _apply(sig, u, 0, h_in, lambda: np.sin(0.25 * np.pi * (1 + (np.arange(h_in) + 0.5) / h_in)))
    elif item.k_in:
        _apply(sig, u, 0, item.k_in, lambda: fade(item.k_in, fade_in=True))
    if h_out:  # falling: cos over [end - h, end + h]
        x = lambda: (np.arange(2 * h_out) + 0.5) / (2 * h_out)  # noqa: E731
        _apply(sig, u, n - h_out, n + h_out, lambda: np.cos(0.5 * np.pi * x()))
    elif item.k_out:
        _apply(sig, u, n - item.k_out, n, lambda: fade(item.k_out, fade_in=False))
    return sig


def _apply(sig: np.ndarray, u: int, a: int, b: int, curve: Any) -> None:
    """Multiply the part of `sig` (which starts at `u`) lying in ``[a, b)`` by the
    matching part of `curve()`, the curve over ``[a, b)``."""
    lo, hi = max(a, u), min(b, u + sig.shape[-1])
    if lo < hi:
        sig[:, lo - u : hi - u] *= np.asarray(curve(), np.float32)[lo - a : hi - a]


def place(
    placements: list[Placement],
    *,
    total_samples: int,
    sample_rate: int,
    crossfade_s: float,
    declick_s: float = 0.005,
    fade_in_s: float = 0.0,
    fade_out_s: float = 0.0,
    channels: int = 2,
) -> np.ndarray:
    """Lay cues on a silent timeline of `total_samples`: `lay_out`, then `render` of the
    whole timeline. (Its parameters repeat theirs on purpose: typed keywords, not
    ``**options``.)

    Where one cue ends exactly where the next begins, the next one's `transition` applies:
    a crossfade crosses them on equal-power curves centred on the cut (the outgoing cue,
    with its ringing tail, falls over ``[cut - h, cut + h]`` while the incoming one rises on
    the complementary curve); a fade takes the outgoing cue to silence by the cut; a cut
    only declicks. Elsewhere the cue edges get `declick_s` fades and the timeline stays
    silent. The programme fades in over ``fade_in_s`` and out over its last ``fade_out_s``.

    Returns
    -------
    np.ndarray, shape (channels, total_samples), float32
    """
    laid = lay_out(
        placements, sample_rate=sample_rate, crossfade_s=crossfade_s, declick_s=declick_s
    )
    return render(
        laid, 0, total_samples, total_samples=total_samples, sample_rate=sample_rate,
        fade_in_s=fade_in_s, fade_out_s=fade_out_s, channels=channels,
    )  # fmt: skip


def level_gain(cue_lufs: float, *, target_lufs: float) -> float:
    """The gain (float32) that brings a cue measured at `cue_lufs` to `target_lufs`
    (1 for a silent cue)."""
    if not np.isfinite(cue_lufs):
        return 1.0
    return float(np.float32(10 ** ((target_lufs - cue_lufs) / 20)))


def music_bus(placements: list[Placement], *, target_lufs: float, **options: Any) -> np.ndarray:
    """Each cue brought to `target_lufs` plus its `level_db` (`level`), then `place`d with
    `options`."""
    leveled = [
        dataclasses.replace(p, cue=level(cast(Cue, p.cue), target_lufs=target_lufs + p.level_db))
        for p in placements
    ]
    return place(leveled, **options)


def duck_gain(
    regions: list[tuple[int, int]],
    *,
    total_samples: int,
    sample_rate: int,
    depth_db: float,
    attack_s: float,
    release_s: float,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """Gain curve that lowers music by `depth_db` inside dialogue `regions`.

    The level falls linearly in dB over `attack_s` before each region (so it is down when
    the first word comes) and rises over `release_s` after it. With `start` and `stop`,
    only samples ``[start, stop)`` of the curve are made.

    Returns
    -------
    np.ndarray, shape (stop - start,), float32
    """
    stop = total_samples if stop is None else stop
    depth = np.zeros(stop - start, np.float64)  # 0 = full level .. 1 = ducked
    attack, release = int(attack_s * sample_rate), int(release_s * sample_rate)

    def rise(lo: int, hi: int, ramp: Any) -> None:
        lo, hi = max(lo, start), min(hi, stop)
        if lo < hi:
            idx = np.arange(lo, hi)
            depth[lo - start : hi - start] = np.maximum(depth[lo - start : hi - start], ramp(idx))

    for a, b in regions:
        if b + release <= start or a - attack >= stop:
            continue
        rise(a, b, np.ones_like)
        rise(max(0, a - attack), a, lambda i, a=a: (i - (a - attack) + 1) / (attack + 1))
        rise(b, min(total_samples, b + release), lambda i, b=b: 1 - (i - b + 1) / (release + 1))
    return (10 ** (-depth_db * depth / 20)).astype(np.float32)


@dataclass
class Programme:
    """The mixed programme and its parts, all at the delivery gain.

    Attributes
    ----------
    mix : np.ndarray, shape (channels, samples)
        Music and dialogue together (the music alone when there is no dialogue).
    music, dialogue : np.ndarray, shape (channels, samples)
        The buses as they sit in `mix` (``music + dialogue == mix``); dialogue is None
        when the original audio is not mixed in.
    soundtrack : np.ndarray, shape (channels, samples)
        The music (ducked under dialogue) brought to the preset on its own.
    report : dict
        Loudness before and after for the mix and the soundtrack, the gate, the ducking.
    """

    mix: np.ndarray
    music: np.ndarray
    dialogue: np.ndarray | None
    soundtrack: np.ndarray
    report: dict[str, Any]

    @property
    def samples(self) -> int:
        return int(self.soundtrack.shape[-1])

    def parts(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Samples ``[start, stop)`` of what is delivered (`tasks.audio.blocks.StreamedProgramme`
        has the same)."""
        out = {"soundtrack": self.soundtrack[:, start:stop]}
        if self.dialogue is not None:
            out |= {"mix": self.mix[:, start:stop], "stem_music": self.music[:, start:stop],
                    "stem_dialogue": self.dialogue[:, start:stop]}  # fmt: skip
        return out


@dataclass(frozen=True)
class Mixing:
    """How a programme is mixed and delivered: `mix_programme`'s `mixing` (and
    `tasks.audio.blocks.mix_programme_blocked`'s).

    Attributes
    ----------
    sample_rate : int
    regions : list of (start, end)
        Dialogue regions in samples (`tasks.audio.speech.speech_regions`).
    target_lufs, true_peak_dbtp : float
        The delivery preset.
    dialogue_gated : bool
        Measure the mix's loudness over the dialogue regions (e.g. Netflix), when there are
        any; otherwise over the whole programme.
    duck_db, attack_s, release_s : float
        How far the music ducks under dialogue (0: not at all), and how fast (`duck_gain`).
    music_vs_dialogue_lu : float
        With dialogue, the music bus's loudness relative to the dialogue's before ducking.
    with_dialogue : bool
        Mix the original audio in (else it only steers the ducking).
    """

    sample_rate: int
    regions: list[tuple[int, int]]
    target_lufs: float
    true_peak_dbtp: float
    dialogue_gated: bool = False
    duck_db: float = 10.0
    attack_s: float = 0.15
    release_s: float = 0.6
    music_vs_dialogue_lu: float = 0.0
    with_dialogue: bool = True

    def level(self, speech_lufs: float, music_lufs: float) -> np.float32 | None:
        """The music bus's gain to sit `music_vs_dialogue_lu` from the dialogue (None when
        either is silent)."""
        if np.isfinite(speech_lufs) and np.isfinite(music_lufs):
            return np.float32(10 ** ((speech_lufs + self.music_vs_dialogue_lu - music_lufs) / 20))
        return None

    def ducking(self, total_samples: int) -> dict[str, Any] | None:
        """`duck_gain`'s arguments for the whole programme (None when it does not duck)."""
        if not self.duck_db > 0:
            return None
        return dict(regions=self.regions, total_samples=total_samples,
                    sample_rate=self.sample_rate, depth_db=self.duck_db,
                    attack_s=self.attack_s, release_s=self.release_s)  # fmt: skip

    @property
    def gate(self) -> list[tuple[int, int]] | None:
        """The regions the mix's loudness is measured over (None: the whole programme)."""
        return self.regions if self.dialogue_gated and self.regions else None


def mix_programme(music: np.ndarray, dialogue: np.ndarray | None, *, mixing: Mixing) -> Programme:
    """Duck the music under dialogue, mix it with the original audio, deliver to a preset.

    Parameters
    ----------
    music : np.ndarray, shape (channels, samples)
        The placed cues.
    dialogue : np.ndarray, shape (channels, samples), optional
        The video's own audio, at `sample_rate` and the same length.
    mixing : Mixing
        The sample rate, dialogue regions, preset, ducking and what is mixed in.
    """
    m = mixing
    report: dict[str, Any] = {"dialogue_regions": len(m.regions)}
    bus = music
    if dialogue is not None and m.regions:
        speech = integrated_lufs(dialogue, m.sample_rate, regions=m.regions)
        scale = m.level(speech, integrated_lufs(music, m.sample_rate))
        if scale is not None:
            bus = music * scale
        report["dialogue_lufs"] = speech
        duck = m.ducking(music.shape[-1])
        if duck is not None:
            bus = bus * duck_gain(**duck)
            report["duck_db"] = m.duck_db
    alone, soundtrack_report = normalize(
        bus, m.sample_rate, target_lufs=m.target_lufs, true_peak_dbtp_max=m.true_peak_dbtp
    )
    report["soundtrack"] = soundtrack_report
    if dialogue is None or not m.with_dialogue:
        report.update(gate="programme", **soundtrack_report)
        return Programme(alone, alone, None, alone, report)
    total = bus + dialogue
    gate = m.gate
    gain, mix_report = normalize_gain(
        total, m.sample_rate, target_lufs=m.target_lufs, true_peak_dbtp_max=m.true_peak_dbtp,
        regions=gate,
    )  # fmt: skip
    report.update(gate="dialogue" if gate else "programme", **mix_report)
    music_out, dialogue_out = bus * gain, dialogue * gain
    return Programme(music_out + dialogue_out, music_out, dialogue_out, alone, report)
