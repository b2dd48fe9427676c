"""Plan -> notes: one pretty_midi instrument per part.

Every part reads the bar's energy: parts enter and leave (bass from 0.25, melody from 0.3,
drums from 0.3 with hats only, full kit from 0.5, counter-line from 0.6), patterns grow
denser, velocities rise and registers climb with it. Hit points get a stab from every part;
the final bar lands the tonic on its downbeat with a struck attack and rings to the cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pretty_midi

from scoreflow.tasks.backends.composer.plan import RHYTHMS, Bar, Plan, Section
from scoreflow.tasks.backends.composer.theory import chord, chord_tones
from scoreflow.tasks.model import Brief

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
        jitter_s: float = 0.005,
    ) -> None:
        if not inst.is_drum and jitter_s:
            start += float(self.rng.uniform(0, jitter_s))
        vel = int(np.clip(velocity + self.rng.normal(0, 3), 1, 127))
        end = min(end, self.plan.seconds + TAIL_S)
        while pitch < 0:
            pitch += 12
        while pitch > 127:
            pitch -= 12
        if end - start > 0.01:
            inst.notes.append(pretty_midi.Note(vel, int(pitch), start, end))

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
                    self.note(inst, p, start + 0.004 * k * (role == "guitar"), end, vel + 18, 0)
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
                            0.002,
                        )
        for h in self.plan.off_grid_hits_s:  # hits too close to a downbeat: a stab on time
            bar = self.bar_at(h)
            numeral = bar.chord_at((h - bar.start_s) / bar.beat_s)
            for p in self.voice(numeral, bar.tonic, lo, hi):
                self.note(inst, p, h, h + 0.4, 112, 0)

    def bar_at(self, t: float) -> Bar:
        """The bar sounding at `t` seconds."""
        return next(b for b in reversed(self.plan.bars) if b.start_s <= t)

    def bass(self, inst: pretty_midi.Instrument) -> None:
        style = self.genre.get("bass", "root-fifth")
        spans = list(self.chord_spans())
        last = len(self.plan.bars) - 1
        for n, (i, bar, beat, beats, numeral) in enumerate(spans):
            e = bar.energy
            root = self.bass_root(numeral, bar.tonic)
            nxt = spans[n + 1] if n + 1 < len(spans) else spans[n]
            next_root = self.bass_root(nxt[4], nxt[1].tonic)
            vel = 50 + 55 * e
            if i == last or (bar.hit and beat == 0):
                ring = RING_S if i == last else 0.0
                self.note(inst, root, bar.t(beat), bar.t(beat + beats) + ring, 112, 0)
                continue
            if e < 0.25:
                continue
            if style == "sustained" or e < 0.4:
                self.note(inst, root, bar.t(beat), bar.t(beat + beats) - 0.05, vel)
                continue
            if style == "walking":
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
                continue
            pattern: list[tuple[float, int, float]] = {  # (beat, interval, beats)
                "root-fifth": [(0, 0, 1.9), (2, 7, 1.4), (3.5, -1, 0.5)],
                "syncopated": [(0, 0, 1.4), (1.5, 0, 0.4), (2.75, 7, 0.7), (3.5, 12, 0.4)],
                "eighths": [(j / 2, 12 if e > 0.85 and j % 4 == 3 else 0, 0.45) for j in range(8)],
                "octaves": [(j / 2, 12 * (j % 2), 0.4) for j in range(8)],
            }.get(style, [(0, 0, beats)])
            for pb, interval, dur in pattern:
                if pb >= beats:
                    continue
                p = next_root - 1 if interval == -1 else root + interval
                self.note(inst, p, bar.t(beat + pb), bar.t(beat + min(beats, pb + dur)), vel)

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
                    length = dur * (1.8 if last_note else 0.92)
                    end = min(self.at(idx, in_bar + length), self.plan.seconds)
                    self.note(inst, pitch, bar.t(in_bar), end, 50 + 60 * bar.energy)
        final = bars[-1]
        if len(bars) > 1 and final.energy >= 0.3:
            pitch = self.scale_pitch(0, final.tonic, base)
            self.note(inst, pitch, final.start_s, final.end_s + RING_S, 70 + 30 * final.energy, 0)

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
                self.note(inst, root, b.start_s, b.t(2), 60 + 55 * b.energy, 0)
        for b in bars:
            if b.hit:
                root = 36 + (b.tonic - 36) % 12
                self.note(inst, root, b.start_s, b.t(2), 120, 0)
        for h in self.plan.off_grid_hits_s:
            self.note(inst, 36 + self.plan.tonic % 12, h, h + 1.0, 115, 0)

    def drums(self, inst: pretty_midi.Instrument) -> None:
        for h in self.plan.off_grid_hits_s:
            for p in ("kick", "crash"):
                self.note(inst, DRUM_NOTES[p], h, h + 0.5, 115)
        pattern = self.vocab["drums"][self.genre["drums"]]
        sw = self.plan.swing
        hat = "ride" if self.brief.genre == "jazz" else "hat"
        bars = self.plan.bars
        section_end = {s.first + s.count - 1 for s in self.plan.sections}
        before_hit = {i - 1 for i, b in enumerate(bars) if b.hit and i > 0}

        def at(bar: Bar, step: int) -> float:
            beat, sub = divmod(step, 4)
            offset = {0: 0.0, 1: 0.25, 2: sw, 3: 0.75 + (sw - 0.5) / 2}[sub]
            return bar.t(beat + offset)

        for i, bar in enumerate(bars):
            e = bar.energy
            if bar.hit or i == len(bars) - 1:
                crash = e >= 0.35 or bar.hit
                for p in ("kick", "crash") if crash else ("kick",):
                    self.note(inst, DRUM_NOTES[p], bar.start_s, bar.t(1), 112)
                if i == len(bars) - 1:
                    continue
            if bar.section == "intro" or e < 0.3:
                continue
            if i in {s.first for s in self.plan.sections} and e >= 0.5 and not bar.hit:
                self.note(inst, DRUM_NOTES["crash"], bar.start_s, bar.t(1), 75 + 35 * e)
            fill = (i in section_end or i in before_hit) and bar.beats >= 2
            steps_n = bar.beats * 4
            fill_from = max(0, steps_n - 8) if e > 0.6 else max(0, steps_n - 4)
            for part in ("kick", "snare", hat, "tom"):
                steps = pattern["hat" if part == "ride" else part] * 2
                for step in range(steps_n):
                    c = steps[step]
                    if c == "." or (fill and step >= fill_from and part != "kick"):
                        continue
                    if (
                        e < 0.5
                        and part not in ("hat", "ride")
                        and not (part == "kick" and step == 0)
                    ):
                        continue  # low energy: time-keeping only
                    if part in ("hat", "ride") and e < 0.45 and step % 4:
                        continue
                    if bar.hit and step == 0:
                        continue
                    vel = (96 if c == "o" else 78) * (0.55 + 0.6 * e)
                    self.note(inst, DRUM_NOTES[part], at(bar, step), at(bar, step) + 0.1, vel)
                if part in ("hat",) and e > 0.85:  # top energy: sixteenth hats
                    for step in range(1, steps_n, 2):
                        self.note(inst, DRUM_NOTES["hat"], at(bar, step), at(bar, step) + 0.05, 55)
            if fill:
                toms = ("snare", "tom", "low tom", "floor tom")
                for step in range(fill_from, steps_n):
                    k = (step - fill_from) * 4 // max(1, steps_n - fill_from)
                    drum = DRUM_NOTES[toms[k]] if e > 0.6 else DRUM_NOTES["snare"]
                    vel = 55 + 45 * (step - fill_from) / max(1, steps_n - fill_from) + 20 * e
                    self.note(inst, drum, at(bar, step), at(bar, step) + 0.1, vel)

    # -- assembly ---------------------------------------------------------------------------
    def write(self) -> pretty_midi.PrettyMIDI:
        insts = self.vocab["instruments"]
        leads = [n for n in self.brief.instruments if insts[n]["role"] == "lead"]
        melody_by = leads[0] if leads else None
        if melody_by is None:  # pitched percussion carries the tune when no lead is there
            melody_by = next(
                (
                    n
                    for n in self.brief.instruments
                    if insts[n]["role"] == "perc"
                    and insts[n]["program"] != 47
                    and not self.genre.get("arpeggio")
                ),
                None,
            )
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
            fold_into_range(inst, *entry.get("range", (24, 108)))
            self.voicing = []
            self.pm.instruments.append(inst)
        if melody_by is None:  # every cue carries a tune
            inst = pretty_midi.Instrument(program=0, name="melody")
            self.melody(inst, 72)
            self.pm.instruments.append(inst)
        if self.brief.drums:
            kit = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
            self.drums(kit)
            self.pm.instruments.append(kit)
        return self.pm
