"""The musical plan of a cue: bar grid (tempo map, meters), form, energy, harmony, motif.

Compose to length: sync points (the scene start, each hit point, the scene end) cut the
scene into segments; each segment gets a whole number of beats at a tempo close to the
brief's (within its range where possible), grouped in 4/4 bars with at most one shorter or
longer bar before the sync point, as a film composer adds a 2/4 bar to land on a hit. The
bar grid therefore tiles the scene exactly: every hit point is a downbeat and the barline
closing the last bar is the cut.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from scoreflow.tasks.music.theory import DARK_MODES, NAMES, SCALES, pitch_class
from scoreflow.tasks.timeline.model import Brief

# Penalty of a segment's leftover beats (beats % 4): 0 none, 2 a 2/4 bar, 3 a 3/4 bar,
# 1 a 5/4 bar.
_METER_PENALTY = {0: 0.0, 2: 2.0, 3: 3.0, 1: 5.0}
# One- and two-bar rhythms for motifs, in beats.
RHYTHMS = (
    (1.0, 1.0, 2.0),
    (0.5, 0.5, 1.0, 2.0),
    (1.5, 0.5, 1.0, 1.0),
    (1.0, 0.5, 0.5, 1.0, 1.0),
    (2.0, 1.0, 1.0),
    (0.5, 0.5, 0.5, 0.5, 1.0, 1.0),
    (0.75, 0.25, 1.0, 0.5, 0.5, 1.0),
    (1.5, 1.5, 1.0),
)
VARIATIONS = ("statement", "sequence", "inversion", "retrograde", "rhythm", "diminution")
MIN_SEGMENT_BEATS = 0.75  # a hit closer than this to the previous sync point stays off-grid


@dataclass
class Bar:
    """One bar of the grid. Times in seconds from the scene start."""

    start_s: float
    beats: int
    bpm: float
    section: str = ""
    energy: float = 0.5
    tonic: int = 0
    chords: list[tuple[float, float, str]] = field(default_factory=list)  # (beat, beats, numeral)
    hit: bool = False

    @property
    def beat_s(self) -> float:
        return 60.0 / self.bpm

    @property
    def end_s(self) -> float:
        return self.start_s + self.beats * self.beat_s

    def t(self, beat: float) -> float:
        return self.start_s + beat * self.beat_s

    def chord_at(self, beat: float) -> str:
        current = self.chords[0][2]
        for b, _, numeral in self.chords:
            if b <= beat + 1e-9:
                current = numeral
        return current


@dataclass
class Section:
    name: str  # intro, A, B, A', C ..., ending
    first: int  # index of its first bar
    count: int
    variations: tuple[str, ...] = ()  # motif variation per two-bar statement

    @property
    def material(self) -> str:
        return self.name.rstrip("'")


@dataclass
class Plan:
    """Everything about a cue but its notes."""

    seconds: float
    bars: list[Bar]
    sections: list[Section]
    tonic: int
    mode: str
    tempo_error_bpm: float
    off_grid_hits_s: list[float]
    swing: float = 0.5
    motif: list[tuple[float, float, int]] = field(default_factory=list)  # (beat, beats, step)
    modulation: int = 0  # semitones the last A section moves up

    @property
    def bpm(self) -> float:
        """The tempo that covers most of the cue."""
        weight: dict[float, float] = {}
        for b in self.bars:
            weight[round(b.bpm, 3)] = weight.get(round(b.bpm, 3), 0.0) + b.beats * b.beat_s
        return max(weight, key=lambda k: weight[k])

    @property
    def scale(self) -> tuple[int, ...]:
        return SCALES[self.mode]

    def downbeats_s(self) -> list[float]:
        return [b.start_s for b in self.bars]

    def tempo_map(self) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for b in self.bars:
            if not out or out[-1][1] != round(b.bpm, 4):
                out.append((round(b.start_s, 6), round(b.bpm, 4)))
        return out

    def meters(self) -> str:
        counts: dict[int, int] = {}
        for b in self.bars:
            counts[b.beats] = counts.get(b.beats, 0) + 1
        return ", ".join(f"{n}/4 x{c}" for n, c in sorted(counts.items(), key=lambda x: -x[1]))

    def summary(self) -> list[str]:
        """Lines describing the plan, for `scoreflow explain`."""
        tempos = ", ".join(f"{bpm:g} bpm from {t:.2f} s" for t, bpm in self.tempo_map())
        key = f"{NAMES[self.tonic]} {self.mode}"
        if self.modulation:
            key += f", last A up {self.modulation} semitones"
        lines = [
            f"  plan:   {len(self.bars)} bars ({self.meters()}); tempo {tempos}; "
            f"tempo error {self.tempo_error_bpm:g} bpm; {key}"
        ]
        for s in self.sections:
            bars = self.bars[s.first : s.first + s.count]
            chords = " | ".join(" ".join(c[2] for c in b.chords) for b in bars)
            energy = sum(b.energy for b in bars) / len(bars)
            motif = f" motif {'/'.join(s.variations)}" if s.variations else ""
            lines.append(
                f"          {s.name:<7} bars {s.first + 1}-{s.first + s.count} "
                f"energy {energy:.2f}{motif}: {chords}"
            )
        if self.off_grid_hits_s:
            hits = ", ".join(f"{h:.2f} s" for h in self.off_grid_hits_s)
            lines.append(f"          hits too close to another sync point, played off-grid: {hits}")
        return lines


def choose_beats(
    seconds: float,
    *,
    target_bpm: float,
    tempo_range: tuple[float, float],
    steadiness: float = 20.0,
) -> tuple[int, float, float]:
    """Whole beats for a segment of `seconds`, at a tempo near `target_bpm`.

    Prefers, in order: a tempo inside `tempo_range`, whole 4/4 bars, closeness to the
    target. An exact tempo (``lo == hi``) moves only as far as whole beats require.
    `steadiness` is the cost of a 100 % tempo change against 2 for a 2/4 bar: segments
    between hit points use a high one, so the tempo barely moves and an odd bar lands
    the hit instead.

    Returns
    -------
    (beats, bpm, tempo_error_bpm)
        ``tempo_error_bpm`` is how far outside `tempo_range` the tempo had to go (0 inside).
    """
    if seconds <= 0:
        raise ValueError(f"segment length must be positive, got {seconds}")
    lo, hi = tempo_range
    b0 = seconds * target_bpm / 60.0
    candidates = set(range(max(1, math.floor(b0) - 4), math.ceil(b0) + 5))
    candidates |= {
        4 * k
        for k in range(
            max(1, math.floor(seconds * lo / 240.0)), math.ceil(seconds * hi / 240.0) + 1
        )
    }

    def score(beats: int) -> tuple[float, float]:
        bpm = beats * 60.0 / seconds
        outside = max(lo - bpm, bpm - hi, 0.0)
        meter = _METER_PENALTY[beats % 4] if beats >= 4 else 2.0 * (beats != 4)
        cost = 100.0 * outside / target_bpm + meter
        return cost + steadiness * abs(bpm - target_bpm) / target_bpm, beats

    beats = min(candidates, key=score)
    bpm = beats * 60.0 / seconds
    return beats, bpm, round(max(lo - bpm, bpm - hi, 0.0), 3)


def split_meters(beats: int, *, odd_bar_last: bool) -> list[int]:
    """Beats per bar: 4/4 bars, the leftover as one 2/4, 3/4 or 5/4 bar.

    The odd bar comes last (just before a hit) or, with ``odd_bar_last=False``, second to
    last (so a cue's final bar stays a full bar).
    """
    if beats < 4:
        return [beats]
    k, r = divmod(beats, 4)
    bars = [4] * k
    if r == 1:
        bars[-1] = 5
    elif r:
        bars.append(r)
    if not odd_bar_last and len(bars) >= 2 and bars[-1] != 4:
        bars[-1], bars[-2] = bars[-2], bars[-1]
    return bars


def make_grid(
    seconds: float,
    *,
    hits_s: tuple[float, ...],
    target_bpm: float,
    tempo_range: tuple[float, float],
) -> tuple[list[Bar], float, list[float]]:
    """Bars tiling ``[0, seconds)`` with every usable hit point on a downbeat.

    Returns
    -------
    (bars, tempo_error_bpm, off_grid_hits_s)
    """
    min_gap = MIN_SEGMENT_BEATS * 60.0 / target_bpm
    points, off_grid = [0.0], []
    for h in sorted(hits_s):
        if h <= 1e-6:
            continue  # a hit on the cut is the first downbeat
        if h - points[-1] >= min_gap and seconds - h >= min_gap:
            points.append(h)
        else:
            off_grid.append(h)
    points.append(seconds)
    bars: list[Bar] = []
    error = 0.0
    if len(points) > 2:  # one tempo for the cue, then each segment keeps close to it
        target_bpm = choose_beats(seconds, target_bpm=target_bpm, tempo_range=tempo_range)[1]
    lo, hi = tempo_range
    for i, (a, b) in enumerate(pairwise(points)):
        beats, bpm, _ = choose_beats(
            b - a,
            target_bpm=target_bpm,
            tempo_range=tempo_range,
            steadiness=20.0 if len(points) == 2 else 150.0,
        )
        meters = split_meters(beats, odd_bar_last=i < len(points) - 2)

        def outside(tempi: list[float]) -> float:
            return max(max(lo - t, t - hi, 0.0) for t in tempi)

        tempi = [bpm] * len(meters)
        if bars:  # ramp from the tempo before, unless that pushes the tempo out of range
            ramped = ramp_tempi(meters, b - a, start_bpm=bars[-1].bpm)
            tempi = ramped if outside(ramped) <= outside(tempi) + 1e-9 else tempi
        target_bpm = tempi[-1]  # the next segment keeps close to this one's tempo
        error = max(error, round(outside(tempi), 3))
        t = a
        for n, tempo in zip(meters, tempi, strict=True):
            bars.append(Bar(start_s=t, beats=n, bpm=tempo, hit=bool(t == a and a > 0)))
            t += n * 60.0 / tempo
    if any(h <= 1e-6 for h in hits_s):
        bars[0].hit = True
    return bars, error, off_grid


RAMP_BARS = 4  # a tempo change after a hit is spread over up to this many bars


def ramp_tempi(meters: list[int], seconds: float, *, start_bpm: float) -> list[float]:
    """Tempo per bar for bars of `meters` beats filling exactly `seconds`, starting from the
    tempo before them: a ramp (each bar a step nearer) over the first ``RAMP_BARS`` bars (at
    most half of them), then a held tempo, solved so the bars end on the next sync point.
    One bar, or a change under 1 %, keeps a single tempo (a step, as before).

    Returns
    -------
    list of float, one tempo (bpm) per bar
    """
    beats = sum(meters)
    flat = beats * 60.0 / seconds
    k = min(RAMP_BARS, len(meters) // 2)
    if k == 0 or abs(flat - start_bpm) <= 0.01 * start_bpm:
        return [flat] * len(meters)

    def tempi(held: float) -> list[float]:
        return [start_bpm + (held - start_bpm) * min(1.0, (j + 1) / (k + 1))
                for j in range(len(meters))]  # fmt: skip

    def excess(held: float) -> float:
        return sum(n * 60.0 / t for n, t in zip(meters, tempi(held), strict=True)) - seconds

    lo, hi = 0.25 * flat, 4.0 * flat  # the duration falls as the held tempo rises
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    return tempi((lo + hi) / 2)


def _curve(name: str, hits: list[float]) -> Callable[[float], float]:
    """Energy shape over the scene, x in [0, 1] -> 0..1."""
    peak = max(hits) if hits and max(hits) > 0.3 else 1.0
    shapes: dict[str, Callable[[float], float]] = {
        "rises": lambda x: 0.25 + 0.75 * min(1.0, x / peak),
        "falls": lambda x: 1.0 - 0.7 * x,
        "swells": lambda x: 0.3 + 0.7 * math.sin(math.pi * x),
    }
    return shapes.get(name, lambda x: 0.8)


def _form(bars: list[Bar], *, phrase: int, quiet_start: bool) -> list[Section]:
    """Intro, body sections (new one at every hit and every `phrase` bars), ending."""
    n = len(bars)
    if n == 1:
        return [Section("ending", 0, 1)]
    intro = 0 if bars[0].hit or n < 6 else (1 if n < 12 else (2 if n < 24 else 4))
    intro = 0 if not quiet_start else intro
    starts = [0] if intro else []
    i = intro
    while i < n - 1:
        starts.append(i)
        j = i + 1
        while j < n - 1 and not bars[j].hit and j - i < phrase:
            j += 1
        i = j
    # No stub sections: fold one-bar sections into the one before (not across a hit).
    merged: list[int] = []
    for k, s in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else n - 1
        if merged and end - s < 2 and not bars[s].hit and s >= intro:
            continue
        merged.append(s)
    names = ["A", "B", "A'", "C", "B'", "A''", "C'", "A'''"]
    sections, k = [], 0
    for idx, s in enumerate(merged):
        end = merged[idx + 1] if idx + 1 < len(merged) else n - 1
        if intro and s == 0:
            name = "intro"
        else:
            name, k = names[k % len(names)], k + 1
        sections.append(Section(name, s, end - s))
    sections.append(Section("ending", n - 1, 1))
    return [s for s in sections if s.count > 0]


# Diatonic substitutes (shared tones) a seed may swap in for one chord of a progression.
SUBSTITUTES = {
    "I": ("vi", "iii"),
    "IV": ("ii", "vi"),
    "V": ("iii", "bVII"),
    "vi": ("IV", "I"),
    "ii": ("IV",),
    "iii": ("V", "I"),
    "i": ("bVI", "iv"),
    "iv": ("bVI", "iio"),
    "bVI": ("iv", "i"),
    "bVII": ("v", "bIII"),
    "bIII": ("i", "bVI"),
}


def vary_progression(
    progression: list[str], rng: np.random.Generator, *, rotate: bool = True
) -> list[str]:
    """A seed's version of a progression: maybe rotated (not with `rotate` False: the first
    section states the key from its first chord), maybe one chord substituted."""
    p = list(progression)
    if rotate and len(p) > 2 and rng.random() < 0.5:
        k = int(rng.integers(1, len(p)))
        p = p[k:] + p[:k]
    if len(p) > 1 and rng.random() < 0.6:
        k = int(rng.integers(1, len(p)))
        options = SUBSTITUTES.get(p[k])
        if options:
            p[k] = options[int(rng.integers(len(options)))]
    return p


def _set_energy(bars: list[Bar], sections: list[Section], brief: Brief, seconds: float) -> None:
    """Energy per bar: the brief's curve scaled by its intensity, contrast per section."""
    curve = _curve(brief.curve, [h / seconds for h in brief.hits_s])
    scale = 0.35 + 0.75 * brief.intensity
    for s in sections:
        lift = {"B": 0.08, "C": 0.12}.get(s.material, 0.0) + (0.05 if s.name == "A''" else 0.0)
        for b in bars[s.first : s.first + s.count]:
            e = curve((b.start_s + b.end_s) / 2 / seconds) * scale + lift
            if s.name == "intro":
                e *= 0.6
            if b.hit:
                e = max(e, 0.85 * scale)
            b.energy = float(np.clip(e, 0.08, 1.0))
            b.section = s.name
    if len(bars) >= 2:
        bars[-1].energy = bars[-2].energy


