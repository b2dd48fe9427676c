"""The embedded composer: Brief -> musical plan -> multi-track MIDI -> stereo audio.

Offline, deterministic per seed, no model download. It composes to length: the tempo is
chosen within the brief's range so that a whole number of bars fills the scene, the last bar
being a cadence onto the tonic. The plan has sections (intro, A, B, A' ...), a two-bar motif
that is varied (inverted, re-rhythmed, transposed), progressions by genre and mode with a
dominant before the final tonic, a bass line, pads, comping keys or strummed guitar, and
genre drum patterns with fills at section ends. The MIDI is rendered with a General MIDI
SoundFont through TinySoundFont.
"""

from __future__ import annotations

import io
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pretty_midi

import config
from tasks.errors import BackendError, InputError
from tasks.model import Brief, Cue

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ROMAN = re.compile(r"^([b#]?)(vii|iii|vi|iv|ii|v|i)(o|maj7|7)?$", re.I)
_DEGREE = {"i": 0, "ii": 2, "iii": 4, "iv": 5, "v": 7, "vi": 9, "vii": 11}
# Bar rhythms for the motif, in beats (4/4).
RHYTHMS = (
    (1.0, 1.0, 2.0),
    (0.5, 0.5, 1.0, 2.0),
    (1.5, 0.5, 1.0, 1.0),
    (1.0, 0.5, 0.5, 1.0, 1.0),
    (2.0, 1.0, 1.0),
    (0.5, 0.5, 0.5, 0.5, 1.0, 1.0),
    (0.75, 0.25, 1.0, 0.5, 0.5, 1.0),
)
DRUM_NOTES = {"kick": 36, "snare": 38, "hat": 42, "ride": 51, "crash": 49, "tom": 47}
TAIL_S = 2.0


def pitch_class(name: str) -> int:
    """``"F#"`` -> 6, ``"Bb"`` -> 10."""
    pc = PITCH_CLASS[name[0].upper()]
    return (pc + name[1:].count("#") - name[1:].count("b")) % 12


def chord(numeral: str, tonic: int) -> tuple[int, tuple[int, ...]]:
    """Roman numeral -> (root pitch class, intervals above the root).

    Upper case is major, lower case minor, ``o`` diminished; ``7``/``maj7`` add sevenths;
    a ``b``/``#`` before the numeral shifts the root (``bVII`` in C is Bb major).
    """
    m = _ROMAN.match(numeral)
    if not m:
        raise InputError(
            "not a Roman-numeral chord",
            field="progression",
            value=numeral,
            fix="Write e.g. I, vi, bVII, V7, ii7, Imaj7, viio",
        )
    accidental, roman, suffix = m[1], m[2], (m[3] or "").lower()
    root = (tonic + _DEGREE[roman.lower()] + {"b": -1, "#": 1, "": 0}[accidental]) % 12
    upper = roman.isupper()
    third, fifth = (4 if upper else 3), (6 if suffix == "o" else 7)
    intervals = [0, third, fifth]
    if suffix == "7":
        intervals.append(10)
    elif suffix == "maj7":
        intervals.append(11)
    return root, tuple(intervals)


@dataclass
class Section:
    name: str
    start_bar: int
    bars: int
    energy: float
    chords: list[str]  # one numeral per bar


@dataclass
class Plan:
    """The musical plan of one cue, before any note is written."""

    bpm: float
    beats_per_bar: int
    bars: int
    seconds: float
    tonic: int
    mode: str
    sections: list[Section]
    tempo_error_bpm: float
    swing: float = 0.5
    motif: list[tuple[float, float, int]] = field(default_factory=list)  # (beat, dur, step)

    @property
    def beat_s(self) -> float:
        return 60.0 / self.bpm


