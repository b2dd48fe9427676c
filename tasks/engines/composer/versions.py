"""The versions a music library delivers of one track, arranged by the composer.

One track is one brief and one seed: its tempo (a whole number of samples a beat, so bars
and loops are whole numbers of samples), key, progressions and motif are shared by every
version, as a library composer cuts versions from one session:

- **main**: the full piece, composed to whole bars, its final tonic held and ringing out;
- **cutdowns** and the **sting**: re-planned to their exact length from the same material
  (the main's motif and progressions), ending on a *button*: the last bar before it is the
  dominant, the tonic is struck on a downbeat at most 1.5 s before the end, every part
  stops there and the ring (release and reverb) dies out inside the length;
- **loops**: N bars cut from the main's body on bar lines, the notes that ring past the
  loop's end folded into its head (each part), then produced in steady state (the loop
  mixed three times over, the middle pass kept), so it repeats without a seam.

Every version is rendered as stems (drums, bass, harmony, melody, fx) through
`production.mix_stems`, which sum to its mix.
"""

from __future__ import annotations

import dataclasses
import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pretty_midi

from scoreflow.tasks.engines.composer.parts import RING_S, Writer, melody_instrument
from scoreflow.tasks.engines.composer.plan import Plan, make_plan
from scoreflow.tasks.engines.composer.production import mix_stems, role_of
from scoreflow.tasks.engines.composer.render import midi_bytes, sound_text, synthesize_parts, tone
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.timeline.model import Brief

if TYPE_CHECKING:
    from scoreflow.tasks.engines.composer import Composer

STEMS = ("drums", "bass", "harmony", "melody", "fx")
BUTTON_RING_S = (0.6, 1.45)  # the button's downbeat lies this far before the end
STAB_S = 0.32  # how long the button chord is held
TAPER_S = 0.25  # the last of the ring-out tapers to digital silence
MAIN_TAIL_S = RING_S + 0.5  # the main's final chord rings this long past its last bar
LOOP_RENDER_TAIL_S = 3.0  # rendered past a loop's end, then folded into its head
EARLY_S = 0.03  # a note struck this much before a bar line belongs to that bar
PHRASE_BARS = 4  # loops start on a phrase's downbeat: every 4th bar of a section
ENERGY_HOP_S = 0.01  # resolution of `energy_index`
SEAM_WINDOW_S = 0.25  # a loop's level is compared across its seam over this long
SEAM_MARGIN_DB = 0.5  # the seam's level change is held this far under the loop's own


def grid_bpm(bpm: float, sample_rate: int) -> float:
    """The tempo nearest `bpm` whose beat is a whole number of samples."""
    return 60.0 * sample_rate / round(60.0 * sample_rate / bpm)


@dataclass
class Arrangement:
    """One version's notes, ready to render.

    Attributes
    ----------
    samples : int
        The version's exact length in samples.
    button_s : float or None
        Where the button (the final tonic downbeat) is struck; None for the main and loops.
    loop_bars : int
        Bars of a loop (0 for other versions).
    """

    name: str
    kind: str  # main | cutdown | sting | loop
    plan: Plan
    pm: pretty_midi.PrettyMIDI
    samples: int
    midi: bytes
    button_s: float | None = None
    loop_bars: int = 0


def stem_of(inst: pretty_midi.Instrument, *, melody: str, roles: dict[str, str]) -> str:
    """The stem an instrument of a composed track belongs to: drums, bass (its role in the
    vocabulary, else a General MIDI bass), melody (the part carrying the tune), fx
    (timpani strokes) or harmony (everything else)."""
    if inst.is_drum:
        return "drums"
    if inst.program == 47:  # timpani strokes: accents, not harmony
        return "fx"
    if roles.get(inst.name, role_of(inst.program, is_drum=False)) == "bass":
        return "bass"
    return "melody" if inst.name == melody else "harmony"


