"""Plan -> notes: one pretty_midi instrument per part.

Every part reads the bar's energy: parts enter and leave (bass from 0.25, melody from 0.3,
drums from 0.3 with hats only, full kit from 0.5, counter-line from 0.6), patterns grow
denser, velocities rise and registers climb with it. Hit points get a stab from every part;
the final bar lands the tonic on its downbeat with a struck attack and rings to the cut.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pretty_midi

from scoreflow.tasks.engines.composer.plan import RHYTHMS, Bar, Plan, Section
from scoreflow.tasks.music.theory import chord, chord_tones
from scoreflow.tasks.timeline.model import Brief

DRUM_NOTES = {
    "kick": 36,
    "snare": 38,
    "hat": 42,
    "open hat": 46,
    "ride": 51,
    "crash": 49,
    "tom": 47,
    "low tom": 45,
    "floor tom": 43,
}
ROLE_PAN = {"keys": -0.25, "pad": 0.0, "lead": 0.15, "bass": 0.0, "guitar": 0.35, "perc": -0.4}
# Bass rhythms per style, a few variants each: (beat, interval above the root or -1 for a
# step below the next root, beats held).
BASS_VARIANTS: dict[str, list[list[tuple[float, int, float]]]] = {
    "root-fifth": [
        [(0, 0, 1.9), (2, 7, 1.4), (3.5, -1, 0.5)],
        [(0, 0, 1.4), (1.5, 0, 0.4), (2, 7, 1.9)],
        [(0, 0, 0.9), (1, 12, 0.4), (2, 7, 1.4), (3.5, -1, 0.5)],
    ],
    "syncopated": [
        [(0, 0, 1.4), (1.5, 0, 0.4), (2.75, 7, 0.7), (3.5, 12, 0.4)],
        [(0, 0, 0.7), (0.75, 0, 0.4), (2, 7, 1.0), (3.25, 12, 0.4), (3.75, -1, 0.25)],
        [(0, 0, 1.9), (2.5, 7, 0.4), (3, 0, 0.4), (3.5, 10, 0.4)],
    ],
    "eighths": [
        [(j / 2, 0, 0.45) for j in range(8)],
        [(j / 2, 12 if j == 3 else 0, 0.45) for j in range(8)],
        [(j / 2, 7 if j in (5, 6) else 0, 0.45) for j in range(8)],
    ],
    "octaves": [
        [(j / 2, 12 * (j % 2), 0.4) for j in range(8)],
        [(j / 2 + 0.5, 12 * (j % 2), 0.4) for j in range(7)],  # off-beat pulse
        [(j / 2, 12 * (j % 2) + 7 * (j == 6), 0.4) for j in range(8)],
    ],
}
TAIL_S = 2.0  # rendered past the cut, for crossfades into a touching scene
RING_S = 1.5  # the final chord rings this long past the cut


def _transform(
    motif: list[tuple[float, float, int]], variation: str, rng: np.random.Generator
) -> list[tuple[float, float, int]]:
    """A two-bar statement of the motif, varied. Steps are scale degrees from the tonic."""
    if variation == "sequence":
        shift = int(rng.choice([1, 2, -1, 3]))
        return [(b, d, s + shift) for b, d, s in motif]
    if variation == "inversion":
        first = motif[0][2]
        return [(b, d, 2 * first - s) for b, d, s in motif]
    if variation == "retrograde":
        steps = [s for _, _, s in motif][::-1]
        return [(b, d, s) for (b, d, _), s in zip(motif, steps, strict=True)]
    if variation == "rhythm":
        steps = [s for _, _, s in motif]
        out: list[tuple[float, float, int]] = []
        for half in range(2):
            rhythm = RHYTHMS[int(rng.integers(len(RHYTHMS)))]
            beat = 4.0 * half
            for dur in rhythm:
                k = min(len(steps) - 1, round(len(out) * (len(steps) - 1) / 8))
                out.append((beat, dur, steps[k]))
                beat += dur
        return out
    if variation == "diminution":
        first_bar = [(b / 2, d / 2, s) for b, d, s in motif if b < 4]
        return [*first_bar, *((b + 2, d, s + 1) for b, d, s in first_bar)] + [
            (b, d, s) for b, d, s in motif if b >= 4
        ]
    return list(motif)


def fold_into_range(inst: pretty_midi.Instrument, lowest: int, highest: int) -> None:
    """Move notes outside an instrument's playable range by octaves into it."""
    for n in inst.notes:
        while n.pitch > highest and n.pitch - 12 >= lowest:
            n.pitch -= 12
        while n.pitch < lowest and n.pitch + 12 <= highest:
            n.pitch += 12