def choose_tempo(
    seconds: float, *, target_bpm: float, tempo_range: tuple[float, float], beats_per_bar: int
) -> tuple[float, int, float]:
    """Tempo and bar count so that whole bars fill `seconds` exactly.

    An exact tempo (``lo == hi``) is kept as it is, with the nearest whole number of bars.

    Returns
    -------
    (bpm, bars, tempo_error_bpm)
        ``tempo_error_bpm`` is how far outside `tempo_range` the tempo had to go (0 inside).
    """
    lo, hi = tempo_range
    per_bar = 60.0 * beats_per_bar
    if hi - lo < 1e-9:  # an exact tempo was asked for: keep it, the last bar rings to the cut
        return lo, max(1, round(seconds * lo / per_bar)), 0.0
    n0 = seconds * target_bpm / per_bar
    options = {max(1, math.floor(n0)), max(1, math.ceil(n0))}
    options |= {
        max(1, math.floor(seconds * lo / per_bar)),
        max(1, math.ceil(seconds * hi / per_bar)),
    }

    def score(bars: int) -> tuple[float, float]:
        bpm = bars * per_bar / seconds
        outside = max(lo - bpm, bpm - hi, 0.0)
        return outside, abs(bpm - target_bpm)

    bars = min(sorted(options), key=score)
    bpm = bars * per_bar / seconds
    return bpm, bars, round(score(bars)[0], 3)