class TrackArranger:
    """Arranges every version of one track from one brief and seed.

    Parameters
    ----------
    composer : Composer
        The backend (its vocabulary, SoundFonts and production).
    brief : Brief
        The track's brief; its tempo is moved to the nearest `grid_bpm`.
    seed : int
        The track's seed: every version is drawn from it.
    """

    def __init__(self, composer: Composer, brief: Brief, *, seed: int) -> None:
        self.composer = composer
        self.sr = composer.sample_rate
        bpm = grid_bpm(brief.tempo_bpm, self.sr)
        self.brief = dataclasses.replace(
            brief, tempo_bpm=bpm, tempo_range=(bpm, bpm), hits_s=(), entry="soft"
        )
        self.seed = seed
        self.beat_s = 60.0 / bpm
        self.motif: list[tuple[float, float, int]] | None = None
        self.melody = melody_instrument(self.brief, composer.vocab) or "melody"
        self.roles = {name: e["role"] for name, e in composer.vocab["instruments"].items()}
        self.sound = sound_text(production=brief.genre, brightness=brief.brightness)

    @property
    def bpm(self) -> float:
        return self.brief.tempo_bpm

    def _write(self, brief: Brief, seconds: float) -> tuple[Plan, pretty_midi.PrettyMIDI]:
        """Plan and notes from the track's seed, with the main's motif once there is one
        (the progressions already follow from the seed whatever the length)."""
        rng = np.random.default_rng(self.seed)
        plan = make_plan(brief, seconds, rng, self.composer.vocab)
        if self.motif is None:
            self.motif = plan.motif
        plan.motif = list(self.motif)
        return plan, Writer(plan, brief, rng, self.composer.vocab).write()

    def _exported(
        self, plan: Plan, pm: pretty_midi.PrettyMIDI
    ) -> tuple[bytes, pretty_midi.PrettyMIDI]:
        """The MIDI file of a version and what it reads back as (rendered to the tick)."""
        data = midi_bytes(pm, plan, sound=self.sound)
        return data, pretty_midi.PrettyMIDI(io.BytesIO(data))

    def main(self, seconds: float) -> Arrangement:
        """The full piece: whole 4/4 bars nearest `seconds`, the final tonic ringing out
        for `MAIN_TAIL_S` after them."""
        bar_s = 4 * self.beat_s
        bars = max(4, round(seconds / bar_s))
        plan, pm = self._write(self.brief, bars * bar_s)
        data, back = self._exported(plan, pm)
        samples = round(bars * 4 * 60.0 * self.sr / self.bpm) + round(MAIN_TAIL_S * self.sr)
        return Arrangement("main", "main", plan, back, samples, data)

    def cutdown(self, name: str, seconds: float, *, kind: str = "cutdown") -> Arrangement:
        """A version of exactly `seconds`, ending on a button.

        Whole beats at the track's tempo lead to the button's downbeat, which lies between
        0.6 and 1.45 s before the end; the bar before it is the dominant, the tonic is
        struck there (the grid puts a sync point on it) and held `STAB_S`.
        """
        samples = round(seconds * self.sr)
        lo, hi = BUTTON_RING_S
        beats = math.floor((seconds - lo) / self.beat_s)
        if beats < 2 or seconds - beats * self.beat_s > hi + 1e-9:
            raise InputError(
                f"too short for a button ending at {self.bpm:.1f} bpm",
                field=f"delivery.{kind}",
                value=seconds,
                fix=f"Make it at least {2 * self.beat_s + lo:.1f} s, or the tempo faster",
            )
        at = beats * self.beat_s
        brief = dataclasses.replace(self.brief, hits_s=(at,))
        plan, pm = self._write(brief, at + 4 * self.beat_s)
        _button(pm, at, end_s=seconds)
        data, back = self._exported(plan, pm)
        return Arrangement(name, kind, plan, back, samples, data, button_s=at)

    def loop(
        self, main: Arrangement, bars: int, *, energy: np.ndarray | None = None
    ) -> Arrangement:
        """`bars` bars of the main's body (not the intro, nor the ending where it can): of the spans
        whose level at the seam (the last quarter second against the first) changes no
        more than it does inside them, the loudest that starts on a phrase's downbeat
        (every 4th bar of a section), else the loudest.

        `energy` is the main mix's `energy_index`; without it the loudest span is taken
        whatever its seam (a span ending in a drop or a build jumps at its seam).
        """
        plan = main.plan
        last = len(plan.bars) - 1  # the ending bar
        body = [s for s in plan.sections if s.name not in ("intro", "ending")]
        phrase = {k for s in body for k in range(s.first, s.first + s.count, PHRASE_BARS)}
        starts = [k for s in body for k in range(s.first, s.first + s.count) if k + bars <= last]
        inside = [k for k in starts if plan.bars[k + bars - 1].section != "ending"]
        starts = inside or starts  # a short main's loop may run into its ending
        if not starts:
            raise InputError(
                f"the main has too few bars for a {bars}-bar loop",
                field="delivery.loops_bars",
                value=bars,
                fix=f"Use loops of at most {max(1, last - 1)} bars or a longer main",
            )

        def rank(k: int) -> tuple[float, bool, float]:
            loud = -sum(b.energy for b in plan.bars[k : k + bars])
            excess = 0.0
            if energy is not None:
                end = plan.bars[k + bars].start_s
                jump, inner = seam_levels(energy, plan.bars[k].start_s, end, sample_rate=self.sr)
                excess = max(0.0, jump + SEAM_MARGIN_DB - inner)
            return excess, k not in phrase, loud

        first = min(starts, key=rank)
        t0 = plan.bars[first].start_s
        length_s = sum(b.beats * b.beat_s for b in plan.bars[first : first + bars])
        loop_plan = dataclasses.replace(
            plan,
            seconds=length_s,
            bars=[
                dataclasses.replace(b, start_s=b.start_s - t0)
                for b in plan.bars[first : first + bars]
            ],
            sections=[],
        )
        pm = _excerpt(main.pm, t0, t0 + length_s)
        data, back = self._exported(loop_plan, pm)
        samples = round(bars * 4 * 60.0 * self.sr / self.bpm)
        return Arrangement(f"loop-{bars}", "loop", loop_plan, back, samples, data, loop_bars=bars)

    # -- rendering ---------------------------------------------------------------------------
    def stems(self, arr: Arrangement) -> dict[str, np.ndarray]:
        """The version's stems, each of shape (2, samples), float32; they sum to its mix.

        A loop's parts are rendered past its end (each note's whole ring) and folded, then
        produced three times over with the middle pass kept: compressors and reverb are in
        the state the loop itself leaves, and the resampling filters of the reverb see
        the loop on both sides of the kept pass, not the zeros past the buffer's ends.
        """
        composer = self.composer
        render_len = arr.samples
        if arr.loop_bars:  # every note's whole ring, to fold: none is cut off
            last = max((n.end for i in arr.pm.instruments for n in i.notes), default=0.0)
            over_s = max(LOOP_RENDER_TAIL_S, last - arr.samples / self.sr + RING_S)
            render_len += round(over_s * self.sr)
        parts = synthesize_parts(
            arr.pm,
            sample_rate=self.sr,
            samples=render_len,
            soundfont=composer.soundfont,
            gain_db=composer.gain_db,
            fonts=composer.fonts,
        )
        grouped: dict[str, list[tuple[str, np.ndarray]]] = {}
        for inst, (role, audio) in zip(arr.pm.instruments, parts, strict=True):
            if arr.loop_bars:
                audio = np.tile(_fold(audio, arr.samples), (1, 3))
            grouped.setdefault(stem_of(inst, melody=self.melody, roles=self.roles), []).append(
                (role, audio)
            )
        stems = mix_stems(
            grouped,
            self.sr,
            template=composer.production(self.brief.genre),
            reverb_amount=composer.reverb,
        )
        out = {}
        for name in STEMS:
            if name not in stems:
                continue
            audio = tone(stems[name], self.sr, brightness=self.brief.brightness)
            audio = audio[:, arr.samples : 2 * arr.samples] if arr.loop_bars else audio
            out[name] = np.ascontiguousarray(audio, dtype=np.float32)
        if not arr.loop_bars:
            taper = np.ones(arr.samples, np.float32)
            n = min(round(TAPER_S * self.sr), arr.samples)
            taper[arr.samples - n :] = np.cos(0.5 * np.pi * (np.arange(n) + 1) / n) ** 2
            out = {k: v * taper for k, v in out.items()}
        return out