def tie_common_tones(inst: pretty_midi.Instrument, *, gap_s: float = 0.05) -> None:
    """Hold a pitch through consecutive chords instead of restriking it, as a string
    section does with common tones (and the synthesizer runs one voice, not two)."""
    merged: dict[int, pretty_midi.Note] = {}
    out = []
    for n in sorted(inst.notes, key=lambda n: (n.start, n.pitch)):
        prev = merged.get(n.pitch)
        if prev is not None and 0 <= n.start - prev.end < gap_s:
            prev.end = max(prev.end, n.end)
            continue
        merged[n.pitch] = n
        out.append(n)
    inst.notes = out


def melody_instrument(brief: Brief, vocab: dict[str, Any]) -> str | None:
    """The instrument that carries a cue's tune: its first lead, else pitched percussion
    (not timpani, not in an arpeggio genre); None: a piano ``melody`` part is added."""
    insts = vocab["instruments"]
    leads = [n for n in brief.instruments if insts[n]["role"] == "lead"]
    if leads:
        return leads[0]
    arpeggio = bool(vocab["genres"][brief.genre].get("arpeggio"))
    return next(
        (
            n
            for n in brief.instruments
            if insts[n]["role"] == "perc" and insts[n]["program"] != 47 and not arpeggio
        ),
        None,
    )


