"""SoundFont 2 (.sf2) and SoundFont 3 (.sf3: Ogg Vorbis samples), read and played here.

Why our own: no SoundFont renderer on the package index installs cleanly with pip and plays
SF3 at our rate. tinysoundfont declares pyaudio (which needs PortAudio's headers to build),
pyfluidsynth needs the system's libfluidsynth, midirenderer (rustysynth) refuses SF3 and
renders at a fixed 44.1 kHz, pyTinySoundFont runs its voices in Python. A SoundFont is a
table of sampled notes; playing one offline takes one short loop per note.

What is played (SoundFont 2.04, the parts General MIDI banks use): key and velocity ranges
of preset and instrument zones, instrument generators overridden per zone and preset
generators added on top; sample loops (modes 1 and 3), root key, scale tuning, coarse and
fine tune, pitch correction; the volume envelope (delay, attack, hold, decay, sustain,
release, key scaling of hold and decay); initial attenuation; a resonant low-pass at the
filter cut-off moved by the modulation envelope; pitch bent by the modulation envelope
and the vibrato and modulation LFOs; pan; exclusive classes (an open hi-hat is choked by
the closed one).
Each voice is one compiled loop (numba: read, interpolate, filter, envelope, pan).
Level conventions follow TinySoundFont, which this replaces: attenuation in centibels,
velocity as a linear gain (v / 127), a square-root pan law. LFOs on filter and volume,
modulators (the default ones included) and the effect sends are not played (the composer
adds its own room).
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from numba import njit

from scoreflow.tasks.errors import InputError

# generator numbers (SoundFont 2.04, section 8.1.2)
START_OFS, END_OFS, LOOP_START_OFS, LOOP_END_OFS, START_COARSE = 0, 1, 2, 3, 4
FILTER_FC, FILTER_Q, END_COARSE, PAN = 8, 9, 12, 17
DELAY, ATTACK, HOLD, DECAY, SUSTAIN, RELEASE, KEY_TO_HOLD, KEY_TO_DECAY = range(33, 41)
INSTRUMENT, KEY_RANGE, VEL_RANGE, LOOP_START_COARSE = 41, 43, 44, 45
ATTENUATION, LOOP_END_COARSE, COARSE_TUNE, FINE_TUNE, SAMPLE_ID = 48, 50, 51, 52, 53
SAMPLE_MODES, SCALE_TUNING, EXCLUSIVE_CLASS, ROOT_KEY = 54, 56, 57, 58
MOD_LFO_TO_PITCH, VIB_LFO_TO_PITCH, MOD_ENV_TO_PITCH, MOD_ENV_TO_FC = 5, 6, 7, 11
VOL_ENV = (DELAY, ATTACK, HOLD, DECAY, SUSTAIN, RELEASE, KEY_TO_HOLD, KEY_TO_DECAY)
MOD_ENV = (25, 26, 27, 28, 29, 30, 31, 32)
LFO_TO_PITCH = ((21, 22, MOD_LFO_TO_PITCH), (23, 24, VIB_LFO_TO_PITCH))  # (delay, freq, depth)
RANGES = (KEY_RANGE, VEL_RANGE)
LIMITS = {ATTENUATION: (0, 1440), FILTER_FC: (1500, 13500), FILTER_Q: (0, 960)}
# generators that belong to the instrument level only (a preset may not offset them)
INSTRUMENT_ONLY = {0, 1, 2, 3, 4, 12, 45, 46, 47, 50, 53, 54, 57, 58}
DEFAULTS = {FILTER_FC: 13500, SCALE_TUNING: 100, ROOT_KEY: -1}
DEFAULTS.update({g: -12000 for g in (21, 23, 25, 26, 27, 28, 30, 33, 34, 35, 36, 38)})

PHDR = np.dtype([("name", "S20"), ("preset", "<u2"), ("bank", "<u2"), ("bag", "<u2"),
                 ("library", "<u4"), ("genre", "<u4"), ("morphology", "<u4")])  # fmt: skip
BAG = np.dtype([("gen", "<u2"), ("mod", "<u2")])
GEN = np.dtype([("oper", "<u2"), ("amount", "<i2")])
INST = np.dtype([("name", "S20"), ("bag", "<u2")])
SHDR = np.dtype([("name", "S20"), ("start", "<u4"), ("end", "<u4"), ("loop_start", "<u4"),
                 ("loop_end", "<u4"), ("rate", "<u4"), ("pitch", "u1"), ("correction", "i1"),
                 ("link", "<u2"), ("type", "<u2")])  # fmt: skip
VORBIS = 0x10  # sample type bit of SF3's compressed samples


@dataclass(frozen=True)
class Region:
    """One playable (preset zone x instrument zone) pair: where it answers and how it sounds.

    ``gens`` holds every generator that differs from its default, preset offsets applied.
    """

    key_lo: int
    key_hi: int
    vel_lo: int
    vel_hi: int
    sample: int
    gens: dict[int, int] = field(hash=False)

    def gen(self, oper: int) -> int:
        return self.gens.get(oper, DEFAULTS.get(oper, 0))

    def clamped(self, oper: int) -> int:
        """`gen` within the range the specification allows (fonts in the wild exceed it:
        MuseScore_General's kick has an attenuation of -100 cB)."""
        lo, hi = LIMITS[oper]
        return min(max(self.gen(oper), lo), hi)


class SoundFont:
    """A SoundFont's presets, read once; samples decoded on first use.

    Parameters
    ----------
    path : str
        A .sf2 or .sf3 file.

    Raises
    ------
    InputError
        The file is missing or is not a SoundFont (names the file and the chunk at fault).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        chunks = _read_riff(path)
        self._smpl = chunks["smpl"]  # 16-bit frames (SF2) or Ogg streams, odd-sized (SF3)
        self._pool = np.frombuffer(self._smpl, "<i2", count=len(self._smpl) // 2)
        self.samples = _table(chunks, "shdr", SHDR, path)[:-1]
        self.presets = _presets(chunks, path, len(self.samples))
        self.info = {
            key: bytes(chunks[cid]).split(b"\0", 1)[0].decode("latin-1").strip()
            for key, cid in (("name", "INAM"), ("copyright", "ICOP"), ("comment", "ICMT"))
            if cid in chunks
        }
        self._decoded: dict[int, np.ndarray] = {}
        self._slopes: dict[int, np.ndarray] = {}

    def regions(self, bank: int, program: int, key: int, velocity: int) -> list[Region]:
        """The regions that play `key` at `velocity` in preset (`bank`, `program`): that
        preset, else the same program in bank 0 (or the first kit for drums), else the first."""
        zones = self.presets.get((bank, program))
        if zones is None:
            fallback = (128, 0) if bank == 128 else (0, program)
            zones = self.presets.get(fallback) or next(iter(self.presets.values()))
        return [
            z for z in zones if z.key_lo <= key <= z.key_hi and z.vel_lo <= velocity <= z.vel_hi
        ]

    def sample_data(self, index: int) -> tuple[np.ndarray, int, int, int]:
        """A sample's frames as float32 (with a guard frame), its rate and loop points.

        Returns
        -------
        data : np.ndarray, shape (n + 1,), float32
        rate : int
        loop_start, loop_end : int
            In frames from the sample's start.
        """
        head = self.samples[index]
        data = self._decoded.get(index)
        start = int(head["start"])
        if data is None:
            if int(head["type"]) & VORBIS:
                data = _decode_vorbis(self._smpl[start : int(head["end"])], self.path, index)
            else:
                data = self._pool[start : int(head["end"])].astype(np.float32) / 32768.0
            data = np.concatenate([data, data[-1:] if len(data) else [0.0]]).astype(np.float32)
            self._decoded[index] = data
        base = 0 if int(head["type"]) & VORBIS else start  # SF3 loops count from the sample
        return data, int(head["rate"]), int(head["loop_start"]) - base, int(head["loop_end"]) - base

    def sample_slope(self, index: int) -> np.ndarray:
        """``np.diff`` of `sample_data`'s frames (for linear interpolation), float32."""
        slope = self._slopes.get(index)
        if slope is None:
            data = self.sample_data(index)[0]
            slope = self._slopes[index] = np.append(np.diff(data), np.float32(0))
        return slope


def _read_riff(path: str) -> dict[str, memoryview]:
    """The chunks of a RIFF sfbk file by id (the LIST chunks opened), as views of one read
    of the file: the sample data is not copied."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise InputError("SoundFont not found", source=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the SoundFont ({exc.strerror})", source=path) from None
    if raw[:4] != b"RIFF" or raw[8:12] != b"sfbk":
        raise InputError(
            "not a SoundFont (no RIFF sfbk header)",
            source=path,
            fix="Give a SoundFont 2 (.sf2) or 3 (.sf3) file",
        )
    chunks: dict[str, memoryview] = {}
    view = memoryview(raw)
    _walk(view, 12, min(len(raw), 8 + int.from_bytes(raw[4:8], "little")), chunks)
    for need in ("smpl", "phdr", "pbag", "pgen", "inst", "ibag", "igen", "shdr"):
        if need not in chunks:
            raise InputError(f"not a SoundFont: no {need} chunk", source=path)
    return chunks


def _walk(view: memoryview, pos: int, end: int, chunks: dict[str, memoryview]) -> None:
    while pos + 8 <= end:
        cid = bytes(view[pos : pos + 4]).decode("latin-1")
        size = int.from_bytes(view[pos + 4 : pos + 8], "little")
        body = pos + 8
        if cid == "LIST":
            _walk(view, body + 4, min(end, body + size), chunks)
        else:
            chunks[cid] = view[body : min(end, body + size)]
        pos = body + size + (size & 1)


def _table(chunks: dict[str, memoryview], cid: str, dtype: np.dtype, path: str) -> np.ndarray:
    data = chunks[cid]
    if len(data) % dtype.itemsize or len(data) < 2 * dtype.itemsize:
        raise InputError(f"not a SoundFont: {cid} chunk of {len(data)} bytes", source=path)
    return np.frombuffer(data, dtype)


def _zones(bags: np.ndarray, gens: np.ndarray, first: int, last: int) -> list[dict[int, int]]:
    """The generator lists of bags [first, last) as {oper: amount}; ranges as lo | hi << 8."""
    zones = []
    for b in range(first, min(last, len(bags) - 1)):
        zone: dict[int, int] = {}
        for g in gens[int(bags[b]["gen"]) : int(bags[b + 1]["gen"])]:
            oper, amount = int(g["oper"]), int(g["amount"])
            zone[oper] = amount & 0xFFFF if oper in RANGES else amount
        zones.append(zone)
    return zones


Zone = dict[int, int]


def _split_global(zones: list[Zone], terminal: int) -> tuple[Zone, list[Zone]]:
    """(global zone, the others): the first zone is global when it lacks the terminal gen."""
    if zones and terminal not in zones[0]:
        return zones[0], [z for z in zones[1:] if terminal in z]
    return {}, [z for z in zones if terminal in z]


def _range(zone: dict[int, int], oper: int) -> tuple[int, int]:
    value = zone.get(oper, 127 << 8)
    return value & 0xFF, value >> 8


def _presets(chunks: dict[str, memoryview], path: str, n_samples: int) -> dict:
    """{(bank, program): [Region]} with instrument and preset zones flattened."""
    phdr = _table(chunks, "phdr", PHDR, path)
    pbag, pgen = _table(chunks, "pbag", BAG, path), np.frombuffer(chunks["pgen"], GEN)
    inst = _table(chunks, "inst", INST, path)
    ibag, igen = _table(chunks, "ibag", BAG, path), np.frombuffer(chunks["igen"], GEN)
    instruments = [
        _split_global(_zones(ibag, igen, int(inst[i]["bag"]), int(inst[i + 1]["bag"])), SAMPLE_ID)
        for i in range(len(inst) - 1)
    ]
    presets: dict[tuple[int, int], list[Region]] = {}
    for p in range(len(phdr) - 1):
        zones = _zones(pbag, pgen, int(phdr[p]["bag"]), int(phdr[p + 1]["bag"]))
        glob, own = _split_global(zones, INSTRUMENT)
        regions = []
        for pz in own:
            if not 0 <= pz[INSTRUMENT] < len(instruments):
                message = f"not a SoundFont: preset {p} names a missing instrument"
                raise InputError(message, source=path)
            iglob, izones = instruments[pz[INSTRUMENT]]
            regions += _flatten({**glob, **pz}, iglob, izones, n_samples)
        key = (int(phdr[p]["bank"]), int(phdr[p]["preset"]))
        presets.setdefault(key, regions)
    if not presets:
        raise InputError("not a SoundFont: no presets", source=path)
    return presets


def _flatten(pz: Zone, iglob: Zone, izones: list[Zone], n_samples: int) -> list[Region]:
    plo, phi = _range(pz, KEY_RANGE)
    pvlo, pvhi = _range(pz, VEL_RANGE)
    out = []
    for iz in izones:
        gens = {**iglob, **iz}
        lo, hi = _range(gens, KEY_RANGE)
        vlo, vhi = _range(gens, VEL_RANGE)
        lo, hi, vlo, vhi = max(lo, plo), min(hi, phi), max(vlo, pvlo), min(vhi, pvhi)
        if lo > hi or vlo > vhi or not 0 <= gens[SAMPLE_ID] < n_samples:
            continue
        for oper, amount in pz.items():
            if oper not in INSTRUMENT_ONLY and oper not in RANGES and oper != INSTRUMENT:
                gens[oper] = gens.get(oper, DEFAULTS.get(oper, 0)) + amount
        out.append(Region(lo, hi, vlo, vhi, gens[SAMPLE_ID], gens))
    return out


def _decode_vorbis(data: memoryview, path: str, index: int) -> np.ndarray:
    import soundfile

    try:
        frames, _ = soundfile.read(io.BytesIO(bytes(data)), dtype="float32", always_2d=True)
    except Exception as exc:
        message = f"sample {index} is not readable Ogg Vorbis ({exc})"
        raise InputError(message, source=path) from None
    return frames[:, 0]


@lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int, size: int) -> SoundFont:
    return SoundFont(path)


def load_soundfont(path: str | os.PathLike[str]) -> SoundFont:
    """A SoundFont, read once per process (reread when the file changes)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError("SoundFont not found", source=path) from None
    if not os.path.isfile(path):
        raise InputError("not a file", source=path, fix="Give a .sf2 or .sf3 SoundFont file")
    return _cached(os.path.abspath(path), st.st_mtime_ns, st.st_size)


def timecents_s(tc: int) -> float:
    return 0.0 if tc <= -12000 else 2.0 ** (tc / 1200)


@dataclass(frozen=True)
class Note:
    """A note to play: times in output samples, `kill` where a choke cuts it short."""

    channel: int
    bank: int
    program: int
    key: int
    velocity: int
    on: int
    off: int
    pan: float = 0.0  # channel pan, -0.5 (left) .. 0.5 (right)
    kill: int | None = None


def play(
    font: SoundFont,
    notes: list[Note],
    *,
    sample_rate: int,
    samples: int,
    gain_db: float,
    planar: bool = False,
) -> np.ndarray:
    """Render `notes` into stereo.

    Returns
    -------
    np.ndarray, shape (samples, 2), float32; with `planar`, shape (2, samples)
    """
    out = np.zeros((2, samples), np.float32)  # planar while voices are added: faster
    voices = [(n, font.regions(n.bank, n.program, n.key, n.velocity)) for n in notes]
    for note, regions in _choke(voices):
        for region in regions:
            _voice(font, region, note, out, sample_rate=sample_rate, gain_db=gain_db)
    return out if planar else np.ascontiguousarray(out.T)


def _choke(voices: list[tuple[Note, list[Region]]]) -> list[tuple[Note, list[Region]]]:
    """The notes with `kill` set where a later note of the same exclusive class on the
    same channel starts while they still sound."""
    last: dict[tuple[int, int], int] = {}
    kills: dict[int, int] = {}
    for i in sorted(range(len(voices)), key=lambda i: voices[i][0].on):
        n, regions = voices[i]
        for cls in {r.gen(EXCLUSIVE_CLASS) for r in regions} - {0}:
            prev = last.get((n.channel, cls))
            if prev is not None and prev not in kills:
                kills[prev] = n.on
            last[(n.channel, cls)] = i
    return [
        (replace(n, kill=kills[i]), regions) if i in kills else (n, regions)
        for i, (n, regions) in enumerate(voices)
    ]


def _voice(
    font: SoundFont, r: Region, n: Note, out: np.ndarray, *, sample_rate: int, gain_db: float
) -> None:
    """Add one region's voice for note `n` into `out` (2, samples)."""
    data, rate, loop_start, loop_end = font.sample_data(r.sample)
    head = font.samples[r.sample]
    start = r.gen(START_OFS) + 32768 * r.gen(START_COARSE)
    end = len(data) - 1 + r.gen(END_OFS) + 32768 * r.gen(END_COARSE)
    loop_start += r.gen(LOOP_START_OFS) + 32768 * r.gen(LOOP_START_COARSE)
    loop_end += r.gen(LOOP_END_OFS) + 32768 * r.gen(LOOP_END_COARSE)
    end = min(max(end, start + 1), len(data) - 1)
    looped = r.gen(SAMPLE_MODES) & 1 and start <= loop_start < loop_end <= end
    root = r.gen(ROOT_KEY) if r.gen(ROOT_KEY) >= 0 else int(head["pitch"])
    root = 60 if root > 127 else root
    cents = (n.key - root) * r.gen(SCALE_TUNING) + 100 * r.gen(COARSE_TUNE) + r.gen(FINE_TUNE)
    ratio = 2.0 ** ((cents + int(head["correction"])) / 1200) * rate / sample_rate
    held = max(0, (n.off if n.kill is None else min(n.off, n.kill)) - n.on)
    choked = n.kill is not None and n.kill < n.off
    env = _volume_envelope(r, n.key, held, choked, sample_rate=sample_rate)
    room = out.shape[1] - n.on
    if not looped and not (r.gen(MOD_ENV_TO_PITCH) or any(r.gen(g[2]) for g in LFO_TO_PITCH)):
        room = min(room, math.ceil((end - start) / ratio) + 1)  # the sample runs out first
    cut = None if n.kill is None or n.kill < n.off else n.kill - n.on
    if cut is not None and cut < len(env):  # choked while ringing out: 5 ms to silence
        env = env[: cut + round(0.005 * sample_rate)].copy()
        env[cut:] *= np.linspace(1, 0, len(env) - cut, dtype=np.float32)
    env = env[:room]
    if len(env) == 0:
        return
    menv = _mod_envelope(r, n.key, held, len(env), sample_rate=sample_rate)
    steps = _pitch_steps(r, ratio, menv, sample_rate=sample_rate)
    fc = (r.clamped(FILTER_FC) + r.gen(MOD_ENV_TO_FC) * menv).astype(np.float32)
    level = 10 ** ((gain_db - r.clamped(ATTENUATION) / 10) / 20) * n.velocity / 127
    pan = min(max(r.gen(PAN) / 1000 + n.pan, -0.5), 0.5)
    _mix_voice(
        data, font.sample_slope(r.sample), out, n.on, float(start), ratio, steps,
        bool(looped), float(loop_start), float(loop_end), float(end), env, fc,
        float(10 ** (r.clamped(FILTER_Q) / 200)), float(sample_rate),
        level * math.sqrt(0.5 - pan), level * math.sqrt(0.5 + pan),
    )  # fmt: skip


def _segments(r: Region, key: int, gens: tuple[int, ...], sr: int) -> tuple[int, int, int, float]:
    """Delay, attack and hold in samples and the decay time in seconds of an envelope whose
    generators are `gens` (delay, attack, hold, decay, _, _, key-to-hold, key-to-decay)."""
    shift = 60 - key
    return (
        round(timecents_s(r.gen(gens[0])) * sr),
        round(timecents_s(r.gen(gens[1])) * sr),
        round(timecents_s(r.gen(gens[2]) + r.gen(gens[6]) * shift) * sr),
        timecents_s(r.gen(gens[3]) + r.gen(gens[7]) * shift),
    )


def _volume_envelope(
    r: Region, key: int, held: int, choked: bool, *, sample_rate: int
) -> np.ndarray:
    """The volume envelope as linear gain, float32: delay, linear attack, hold, decay in dB
    to the sustain level, then from the note-off (a choke: 5 ms) a release falling 100 dB
    per release time, until -100 dB."""
    sr = sample_rate
    delay, attack, hold, decay_s = _segments(r, key, VOL_ENV, sr)
    sustain_db = -min(max(r.gen(SUSTAIN), 0), 1440) / 10
    release_s = max(0.005 if choked else timecents_s(r.gen(RELEASE)), 0.001)
    onset = min(delay + attack + hold, held)
    gain = np.full(held, 10 ** (sustain_db / 20), np.float32)
    gain[:onset] = 1
    falling = min(held - onset, math.ceil(decay_s * sr * -sustain_db / 100))
    if falling > 0:
        gain[onset : onset + falling] = _fall(falling, decay_s * sr)
    if attack:
        gain[delay : delay + attack] *= ramp(min(attack, max(held - delay, 0))) / attack
    gain[: min(delay, held)] = 0
    end_gain = float(gain[-1]) if held else 0.0
    if end_gain <= 0:
        return gain
    end_db = 20 * math.log10(end_gain)
    tail = math.ceil(release_s * sr * max(0.0, 100 + end_db) / 100)
    return np.concatenate([gain, end_gain * _fall(tail, release_s * sr, skip=1)])


def _fall(n: int, full_scale: float, *, skip: int = 0) -> np.ndarray:
    """n samples of a fall of 100 dB per `full_scale` samples, from 0 dB (`skip` samples in)."""
    return np.exp(ramp(n, skip) * np.float32(-100 / 20 * math.log(10) / full_scale))


_RAMP = np.arange(1 << 16, dtype=np.float32)


def ramp(n: int, skip: int = 0) -> np.ndarray:
    """``np.arange(skip, skip + n)`` as float32, from one shared buffer (do not write)."""
    global _RAMP
    if skip + n > len(_RAMP):
        _RAMP = np.arange(max(skip + n, 2 * len(_RAMP)), dtype=np.float32)
    return _RAMP[skip : skip + n]


def _mod_envelope(r: Region, key: int, held: int, length: int, *, sample_rate: int) -> np.ndarray:
    """The modulation envelope, 0..1, float32, `length` long (zeros when nothing uses it):
    delay, linear attack, hold, linear decay to the sustain level, linear release."""
    if not (r.gen(MOD_ENV_TO_FC) or r.gen(MOD_ENV_TO_PITCH)):
        return np.zeros(length, np.float32)
    sr = sample_rate
    delay, attack, hold, decay_s = _segments(r, key, MOD_ENV, sr)
    sustain = 1 - min(max(r.gen(MOD_ENV[4]), 0), 1000) / 1000
    t = ramp(length)
    onset = delay + attack + hold
    if decay_s > 0:
        level = np.maximum(1 - (t - onset) / np.float32(decay_s * sr), np.float32(sustain))
    else:
        level = np.full(length, sustain, np.float32)
    level[: min(onset, length)] = 1
    if attack:
        level *= np.clip((t - delay) / attack, 0, 1)
    level[: min(delay, length)] = 0
    if held < length:
        release = max(timecents_s(r.gen(MOD_ENV[5])), 0.001) * sr
        at = float(level[held - 1]) if held else 0.0
        level[held:] = np.maximum(at - (t[held:] - held) / np.float32(release), 0)
    return level


def _pitch_steps(r: Region, ratio: float, menv: np.ndarray, *, sample_rate: int) -> np.ndarray:
    """Source frames advanced per output sample where the pitch moves (the modulation
    envelope, the vibrato and modulation LFOs); an empty array where it is steady."""
    n = len(menv)
    cents = np.zeros(n, np.float32)
    if r.gen(MOD_ENV_TO_PITCH):
        cents += r.gen(MOD_ENV_TO_PITCH) * menv
    for delay_gen, freq_gen, depth_gen in LFO_TO_PITCH:
        if r.gen(depth_gen):
            cents += r.gen(depth_gen) * _lfo(r, delay_gen, freq_gen, n, sample_rate)
    if not cents.any():
        return np.empty(0, np.float64)
    return ratio * np.exp2(cents.astype(np.float64) / 1200)


def _lfo(r: Region, delay_gen: int, freq_gen: int, n: int, sr: int) -> np.ndarray:
    """A triangle LFO, -1..1, silent during its delay."""
    hz = 8.176 * 2.0 ** (r.gen(freq_gen) / 1200)
    delay = round(timecents_s(r.gen(delay_gen)) * sr)
    phase = np.maximum(np.arange(n, dtype=np.float64) - delay, 0) * hz / sr
    tri = 4 * np.abs(phase + 0.25 - np.floor(phase + 0.75)) - 1
    tri[:delay] = 0
    return tri.astype(np.float32)


FC_BLOCK = 32  # the moving filter's coefficients are updated every this many samples


@njit(cache=True, nogil=True)
def _mix_voice(
    data: np.ndarray,
    slope: np.ndarray,
    out: np.ndarray,
    offset: int,
    pos: float,
    ratio: float,
    steps: np.ndarray,
    looped: bool,
    loop_start: float,
    loop_end: float,
    end: float,
    env: np.ndarray,
    fc_cents: np.ndarray,
    q: float,
    sample_rate: float,
    gain_l: float,
    gain_r: float,
) -> None:  # pragma: no cover - compiled
    """Play one voice into `out` (2, samples) from `offset`: read the sample at `pos`
    moving `ratio` (or ``steps[k]``) frames per output sample, looping or stopping at
    `end`, interpolate linearly, low-pass at ``fc_cents[k]`` (an RBJ biquad of resonance
    `q`, skipped where wide open), scale by ``env[k]``, pan by the two gains."""
    top = min(13500.0, 1200 * math.log2(0.45 * sample_rate / 8.176))
    filtered = fc_cents.min() < top
    span = loop_end - loop_start
    b0 = b1 = b2 = a1 = a2 = 0.0
    x1 = x2 = y1 = y2 = 0.0
    n = min(len(env), out.shape[1] - offset)
    for k in range(n):
        if looped:
            while pos >= loop_end:
                pos -= span
        elif pos >= end:
            break
        i = int(pos)
        x = data[i] + slope[i] * (pos - i)
        if filtered:
            if k % FC_BLOCK == 0:
                hz = 8.176 * 2.0 ** (min(fc_cents[k], top) / 1200)
                w = 2 * math.pi * hz / sample_rate
                alpha, cos = math.sin(w) / (2 * q), math.cos(w)
                a0 = 1 + alpha
                b1 = (1 - cos) / a0
                b0 = b2 = b1 / 2
                a1, a2 = -2 * cos / a0, (1 - alpha) / a0
            y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            x2, x1, y2, y1 = x1, x, y1, y
            x = y
        v = x * env[k]
        out[0, offset + k] += v * gain_l
        out[1, offset + k] += v * gain_r
        pos += steps[k] if len(steps) else ratio