def _button(pm: pretty_midi.PrettyMIDI, at: float, *, end_s: float) -> None:
    """Turn the final bar (its downbeat at `at`) into a button: what sounds into it stops
    there, what is struck on it is held `STAB_S`, nothing later plays, and the kit marks
    it with kick and crash."""
    for inst in pm.instruments:
        kept = []
        for n in inst.notes:
            if n.start < at - 0.03:
                n.end = min(n.end, at - 0.005)
                if n.end - n.start > 0.01:
                    kept.append(n)
            elif n.start <= at + 0.03:
                n.end = min(n.end, at + (0.12 if inst.is_drum else STAB_S))
                kept.append(n)
        inst.notes = kept
        inst.control_changes = [c for c in inst.control_changes if c.time <= end_s]
        if inst.is_drum:
            struck = {n.pitch for n in kept if n.start >= at - 0.03}
            for pitch, vel in ((36, 112), (49, 104)):
                if pitch not in struck:
                    inst.notes.append(pretty_midi.Note(vel, pitch, at, at + 0.12))


def _excerpt(pm: pretty_midi.PrettyMIDI, t0: float, t1: float) -> pretty_midi.PrettyMIDI:
    """The notes meant for ``[t0, t1)`` moved to start at 0 (those ringing past `t1` keep
    their length), each instrument's controllers as they stand at `t0` and after it.

    A note is meant for the beat it is nearest: one struck up to `EARLY_S` before `t1`
    (the next downbeat played early, or the main's final chord a tick early) is not the
    loop's, and one struck up to `EARLY_S` before `t0` is: it is wrapped to the loop's end,
    where it sounds before the downbeat of the next pass.
    """
    length = t1 - t0
    out = pretty_midi.PrettyMIDI(resolution=pm.resolution)
    for inst in pm.instruments:
        copy = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum, name=inst.name)
        for n in inst.notes:
            if t0 - EARLY_S <= n.start < t1 - EARLY_S:
                shift = t0 - (length if n.start < t0 else 0.0)
                copy.notes.append(
                    pretty_midi.Note(n.velocity, n.pitch, n.start - shift, n.end - shift)
                )
        numbers = sorted({c.number for c in inst.control_changes})
        for number in numbers:
            events = sorted(
                (c for c in inst.control_changes if c.number == number), key=lambda c: c.time
            )
            before = [c for c in events if c.time <= t0 + 1e-6]
            if before:
                copy.control_changes.append(
                    pretty_midi.ControlChange(number, before[-1].value, 0.0)
                )
            copy.control_changes += [
                pretty_midi.ControlChange(number, c.value, c.time - t0)
                for c in events
                if t0 + 1e-6 < c.time < t1
            ]
        out.instruments.append(copy)
    return out