class Writer:
    """Writes a plan's notes into a PrettyMIDI."""

    def __init__(
        self, plan: Plan, brief: Brief, rng: np.random.Generator, vocab: dict[str, Any]
    ) -> None:
        self.plan, self.brief, self.rng, self.vocab = plan, brief, rng, vocab
        self.genre = vocab["genres"][brief.genre]
        self.pm = pretty_midi.PrettyMIDI(initial_tempo=plan.bars[0].bpm, resolution=960)
        self.voicing: list[int] = []
        self.lift = round(7 * brief.brightness)  # semitones: bright voicings sit higher
        groove = self.genre.get("groove", {})
        self.timing_sd_s = float(groove.get("timing_sd_ms", 6.0)) / 1000
        self.push_s = {k: float(v) / 1000 for k, v in groove.get("push_ms", {}).items()}
        self.articulation = str(groove.get("articulation", "detached"))
        self.part = ""  # the part being written, for the groove's push
        self.starts = [b.start_s for b in plan.bars]
        self.section_first = [0] * len(plan.bars)
        for sec in plan.sections:
            for k in range(sec.first, sec.first + sec.count):
                self.section_first[k] = sec.first

    # -- time and pitch helpers --------------------------------------------------------
    def at(self, bar: int, beat: float) -> float:
        """Seconds of `beat` counted from bar `bar`'s downbeat (may run into later bars)."""
        bars = self.plan.bars
        while bar < len(bars) - 1 and beat >= bars[bar].beats - 1e-9:
            beat -= bars[bar].beats
            bar += 1
        return bars[bar].t(beat)

    def note(
        self,
        inst: pretty_midi.Instrument,
        pitch: int,
        start: float,
        end: float,
        velocity: float,
        exact: bool = False,
        *,
        part: str | None = None,
    ) -> None:
        """Add a note as a player would play it: the groove's push for the part (laid
        back or ahead), human timing spread, and velocity shaped by the note's place in the
        bar and phrase. `exact` notes (hits, the final chord) sit on the grid as written."""
        part = part or self.part
        if not exact:
            sd = self.timing_sd_s
            shift = self.push_s.get(part, 0.0) + float(
                np.clip(self.rng.normal(0, sd), -2.5 * sd, 2.5 * sd)
            )
            start, end = max(0.0, start + shift), end + shift
            velocity = self.accent(velocity, start, part) + self.rng.normal(0, 3.5)
        vel = int(np.clip(velocity, 1, 127))
        end = min(end, self.plan.seconds + TAIL_S)
        while pitch < 0:
            pitch += 12
        while pitch > 127:
            pitch -= 12
        if end - start > 0.01:
            inst.notes.append(pretty_midi.Note(vel, int(pitch), start, end))

    def accent(self, velocity: float, t: float, part: str) -> float:
        """Velocity by metrical place (downbeat up, off-beat eighths and sixteenths down)
        and by phrase (a rise to the third bar of four, then a relaxing)."""
        i = self.bar_index(t + 0.03)
        bar = self.plan.bars[i]
        beat = (t - bar.start_s) / bar.beat_s
        sixteenth = round(beat * 4) % 4
        if sixteenth == 0:
            place = 7.0 if round(beat) % bar.beats == 0 else (3.0 if round(beat) % 2 == 0 else 0.0)
        else:
            place = -5.0 if sixteenth == 2 else -9.0
        if part in ("kick", "snare", "tom"):  # the drum pattern carries its own accents
            place *= 0.4
        phrase = 5.0 * math.sin(
            math.pi * ((i - self.section_first[i]) % 4 + beat / bar.beats) / 4.5
        )
        return velocity + place + phrase - 2.0

    def voice(self, numeral: str, tonic: int, low: int, high: int) -> list[int]:
        """The chord voiced in [low, high], moving as little as possible from the last."""
        root, intervals = chord(numeral, tonic)
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

    def bass_root(self, numeral: str, tonic: int) -> int:
        root, _ = chord(numeral, tonic)
        return 33 + (root - 33) % 12 + 12 * (self.brief.brightness > 0.5)  # A1..G#2, up if bright

    def scale_pitch(self, degree: int, tonic: int, base: int) -> int:
        scale = self.plan.scale
        octave, idx = divmod(degree, len(scale))
        return base + tonic - 12 * (tonic > 5) + 12 * octave + scale[idx]

    def chord_spans(self) -> Iterator[tuple[int, Bar, float, float, str]]:
        """(bar index, bar, beat, beats, numeral) of every chord of the cue."""
        bars = self.plan.bars
        for i in range(len(bars)):
            for beat, beats, numeral in bars[i].chords:
                yield i, bars[i], beat, beats, numeral

    # -- parts ----------------------------------------------------------------------------
    def harmony(self, inst: pretty_midi.Instrument, role: str) -> None:
        arp = bool(self.genre.get("arpeggio")) and role in ("keys", "perc")
        lo, hi = {"pad": (52, 74), "keys": (55, 79), "guitar": (48, 67), "perc": (60, 84)}.get(
            role, (52, 74)
        )
        lo, hi = lo + self.lift, hi + self.lift
        last = len(self.plan.bars) - 1
        for i, bar, beat, beats, numeral in self.chord_spans():
            e = bar.energy
            vel = 38 + 60 * e
            notes = self.voice(numeral, bar.tonic, lo, hi)
            start, end = bar.t(beat), bar.t(beat + beats)
            if i == last or (bar.hit and beat == 0):  # struck, held
                if i == last:
                    end += RING_S
                elif role != "pad":
                    end = bar.t(beat + 1)
                for k, p in enumerate(notes):
                    t0 = start + 0.004 * k * (role == "guitar")
                    self.note(inst, p, t0, end, vel + 18, exact=True)
                if i == last or role == "pad":
                    continue
                beat, beats = beat + 1, beats - 1  # after the stab, the pattern goes on
            if role == "pad" or (role == "keys" and e < 0.3):
                restrike = e > 0.7 and role == "pad" and beats >= 4
                for seg in ((0, beats / 2), (beats / 2, beats)) if restrike else ((0, beats),):
                    for p in notes:
                        self.note(inst, p, bar.t(beat + seg[0]), bar.t(beat + seg[1]) - 0.02, vel)
            elif arp and e >= 0.4:
                step = 0.25 if e >= 0.65 else 0.5
                seq = [*notes, notes[0] + 12, notes[1] + 12, *reversed(notes[1:])]
                for j in range(int(beats / step)):
                    t0 = bar.t(beat + j * step)
                    self.note(inst, seq[j % len(seq)], t0, t0 + step * bar.beat_s * 0.9, vel - 6)
            elif role in ("keys", "perc"):
                if e < 0.6:  # broken chord in eighths, rising then falling
                    seq = [*notes, notes[0] + 12, *reversed(notes[1:])]
                    for j in range(int(beats * 2)):
                        t0 = bar.t(beat + j / 2)
                        self.note(inst, seq[j % len(seq)], t0, t0 + bar.beat_s, vel - 8)
                else:  # comping: syncopated block chords
                    pattern = (
                        ((0, 0.5), (1.5, 0.5), (2.5, 0.5), (3.5, 0.5))
                        if self.brief.genre in ("jazz", "lofi")
                        else ((0, 1.5), (1.5, 1), (2.5, 0.5), (3, 1))
                    )
                    for pb, pd in pattern:
                        if pb < beats:
                            for p in notes:
                                self.note(
                                    inst,
                                    p,
                                    bar.t(beat + pb),
                                    bar.t(beat + min(beats, pb + pd)),
                                    vel - (10 if pb % 1 else 0),
                                )
            elif role == "guitar":
                strums = "D.DU.UDU" if e >= 0.55 else ("D...D.D." if e >= 0.3 else "D.......")
                for j in range(int(beats * 2)):
                    c = strums[j % 8]
                    if c == ".":
                        continue
                    order = notes if c == "D" else list(reversed(notes))
                    for k, p in enumerate(order):
                        t0 = bar.t(beat + j / 2) + 0.01 * k
                        self.note(
                            inst,
                            p,
                            t0,
                            bar.t(beat + j / 2 + 1),
                            vel - (12 if c == "U" else 0),
                        )
        for h in self.plan.off_grid_hits_s:  # hits too close to a downbeat: a stab on time
            bar = self.bar_at(h)
            numeral = bar.chord_at((h - bar.start_s) / bar.beat_s)
            for p in self.voice(numeral, bar.tonic, lo, hi):
                self.note(inst, p, h, h + 0.4, 112, exact=True)

    def bar_index(self, t: float) -> int:
        """Index of the bar sounding at `t` seconds (the first bar before it starts)."""
        return max(0, bisect.bisect_right(self.starts, t) - 1)

    def bar_at(self, t: float) -> Bar:
        """The bar sounding at `t` seconds."""
        return self.plan.bars[self.bar_index(t)]

    def bass_plan(self, style: str) -> dict[int, tuple[int, str]]:
        """Per section (by first bar): which rhythm variant of the style the bass plays,
        and a treatment: ``pedal`` (holds the key's tonic under the changes: intros and
        some B sections), ``inversions`` (the chord's third now and then), or ``plain``."""
        out = {}
        for sec in self.plan.sections:
            variants = len(BASS_VARIANTS.get(style, [[]]))
            pick = 0 if sec.name == "A" else int(self.rng.integers(variants))
            roll = self.rng.random()
            if sec.name == "intro" or (sec.material == "B" and roll < 0.35):
                treatment = "pedal"
            elif sec.material in ("B", "C") or roll < 0.3:
                treatment = "inversions"
            else:
                treatment = "plain"
            out[sec.first] = (pick, treatment)
        return out

    def bass(self, inst: pretty_midi.Instrument) -> None:
        style = self.genre.get("bass", "root-fifth")
        spans = list(self.chord_spans())
        last = len(self.plan.bars) - 1
        plan = self.bass_plan(style)
        for n, (i, bar, beat, beats, numeral) in enumerate(spans):
            e = bar.energy
            variant, treatment = plan[self.section_first[i]]
            root = self.bass_root(numeral, bar.tonic)
            nxt = spans[n + 1] if n + 1 < len(spans) else spans[n]
            next_root = self.bass_root(nxt[4], nxt[1].tonic)
            vel = 50 + 55 * e
            if i == last or (bar.hit and beat == 0):
                ring = RING_S if i == last else 0.0
                struck = 112 if bar.hit else 64 + 48 * e  # a soft ending stays soft
                self.note(inst, root, bar.t(beat), bar.t(beat + beats) + ring, struck, exact=True)
                continue
            if e < 0.25:
                continue
            if treatment == "pedal":
                root = self.bass_root("i", bar.tonic)
            elif treatment == "inversions" and self.rng.random() < 0.3:
                low, intervals = chord(numeral, bar.tonic)
                root = self.bass_root("i", (low + intervals[1]) % 12)  # first inversion
            if style == "sustained" or e < 0.4 or (treatment == "pedal" and e < 0.6):
                self.note(inst, root, bar.t(beat), bar.t(beat + beats) - 0.05, vel)
                continue
            if style == "walking":
                self.walk(inst, bar, beat, beats, numeral, root, next_root, vel)
                continue
            pattern = BASS_VARIANTS[style][variant]
            if style == "eighths" and e > 0.85:
                pattern = [(b, 12 if k % 4 == 3 else iv, d) for k, (b, iv, d) in enumerate(pattern)]
            for pb, interval, dur in pattern:
                if pb >= beats:
                    continue
                p = next_root - 1 if interval == -1 else root + interval
                self.note(inst, p, bar.t(beat + pb), bar.t(beat + min(beats, pb + dur)), vel)
            if beats >= 4 and next_root != root and self.rng.random() < 0.25:
                approach = next_root + int(self.rng.choice([-1, 1, -2]))  # into the next chord
                self.note(
                    inst, approach, bar.t(beat + beats - 0.5), bar.t(beat + beats - 0.1), vel - 6
                )

    def walk(
        self,
        inst: pretty_midi.Instrument,
        bar: Bar,
        beat: float,
        beats: float,
        numeral: str,
        root: int,
        next_root: int,
        vel: float,
    ) -> None:
        """A walking line: the root, chord tones, a chromatic step into the next root."""
        tones = sorted(chord_tones(numeral, bar.tonic))
        for j in range(int(beats)):
            if j == 0:
                p = root
            elif j == int(beats) - 1:
                p = next_root + int(self.rng.choice([-1, 1]))
            else:
                pc = tones[int(self.rng.integers(len(tones)))]
                p = root + (pc - root) % 12
            self.note(inst, p, bar.t(beat + j), bar.t(beat + j + 0.95), vel - 4 * (j % 2))

    def _section_beats(self, s: Section) -> list[tuple[int, float]]:
        """(bar index, beats before it in the section) for every bar of a section."""
        out, acc = [], 0.0
        for i in range(s.first, s.first + s.count):
            out.append((i, acc))
            acc += self.plan.bars[i].beats
        return out

    def melody(self, inst: pretty_midi.Instrument, base: int) -> None:
        bars = self.plan.bars
        base += 12 * (self.brief.brightness > 0.5) - 12 * (self.brief.brightness < -0.5)
        for s in self.plan.sections:
            if s.name in ("intro", "ending"):
                continue
            layout = self._section_beats(s)
            total = layout[-1][1] + bars[layout[-1][0]].beats
            for k, variation in enumerate(s.variations):
                statement = _transform(self.plan.motif, variation, self.rng)
                cadence = k == len(s.variations) - 1
                shading = float(self.rng.uniform(-10, 10))  # each statement its own dynamic
                for j, (beat, dur, step) in enumerate(statement):
                    pos = 8.0 * k + beat
                    if pos >= total:
                        break
                    idx, before = max((p for p in layout if p[1] <= pos), key=lambda p: p[1])
                    bar = bars[idx]
                    if bar.energy < 0.3:
                        continue
                    in_bar = pos - before
                    numeral = bar.chord_at(in_bar)
                    pitch = self.scale_pitch(step, bar.tonic, base + 12 * (bar.energy > 0.85))
                    last_note = cadence and j == len(statement) - 1
                    if in_bar % 2 == 0 or last_note:  # strong beats land on chord tones
                        tones = chord_tones(numeral, bar.tonic)
                        pitch = min(
                            (p for p in range(pitch - 4, pitch + 5) if p % 12 in tones),
                            key=lambda p: abs(p - pitch),
                        )
                    length = dur * (1.8 if last_note else self.hold(dur))
                    end = min(self.at(idx, in_bar + length), self.plan.seconds)
                    contour = 0.9 * (pitch - base - 7)  # a line swells as it climbs
                    vel = 46 + 60 * bar.energy + contour + shading
                    self.note(inst, pitch, bar.t(in_bar), end, vel)
        final = bars[-1]
        if len(bars) > 1 and final.energy >= 0.3:
            pitch = self.scale_pitch(0, final.tonic, base)
            end = final.end_s + RING_S
            self.note(inst, pitch, final.start_s, end, 70 + 30 * final.energy, exact=True)

    def hold(self, beats: float) -> float:
        """How much of a melody note's written length sounds: legato lines overlap the next
        note a little, detached and staccato ones shorten short notes most."""
        short = beats <= 0.5
        return {"legato": 1.04, "staccato": 0.5 if short else 0.8}.get(
            self.articulation, 0.78 if short else 0.92
        )

    def swell(self, inst: pretty_midi.Instrument) -> None:
        """Expression (CC 11) for a sustained part: every chord breathes, rising to its
        middle and relaxing, deeper in legato genres; the level follows the energy. The
        final bar holds steady to the cut."""
        depth = 28.0 if self.articulation == "legato" else 14.0
        last = len(self.plan.bars) - 1
        for i, bar, beat, beats, _ in self.chord_spans():
            t0, t1 = bar.t(beat), bar.t(beat + beats)
            base = 52 + 72 * bar.energy
            points = 9 if i < last else 1
            for k in range(points):
                x = k / 8
                value = base - depth / 2 + depth * math.sin(math.pi * x) if i < last else 110
                inst.control_changes.append(
                    pretty_midi.ControlChange(11, int(np.clip(value, 1, 127)), t0 + x * (t1 - t0))
                )

    def dynamics(self, inst: pretty_midi.Instrument) -> None:
        """Expression (CC 11) bar by bar from the energy: the player's dynamics, wider
        than a SoundFont's velocity layers give (pp at energy 0, ff at 1)."""
        for bar in self.plan.bars:
            value = int(np.clip(60 + 67 * bar.energy, 1, 127))
            inst.control_changes.append(pretty_midi.ControlChange(11, value, bar.start_s))

    def counter(self, inst: pretty_midi.Instrument, base: int) -> None:
        """A slow counter-line: the chord's third or seventh, long notes, from mid energy."""
        for _, bar, beat, beats, numeral in self.chord_spans():
            if bar.energy < 0.45 or bar.section == "intro":
                continue
            root, intervals = chord(numeral, bar.tonic)
            pc = (root + intervals[-1 if len(intervals) > 3 else 1]) % 12
            pitch = base + (pc - base) % 12
            self.note(inst, pitch, bar.t(beat), bar.t(beat + beats) - 0.03, 50 + 40 * bar.energy)

    def accents(self, inst: pretty_midi.Instrument) -> None:
        """Timpani-like strokes: section starts at energy, every hit, the final downbeat."""
        bars = self.plan.bars
        for s in self.plan.sections:
            b = bars[s.first]
            if b.energy > 0.45 or b.hit or s.name == "ending":
                root = 36 + (b.tonic - 36) % 12 + 12 * ((b.tonic - 36) % 12 < 5)
                self.note(inst, root, b.start_s, b.t(2), 60 + 55 * b.energy, exact=True)
        for b in bars:
            if b.hit:
                root = 36 + (b.tonic - 36) % 12
                self.note(inst, root, b.start_s, b.t(2), 120, exact=True)
        for h in self.plan.off_grid_hits_s:
            self.note(inst, 36 + self.plan.tonic % 12, h, h + 1.0, 115, exact=True)

    def drum_variant(self, pattern: dict[str, str], sec: Section) -> dict[str, str]:
        """The kit pattern a section plays: the genre's for the first A, a variant for the
        others (an added or moved kick, busier or sparser hats, the ride, a snare drag)."""
        steps = {p: pattern[p] for p in ("kick", "snare", "hat", "tom")}
        if sec.name in ("A", "intro", "ending"):
            return steps
        moves = ["kick+", "kick-move", "hat16", "hat4", "ride", "drag"]
        count = 2 if sec.material in ("B", "C") else 1
        for move in self.rng.choice(moves, size=count, replace=False):
            cymbal = "ride" if "ride" in steps else "hat"
            kick, hat = list(steps["kick"]), list(steps[cymbal])
            if move == "kick+":
                free = [k for k in (3, 7, 10, 11, 14) if kick[k] == "."]
                if free:
                    kick[int(self.rng.choice(free))] = "x"
            elif move == "kick-move":
                moved = [k for k in range(2, 16) if kick[k] != "." and k + 2 < 16]
                if moved:
                    k = int(self.rng.choice(moved))
                    kick[k], kick[k + 2] = ".", kick[k]
            elif move == "hat16" and hat.count(".") >= 8:
                hat = [c if c != "." else ("x" if k % 2 else ".") for k, c in enumerate(hat)]
            elif move == "hat4":
                hat = [c if k % 4 == 0 else "." for k, c in enumerate(hat)]
            elif move == "drag" and steps["snare"][15] == ".":
                steps["snare"] = steps["snare"][:15] + "x"
            steps["kick"], steps[cymbal] = "".join(kick), "".join(hat)
            if move == "ride" and cymbal == "hat":
                steps["ride"] = steps.pop("hat")
        return steps

    def boundaries(self) -> dict[int, str]:
        """What the drums do in the bar before each section change or hit: a ``build`` (a
        snare roll rising into a louder section), a ``drop`` (only the hats: the floor falls
        away before the new section), or a ``fill`` (the usual)."""
        bars, out = self.plan.bars, {}
        firsts = {sec.first: sec for sec in self.plan.sections}
        for i in range(len(bars) - 1):
            nxt = firsts.get(i + 1)
            if nxt is None and not bars[i + 1].hit:
                continue
            if bars[i].beats < 2:
                continue
            prev_count = i + 1 - self.section_first[i]
            rise = bars[i + 1].energy - bars[i].energy
            roll = self.rng.random()
            if rise >= 0.08 and prev_count >= 4 and self.genre["drums"] != "swing":
                out[i] = "build"
                if prev_count >= 8:
                    out[i - 1] = "build"
            elif bars[i].energy > 0.5 and roll < 0.2 and nxt is not None:
                out[i] = "drop"
            else:
                out[i] = "fill"
        return out

    def drum_bar(self, bar: Bar, steps: dict[str, str]) -> list[tuple[str, int, float]]:
        """(piece, sixteenth, velocity) of one bar of the groove at its energy."""
        e, out = bar.energy, []
        for part, line in steps.items():
            line = line * 2
            for step in range(bar.beats * 4):
                c = line[step]
                if c == ".":
                    continue
                if e < 0.5 and part not in ("hat", "ride") and not (part == "kick" and step == 0):
                    continue  # low energy: time-keeping only
                if part in ("hat", "ride") and e < 0.45 and step % 4:
                    continue
                if bar.hit and step == 0:
                    continue
                out.append((part, step, (96 if c == "o" else 78) * (0.55 + 0.6 * e)))
            if part == "hat" and e > 0.85:  # top energy: sixteenth hats
                out += [("hat", step, 55.0) for step in range(1, bar.beats * 4, 2)]
        return out

    def embellish(
        self, hits: list[tuple[str, int, float]], bar: Bar, i: int
    ) -> list[tuple[str, int, float]]:
        """A drummer's variations bar by bar: ghost notes, an open hat, a kick pickup into
        the next phrase."""
        groove = self.genre.get("groove", {})
        taken = {(p, st) for p, st, _ in hits}
        n = bar.beats * 4
        if bar.energy >= 0.45 and self.rng.random() < float(groove.get("ghost_notes", 0.0)):
            piece = "snare" if any(p == "snare" for p, _, _ in hits) else "tom"
            free = [st for st in range(1, n, 2) if (piece, st) not in taken]
            for st in self.rng.choice(
                free, size=min(len(free), int(self.rng.integers(1, 4))), replace=False
            ):
                hits.append((piece, int(st), float(self.rng.uniform(22, 38))))
        if self.rng.random() < float(groove.get("open_hats", 0.0)):
            spots = [st for p, st, _ in hits if p == "hat" and st % 4 == 2]
            if spots:
                st = int(self.rng.choice(spots))
                hits = [(("open hat" if (p, s2) == ("hat", st) else p), s2, v) for p, s2, v in hits]
        if (i - self.section_first[i]) % 4 == 3 and bar.energy >= 0.5 and self.rng.random() < 0.35:
            hits.append(("kick", n - 1 - 2 * int(self.rng.integers(2)), 70.0))
        return hits

    def fill(self, hits: list[tuple[str, int, float]], bar: Bar) -> list[tuple[str, int, float]]:
        """Replace the end of the bar (a beat or two) with a fill of one of four kinds:
        toms falling, a snare run, kick and snare in unison, or a syncopated snare."""
        n, e = bar.beats * 4, bar.energy
        start = max(0, n - (8 if e > 0.6 and self.rng.random() < 0.6 else 4))
        kind = str(
            self.rng.choice(["toms", "snare", "unison", "sync"] if e > 0.6 else ["snare", "sync"])
        )
        kept = [h for h in hits if h[1] < start or h[0] == "kick"]
        toms = ("snare", "tom", "low tom", "floor tom")
        for step in range(start, n):
            x = (step - start) / max(1, n - start)
            vel = 55 + 45 * x + 20 * e
            if kind == "toms":
                kept.append((toms[min(3, int(x * 4))], step, vel))
            elif kind == "snare":
                kept.append(("snare", step, vel))
            elif kind == "unison" and step % 2 == 0:
                kept += [("snare", step, vel), ("kick", step, vel - 10)]
            elif kind == "sync" and step % 4 in (0, 3):
                kept.append(("snare", step, vel))
        return kept

    def build(self, bar: Bar, i: int, boundaries: dict[int, str]) -> list[tuple[str, int, float]]:
        """A build bar: kick on the beats, a snare roll in eighths (sixteenths in the bar
        right before the new section) rising in velocity."""
        n = bar.beats * 4
        last = boundaries.get(i + 1) != "build"
        first_vel = 60.0 if boundaries.get(i - 1) != "build" else 80.0
        out = [("kick", st, 90.0) for st in range(0, n, 4)]
        for st in range(0, n, 1 if last else 2):
            out.append(("snare", st, first_vel + 35 * st / n))
        return out

    def drums(self, inst: pretty_midi.Instrument) -> None:
        for h in self.plan.off_grid_hits_s:
            for p in ("kick", "snare", "crash"):
                self.note(inst, DRUM_NOTES[p], h, h + 0.5, 118, exact=True)
        pattern = self.vocab["drums"][self.genre["drums"]]
        sw = self.plan.swing
        bars = self.plan.bars
        variants = {sec.first: self.drum_variant(pattern, sec) for sec in self.plan.sections}
        boundaries = self.boundaries()
        firsts = {sec.first for sec in self.plan.sections}

        def at(bar: Bar, step: int) -> float:
            beat, sub = divmod(step, 4)
            offset = {0: 0.0, 1: 0.25, 2: sw, 3: 0.75 + (sw - 0.5) / 2}[sub]
            return bar.t(beat + offset)

        for i, bar in enumerate(bars):
            e = bar.energy
            if bar.hit or i == len(bars) - 1:
                crash = e >= 0.35 or bar.hit
                for p in ("kick", "crash") if crash else ("kick",):
                    struck = 112 if bar.hit else 64 + 48 * e
                    self.note(inst, DRUM_NOTES[p], bar.start_s, bar.t(1), struck, exact=True)
                if i == len(bars) - 1:
                    continue
            if bar.section == "intro" or e < 0.3:
                continue
            if i in firsts and e >= 0.5 and not bar.hit:
                self.note(inst, DRUM_NOTES["crash"], bar.start_s, bar.t(1), 75 + 35 * e, part="hat")
            kind = boundaries.get(i)
            if kind == "build":
                hits = self.build(bar, i, boundaries)
            else:
                hits = self.drum_bar(bar, variants[self.section_first[i]])
                hits = self.embellish(hits, bar, i)
                if kind == "fill":
                    hits = self.fill(hits, bar)
                elif kind == "drop":
                    hits = [h for h in hits if h[0] in ("hat", "ride", "open hat")]
            for piece, step, vel in hits:
                t = at(bar, step)
                part = (
                    "hat" if piece in ("ride", "open hat") else ("tom" if "tom" in piece else piece)
                )
                self.note(inst, DRUM_NOTES[piece], t, t + 0.1, vel, part=part)

    # -- assembly ---------------------------------------------------------------------------
    def write(self) -> pretty_midi.PrettyMIDI:
        insts = self.vocab["instruments"]
        melody_by = melody_instrument(self.brief, self.vocab)
        has_keys = any(insts[n]["role"] == "keys" for n in self.brief.instruments)
        arpeggio = bool(self.genre.get("arpeggio"))
        for name in self.brief.instruments:
            entry = insts[name]
            inst = pretty_midi.Instrument(program=int(entry["program"]), name=name)
            pan = float(entry.get("pan", ROLE_PAN.get(entry["role"], 0.0)))
            inst.control_changes.append(
                pretty_midi.ControlChange(10, int(np.clip(64 + 63 * pan, 0, 127)), 0.0)
            )
            role = entry["role"]
            self.part = role
            if role == "bass":
                self.bass(inst)
            elif name == melody_by:
                self.melody(inst, 72 if role == "lead" else 84)
            elif entry["program"] == 47:
                self.accents(inst)
            elif role == "lead" or (role == "perc" and has_keys and not arpeggio):
                self.counter(inst, (60 if role == "lead" else 72) + self.lift)
            else:
                self.harmony(inst, role)
            if role == "pad":
                tie_common_tones(inst)
                self.swell(inst)
            elif role != "perc" or entry["program"] != 47:
                self.dynamics(inst)
            fold_into_range(inst, *entry.get("range", (24, 108)))
            self.voicing = []
            self.pm.instruments.append(inst)
        if melody_by is None:  # every cue carries a tune
            inst = pretty_midi.Instrument(program=0, name="melody")
            self.part = "lead"
            self.melody(inst, 72)
            self.dynamics(inst)
            self.pm.instruments.append(inst)
        if self.brief.drums:
            kit = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
            self.drums(kit)
            self.pm.instruments.append(kit)
        return self.pm