def _harmonise(
    bars: list[Bar],
    sections: list[Section],
    brief: Brief,
    genre: dict[str, Any],
    *,
    tonic: int,
    dark: bool,
    rng: np.random.Generator,
) -> int:
    """Chords for every bar: a progression per material, cadences into returns, hits and the
    ending, secondary dominants where the genre uses them. Returns the modulation (semitones
    the last A section and the ending move up)."""
    progressions = [p.split() for p in genre["minor" if dark else "major"]]
    order = [int(i) for i in rng.permutation(len(progressions))]
    prog = {
        m: vary_progression(progressions[order[i % len(order)]], rng, rotate=m != "A")
        for i, m in enumerate(("A", "B", "C"))
    }
    prog["intro"] = prog["A"]
    cpb = float(genre.get("chords_per_bar", 1))
    span = max(1, round(1 / cpb))  # bars per chord
    body = [s for s in sections if s.name not in ("intro", "ending")]
    modulation = 0
    if (
        len(bars) >= 24
        and (brief.curve in ("rises", "swells") or brief.mood == "triumphant")
        and len(body) >= 3
        and body[-1].material == "A"
    ):
        modulation = 2
    for s in sections:
        p = prog.get(s.material, prog["A"])
        lifted = modulation and (s is body[-1] or s.name == "ending")
        for i, b in enumerate(bars[s.first : s.first + s.count]):
            b.tonic = (tonic + (modulation if lifted else 0)) % 12
            if cpb >= 2 and b.beats >= 4:  # two chords a bar
                half = b.beats / 2
                b.chords = [(0.0, half, p[(2 * i) % len(p)]), (half, half, p[(2 * i + 1) % len(p)])]
            else:
                b.chords = [(0.0, float(b.beats), p[(i // span) % len(p)])]
    bars[-1].chords = [(0.0, float(bars[-1].beats), "i" if dark else "I")]
    dominant = "V7" if brief.genre in ("jazz", "lofi") else "V"
    for s, nxt in pairwise(sections):
        last = bars[s.first + s.count - 1]
        if not (s.count >= 2 or nxt.name == "ending") or not (
            nxt.name == "ending" or nxt.material == "A" or bars[nxt.first].hit
        ):
            continue
        half = last.beats / 2
        if brief.genre == "jazz" and last.beats >= 4:
            last.chords = [(0.0, half, "ii7"), (half, half, "V7")]
        elif s.count == 1 and last.beats >= 4:  # a one-bar section keeps its own chord too
            last.chords = [(0.0, half, last.chords[0][2]), (half, half, dominant)]
        else:
            last.chords = [(0.0, float(last.beats), dominant)]
        last.tonic = bars[nxt.first].tonic  # a modulation pivots on the new key's V
    if genre.get("secondary_dominants"):
        targets = {"ii", "iii", "iv", "v", "vi", "bvi", "biii"}
        for s in sections:
            if s.name in ("intro", "ending", "A"):
                continue
            for b, nb in pairwise(bars[s.first : s.first + s.count]):
                target = nb.chords[0][2]
                if (
                    b.beats >= 4
                    and len(b.chords) == 1
                    and target.lower().rstrip("7") in targets
                    and target.lower() != b.chords[0][2].lower()
                    and nb.tonic == b.tonic
                    and rng.random() < 0.5
                ):
                    half = b.beats / 2
                    b.chords = [
                        (0.0, half, b.chords[0][2]),
                        (half, half, f"V7/{target.rstrip('7')}"),
                    ]
    return modulation


def _motif(rng: np.random.Generator) -> list[tuple[float, float, int]]:
    """Two bars of (beat, beats, scale step): two rhythms, mostly steps, the odd leap."""
    motif: list[tuple[float, float, int]] = []
    step = 0
    for bar in range(2):
        beat = 0.0
        for dur in RHYTHMS[int(rng.integers(len(RHYTHMS)))]:
            motif.append((bar * 4 + beat, dur, step))
            move = int(rng.choice([-1, -1, 1, 1, 2, -2, 1, -1, 3, -3, 4]))
            step = int(np.clip(step + move, -3, 7))
            beat += dur
    return motif


def theme_motif(theme: str, seed: int) -> list[tuple[float, float, int]]:
    """The motif of a recurring theme: drawn from the theme's name and the programme's
    seed, so every cue with that theme states it (in its own key, mode, harmony, tempo
    and instruments, varied by section like any motif)."""
    digest = hashlib.sha256(f"{theme}:{seed}".encode()).digest()
    return _motif(np.random.default_rng(int.from_bytes(digest[:8], "big")))


def _choose_variations(sections: list[Section], rng: np.random.Generator) -> None:
    """How each two-bar statement of the motif is varied, by section."""
    openings = {"A": ["statement", "sequence"], "B": ["inversion", "rhythm"]}
    openings["C"] = ["diminution", "retrograde"]
    for s in sections:
        if s.name in ("intro", "ending"):
            continue
        statements = max(1, math.ceil(s.count / 2))
        if s.name == "A" or s.material in ("B", "C"):
            first = openings[s.material]
        else:
            first = [VARIATIONS[int(rng.integers(len(VARIATIONS)))], "statement"]
        rest = [VARIATIONS[int(rng.integers(len(VARIATIONS)))] for _ in range(statements)]
        s.variations = tuple((first + rest)[:statements])


def make_plan(
    brief: Brief, seconds: float, rng: np.random.Generator, vocab: dict[str, Any]
) -> Plan:
    """Tempo map, form, energy per bar, harmony and motif of a cue."""
    genre = vocab["genres"][brief.genre]
    lo, hi = brief.tempo_range
    target_bpm = brief.tempo_bpm
    if hi > lo:  # a seed moves the tempo a little within the range
        target_bpm = float(np.clip(target_bpm + rng.uniform(-0.12, 0.12) * (hi - lo), lo, hi))
    bars, tempo_error, off_grid = make_grid(
        seconds, hits_s=brief.hits_s, target_bpm=target_bpm, tempo_range=brief.tempo_range
    )
    mode = brief.mode if brief.mode in SCALES else "major"
    tonic = pitch_class(brief.key)
    phrase = 8 if len(bars) >= 24 and bars[0].bpm >= 100 else 4
    quiet_start = brief.curve != "falls" and brief.entry != "matched"
    sections = _form(bars, phrase=phrase, quiet_start=quiet_start)
    _set_energy(bars, sections, brief, seconds)
    modulation = _harmonise(
        bars, sections, brief, genre, tonic=tonic, dark=mode in DARK_MODES, rng=rng
    )
    motif = _motif(rng)
    if brief.theme:  # a recurring theme: the same motif in every cue that states it
        motif = theme_motif(brief.theme, brief.theme_seed)
    _choose_variations(sections, rng)
    return Plan(
        seconds=seconds,
        bars=bars,
        sections=sections,
        tonic=tonic,
        mode=mode,
        tempo_error_bpm=tempo_error,
        off_grid_hits_s=off_grid,
        swing=float(genre.get("groove", {}).get("swing", 0.5)),
        motif=motif,
        modulation=modulation,
    )