def _fold(audio: np.ndarray, samples: int) -> np.ndarray:
    """What rings past `samples` added back onto the head: the loop as it sounds when it
    repeats. audio: (2, n) with n >= samples."""
    head = audio[:, :samples].copy()
    tail = audio[:, samples:]
    while tail.shape[-1]:
        k = min(samples, tail.shape[-1])
        head[:, :k] += tail[:, :k]
        tail = tail[:, k:]
    return head


def energy_index(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Cumulative energy of (channels, samples) `audio` every `ENERGY_HOP_S`: the energy
    of ``[a, b)`` hops is ``index[b] - index[a]``. Shape (samples // hop + 1,), float64."""
    hop = round(ENERGY_HOP_S * sample_rate)
    n = audio.shape[-1] // hop
    e = np.square(audio[:, : n * hop], dtype=np.float64).reshape(audio.shape[0], n, hop)
    return np.concatenate([[0.0], np.cumsum(e.sum(axis=(0, 2)))])


def seam_levels(
    index: np.ndarray, start_s: float, end_s: float, *, sample_rate: int
) -> tuple[float, float]:
    """(level change from the span's last `SEAM_WINDOW_S` to its first, largest change
    between consecutive windows inside it), in dB, read from an `energy_index`: what
    the span does at its seam when it loops, against what it does anyway."""
    hop_s = round(ENERGY_HOP_S * sample_rate) / sample_rate
    a, b = round(start_s / hop_s), min(round(end_s / hop_s), len(index) - 1)
    w = round(SEAM_WINDOW_S / hop_s)
    if b - a < 2 * w:
        return 0.0, 0.0
    edges = np.arange(a, b - w + 1, w)
    db = 10 * np.log10(np.maximum(index[edges + w] - index[edges], 1e-12))
    tail = 10 * np.log10(max(index[b] - index[b - w], 1e-12))
    return float(abs(db[0] - tail)), float(np.abs(np.diff(db)).max(initial=0.0))