def make_plan(
    brief: Brief, seconds: float, rng: np.random.Generator, vocab: dict[str, Any]
) -> Plan:
    """Tempo, form, harmony and motif of a cue."""
    genre = vocab["genres"][brief.genre]
    bpb = 4
    bpm, bars, tempo_error = choose_tempo(
        seconds, target_bpm=brief.tempo_bpm, tempo_range=brief.tempo_range, beats_per_bar=bpb
    )
    mode = brief.mode if brief.mode in SCALES else "major"
    dark = mode in ("minor", "dorian", "phrygian")
    progressions = [p.split() for p in genre["minor" if dark else "major"]]
    order = rng.permutation(len(progressions))
    prog_a = progressions[order[0]]
    prog_b = progressions[order[1 % len(progressions)]]
    span = max(1, round(1 / float(genre.get("chords_per_bar", 1))))  # bars per chord

    body = bars - 1 if bars >= 2 else bars
    phrase = 8 if body >= 32 and bpm >= 110 else 4
    intro = 0 if body < 8 else (2 if body < 24 else 4)
    names = ["A", "B", "A'", "B'", "C", "A''"]
    sections: list[Section] = []
    if intro:
        sections.append(Section("intro", 0, intro, 0.0, []))
    bar, k = intro, 0
    while bar < body:
        n = min(phrase, body - bar)
        if body - (bar + n) < 2:  # no stub sections: fold the rest in
            n = body - bar
        sections.append(Section(names[k % len(names)], bar, n, 0.0, []))
        bar, k = bar + n, k + 1
    if bars >= 2:
        sections.append(Section("ending", body, 1, 0.0, []))

    # Energy: intro low, then rising towards the last section before the ending.
    music = [s for s in sections if s.name not in ("intro", "ending")]
    for i, s in enumerate(music):
        rise = 0.75 + 0.35 * (i / max(1, len(music) - 1))
        s.energy = float(np.clip(brief.intensity * rise + (0.1 if "B" in s.name else 0), 0.1, 1))
    for s in sections:
        if s.name == "intro":
            s.energy = float(np.clip(brief.intensity * 0.45, 0.1, 0.5))
        elif s.name == "ending":
            s.energy = music[-1].energy if music else brief.intensity
        prog = prog_b if "B" in s.name or s.name == "C" else prog_a
        s.chords = [prog[(b // span) % len(prog)] for b in range(s.bars)]
    tonic_chord = "i" if dark else "I"
    if sections[-1].name == "ending":
        sections[-1].chords = [tonic_chord]
        if len(sections) > 1:
            sections[-2].chords[-1] = "V"  # authentic cadence into the final tonic
    motif: list[tuple[float, float, int]] = []
    step = 0
    for half in range(2):
        rhythm = RHYTHMS[int(rng.integers(len(RHYTHMS)))]
        beat = 0.0
        for dur in rhythm:
            motif.append((half * bpb + beat, dur, step))
            step += int(rng.choice([-2, -1, -1, 1, 1, 2, 3, -3]))
            step = int(np.clip(step, -4, 6))
            beat += dur
    swing = {"jazz": 0.66, "lofi": 0.58}.get(brief.genre, 0.5)
    return Plan(
        bpm, bpb, bars, seconds, pitch_class(brief.key), mode, sections, tempo_error, swing, motif
    )


class _Writer:
    """Writes the plan's notes into a PrettyMIDI, one instrument per part."""

    def __init__(
        self, plan: Plan, brief: Brief, rng: np.random.Generator, vocab: dict[str, Any]
    ) -> None:
        self.plan, self.brief, self.rng, self.vocab = plan, brief, rng, vocab
        self.pm = pretty_midi.PrettyMIDI(initial_tempo=plan.bpm)
        self.scale = SCALES[plan.mode]
        self.voicing: list[int] = []

    def t(self, bar: int, beat: float) -> float:
        return (bar * self.plan.beats_per_bar + beat) * self.plan.beat_s

    def note(
        self,
        inst: pretty_midi.Instrument,
        pitch: int,
        start: float,
        end: float,
        velocity: float,
        jitter_s: float = 0.006,
    ) -> None:
        if not inst.is_drum:
            start += float(self.rng.uniform(0, jitter_s))
        vel = int(np.clip(velocity + self.rng.normal(0, 4), 1, 127))
        end = min(end, self.plan.seconds + TAIL_S)
        if end - start > 0.01:
            inst.notes.append(pretty_midi.Note(vel, int(pitch), start, end))

    def voice(self, numeral: str, low: int = 52, high: int = 74) -> list[int]:
        """The chord voiced in [low, high], moving as little as possible from the last."""
        root, intervals = chord(numeral, self.plan.tonic)
        pcs = [(root + i) % 12 for i in intervals]
        candidates = []
        for inversion in range(len(pcs)):
            order = pcs[inversion:] + pcs[:inversion]
            for base in range(low, low + 12):
                if base % 12 != order[0]:
                    continue
                notes = [base]
                for pc in order[1:]:
                    n = notes[-1] + 1
                    while n % 12 != pc:
                        n += 1
                    notes.append(n)
                if notes[-1] <= high:
                    candidates.append(notes)
        if not candidates:
            candidates = [[low + (pc - low) % 12 for pc in pcs]]
        prev = self.voicing or [(low + high) // 2] * 3
        best = min(
            candidates,
            key=lambda c: sum(abs(a - b) for a, b in zip(sorted(c), sorted(prev), strict=False)),
        )
        self.voicing = best
        return best

    def bass_root(self, numeral: str) -> int:
        root, _ = chord(numeral, self.plan.tonic)
        return 33 + (root - 33) % 12  # A1..G#2

    def chord_tones(self, numeral: str) -> set[int]:
        root, intervals = chord(numeral, self.plan.tonic)
        return {(root + i) % 12 for i in intervals}

    def scale_pitch(self, degree: int, base: int = 72) -> int:
        octave, idx = divmod(degree, len(self.scale))
        return base + self.plan.tonic - 12 * (self.plan.tonic > 5) + 12 * octave + self.scale[idx]

    # -- parts ------------------------------------------------------------------------
    def harmony(self, inst: pretty_midi.Instrument, role: str) -> None:
        bpb = self.plan.beats_per_bar
        for s in self.plan.sections:
            for i, numeral in enumerate(s.chords):
                bar, e = s.start_bar + i, s.energy
                vel = 45 + 45 * e
                if s.name == "ending":
                    for p in self.voice(numeral):
                        self.note(inst, p, self.t(bar, 0), self.t(bar, bpb - 1), vel + 5)
                    continue
                if role == "pad" or (role == "keys" and s.name == "intro"):
                    for p in self.voice(numeral):
                        self.note(inst, p, self.t(bar, 0), self.t(bar, bpb) - 0.02, vel - 5)
                elif role == "keys":
                    notes = self.voice(numeral, 55, 79)
                    if e < 0.55:  # broken chord in eighths
                        seq = [*notes, notes[0] + 12, *reversed(notes[1:])]
                        for j in range(bpb * 2):
                            self.note(
                                inst,
                                seq[j % len(seq)],
                                self.t(bar, j / 2),
                                self.t(bar, j / 2 + 1),
                                vel - 8,
                            )
                    else:  # comping
                        for beat, dur in ((0, 1.5), (1.5, 1), (2.5, 0.5), (3, 1)):
                            for p in notes:
                                self.note(
                                    inst,
                                    p,
                                    self.t(bar, beat),
                                    self.t(bar, beat + dur),
                                    vel - (10 if beat % 1 else 0),
                                )
                elif role == "guitar":
                    notes = self.voice(numeral, 48, 67)
                    strums = "D.DU.UDU" if e >= 0.5 else "D...D.D."
                    for j, c in enumerate(strums):
                        if c == ".":
                            continue
                        order = notes if c == "D" else list(reversed(notes))
                        for k, p in enumerate(order):
                            start = self.t(bar, j / 2) + 0.012 * k
                            self.note(
                                inst,
                                p,
                                start,
                                self.t(bar, j / 2 + 1),
                                vel - (12 if c == "U" else 0),
                                jitter_s=0.002,
                            )

    def bass(self, inst: pretty_midi.Instrument) -> None:
        bpb = self.plan.beats_per_bar
        for s in self.plan.sections:
            for i, numeral in enumerate(s.chords):
                bar, e, root = s.start_bar + i, s.energy, self.bass_root(numeral)
                vel = 60 + 40 * e
                if s.name == "intro" and e < 0.3:
                    continue
                if s.name == "ending" or e < 0.4:
                    self.note(inst, root, self.t(bar, 0), self.t(bar, bpb - 0.1), vel)
                elif e < 0.7:
                    nxt = s.chords[i + 1] if i + 1 < len(s.chords) else numeral
                    approach = self.bass_root(nxt) + (-1 if self.rng.random() < 0.5 else 2)
                    for beat, p, dur in ((0, root, 1.9), (2, root + 7, 1.4), (3.5, approach, 0.5)):
                        self.note(inst, p, self.t(bar, beat), self.t(bar, beat + dur), vel)
                else:
                    for j in range(bpb * 2):
                        p = root + (12 if j % 4 == 3 else 0)
                        self.note(
                            inst,
                            p,
                            self.t(bar, j / 2),
                            self.t(bar, j / 2 + 0.45),
                            vel - (8 if j % 2 else 0),
                        )

    def melody(self, inst: pretty_midi.Instrument, octave_up: int = 0) -> None:
        bpb = self.plan.beats_per_bar
        for s in self.plan.sections:
            if s.name in ("intro", "ending"):
                continue
            invert = "B" in s.name
            shift = 2 if "'" in s.name else 0
            for bar0 in range(0, s.bars, 2):
                for beat, dur, step in self.plan.motif:
                    bar = s.start_bar + bar0 + int(beat // bpb)
                    if bar >= s.start_bar + s.bars:
                        break
                    numeral = s.chords[bar - s.start_bar]
                    degree = (-step if invert else step) + shift
                    pitch = self.scale_pitch(degree) + 12 * octave_up
                    if beat % 2 == 0:  # strong beats land on chord tones
                        tones = self.chord_tones(numeral)
                        pitch = min(
                            (p for p in range(pitch - 4, pitch + 5) if p % 12 in tones),
                            key=lambda p: abs(p - pitch),
                        )
                    phrase_end = (bar - s.start_bar) % 4 == 3 and beat % bpb >= 2
                    length = dur * (1.6 if phrase_end else 0.92)
                    self.note(
                        inst,
                        pitch,
                        self.t(bar, beat % bpb),
                        self.t(bar, beat % bpb + length),
                        62 + 45 * s.energy,
                    )

    def accents(self, inst: pretty_midi.Instrument) -> None:
        """Timpani-like hits: root on each section start, the final bar and every hit point."""
        root = 36 + self.plan.tonic % 12
        for s in self.plan.sections:
            if s.name != "intro" or s.energy > 0.3:
                self.note(
                    inst, root, self.t(s.start_bar, 0), self.t(s.start_bar, 2), 70 + 40 * s.energy
                )
        for hit in self.brief.hits_s:
            self.note(inst, root, hit, hit + 1.0, 115)

    def drums(self, inst: pretty_midi.Instrument) -> None:
        pattern = self.vocab["drums"][self.vocab["genres"][self.brief.genre]["drums"]]
        bpb, sw = self.plan.beats_per_bar, self.plan.swing
        hat = "ride" if self.brief.genre == "jazz" else "hat"

        def at(bar: int, step: int) -> float:
            beat, sub = divmod(step, 4)
            offset = {0: 0.0, 1: 0.25, 2: sw, 3: 0.75 + (sw - 0.5) / 2}[sub]
            return self.t(bar, beat + offset)

        for s in self.plan.sections:
            if s.name == "intro":
                continue
            for i in range(s.bars):
                bar, e = s.start_bar + i, s.energy
                if s.name == "ending":
                    for p in (DRUM_NOTES["kick"], DRUM_NOTES["crash"]):
                        self.note(inst, p, self.t(bar, 0), self.t(bar, 1), 110)
                    continue
                if i == 0:
                    self.note(
                        inst, DRUM_NOTES["crash"], self.t(bar, 0), self.t(bar, 1), 80 + 30 * e
                    )
                fill = i == s.bars - 1 and s.bars >= 2
                for part in ("kick", "snare", hat, "tom"):
                    steps = pattern["hat" if part == "ride" else part]
                    for step, c in enumerate(steps[: bpb * 4]):
                        if c == "." or (fill and step >= 8 and part != "kick"):
                            continue
                        if part in ("hat", "ride") and e < 0.45 and step % 4:
                            continue
                        vel = (95 if c == "o" else 78) * (0.7 + 0.4 * e)
                        self.note(inst, DRUM_NOTES[part], at(bar, step), at(bar, step) + 0.1, vel)
                if fill:
                    for step in range(8, 16):
                        p = (
                            (DRUM_NOTES["snare"], 50, 48, 45)[(step - 8) // 2]
                            if e > 0.6
                            else DRUM_NOTES["snare"]
                        )
                        self.note(
                            inst,
                            p,
                            at(bar, step),
                            at(bar, step) + 0.1,
                            60 + 5 * (step - 8) + 20 * e,
                        )

    def write(self) -> pretty_midi.PrettyMIDI:
        insts = self.vocab["instruments"]
        lead_done = False
        for name in self.brief.instruments:
            entry = insts[name]
            inst = pretty_midi.Instrument(program=int(entry["program"]), name=name)
            role = entry["role"]
            if role == "bass":
                self.bass(inst)
            elif role == "lead" and not lead_done:
                self.melody(inst)
                lead_done = True
            elif role == "perc":
                if entry["program"] == 47:
                    self.accents(inst)
                else:
                    self.melody(inst, octave_up=1)
                    lead_done = True
            elif role in ("pad", "keys", "guitar"):
                self.harmony(inst, role)
            else:  # a second lead doubles the harmony as a pad
                self.harmony(inst, "pad")
            self.voicing = []
            self.pm.instruments.append(inst)
        if not lead_done:  # every cue carries a tune
            inst = pretty_midi.Instrument(program=0, name="melody")
            self.melody(inst)
            self.pm.instruments.append(inst)
        if self.brief.drums:
            kit = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
            self.drums(kit)
            self.pm.instruments.append(kit)
        return self.pm


def render(
    pm: pretty_midi.PrettyMIDI,
    *,
    sample_rate: int,
    samples: int,
    soundfont: str,
    gain_db: float = 0.0,
) -> np.ndarray:
    """Render MIDI with a SoundFont (TinySoundFont), sample-accurate note timing.

    Returns
    -------
    np.ndarray, shape (2, samples), float32
    """
    import tinysoundfont

    synth = tinysoundfont.Synth(gain=gain_db, samplerate=sample_rate)
    try:
        sfid = synth.sfload(soundfont)
    except Exception as exc:
        raise BackendError(f"cannot load SoundFont {soundfont}: {exc}") from None
    events: list[tuple[int, int, int, int, int]] = []
    channels = [c for c in range(16) if c != 9]
    for i, inst in enumerate(pm.instruments):
        chan = 9 if inst.is_drum else channels[i % len(channels)]
        synth.program_select(
            chan, sfid, 0, 0 if inst.is_drum else inst.program, is_drums=inst.is_drum
        )
        for n in inst.notes:
            events.append((round(n.start * sample_rate), 1, chan, n.pitch, n.velocity))
            events.append((round(n.end * sample_rate), 0, chan, n.pitch, 0))
    events.sort()
    out = np.zeros(samples * 2, np.float32)
    view = memoryview(out.data).cast("B")
    pos = 0
    for when, kind, chan, pitch, velocity in events:
        when = min(when, samples)
        if when > pos:
            synth.generate_simple(when - pos, buffer=view[pos * 8 : when * 8])
            pos = when
        if kind:
            synth.noteon(chan, pitch, velocity)
        else:
            synth.noteoff(chan, pitch)
    if pos < samples:
        synth.generate_simple(samples - pos, buffer=view[pos * 8 :])
    return out.reshape(-1, 2).T.copy()


def default_soundfont() -> str:
    return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


class Composer:
    """The embedded, offline composer backend."""

    name = "composer"
    version = "0.1"
    max_seconds = math.inf

    def __init__(
        self,
        *,
        sample_rate: int = 48000,
        soundfont: str | None = None,
        gain_db: float = -6.0,
        vocab: dict[str, Any] | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self.soundfont = soundfont or default_soundfont()
        if not os.path.isfile(self.soundfont):
            raise InputError(
                "SoundFont not found",
                field="composer.soundfont",
                value=self.soundfont,
                fix="Give the path of a General MIDI .sf2",
            )
        self.gain_db = gain_db
        self.vocab = vocab or config.styles()
        self.model = os.path.basename(self.soundfont)
        self.licence = "scoreflow composer output, free to use; rendered with " + (
            "TimGM6mb.sf2 (GPL-2.0)" if self.model == "TimGM6mb.sf2" else self.model
        )

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Composer:
        return cls(
            sample_rate=cfg["pipeline"]["sample_rate"],
            soundfont=cfg["composer"]["soundfont"] or cfg["pipeline"]["model"] or None,
            gain_db=cfg["composer"]["gain_db"],
        )

    def compose(
        self, brief: Brief, *, seconds: float, seed: int
    ) -> tuple[Plan, pretty_midi.PrettyMIDI]:
        """The plan and the MIDI of one cue (no audio)."""
        rng = np.random.default_rng(seed)
        plan = make_plan(brief, seconds, rng, self.vocab)
        return plan, _Writer(plan, brief, rng, self.vocab).write()

    def generate(self, briefs: list[Brief], *, seconds: list[float], seed: int) -> list[Cue]:
        if len(briefs) != len(seconds):
            raise ValueError(f"{len(briefs)} briefs but {len(seconds)} lengths")
        cues = []
        for i, (brief, secs) in enumerate(zip(briefs, seconds, strict=True)):
            if secs <= 0:
                raise InputError("cue length must be positive", scene=brief.scene_id, value=secs)
            plan, pm = self.compose(brief, seconds=secs, seed=seed + i)
            body = round(secs * self.sample_rate)
            tail = round(TAIL_S * self.sample_rate)
            audio = render(
                pm,
                sample_rate=self.sample_rate,
                samples=body + tail,
                soundfont=self.soundfont,
                gain_db=self.gain_db,
            )
            peak = float(np.abs(audio).max())
            if peak > 0.89:  # keep 1 dB of headroom; the mix sets the level
                audio *= 0.89 / peak
            buf = io.BytesIO()
            pm.write(buf)
            cues.append(
                Cue(
                    scene_id=brief.scene_id,
                    audio=audio[:, :body],
                    tail=audio[:, body:],
                    sample_rate=self.sample_rate,
                    backend=self.name,
                    model=self.model,
                    prompt=brief.prompt,
                    seed=seed + i,
                    licence=self.licence,
                    bpm=round(plan.bpm, 3),
                    key=f"{brief.key} {plan.mode}",
                    beats_per_bar=plan.beats_per_bar,
                    midi=buf.getvalue(),
                    metrics={
                        "bars": plan.bars,
                        "form": " ".join(f"{s.name}:{s.bars}" for s in plan.sections),
                        "tempo_error_bpm": plan.tempo_error_bpm,
                        "genre": brief.genre,
                        "mood": brief.mood,
                        "instruments": list(brief.instruments),
                    },
                )
            )
        return cues
