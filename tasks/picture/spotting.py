"""Spotting from the picture: shots grouped into musical scenes, each scene's energy, mood
and hit points, the way a music editor spots a film.

- **Scenes**: consecutive shots join while the picture or the sound carries on: a shot
  whose colours match one of the scene's last four shots, or that the cutting comes back
  from within two shots (shot/reverse shot: A B A B), or whose sound continues (the same
  ambience, dialogue running across the cut), joins; a change of look *and* sound starts
  a new scene. No scene runs past ``max_cue_s``; one
  shorter than ``min_cue_s`` joins the neighbour it looks most like.
- **Energy**: cutting rate, motion, contrast and the original audio's loudness, mapped
  through ``[picture]`` of config/styles.toml to an intensity (lowered under talk-heavy
  scenes); the motion over the scene to a curve; brightness and colour temperature to words.
- **Hits**: a hard cut after a long shot, a flash, a sudden peak of motion; ranked, at most
  ``hits_per_minute``, never inside dialogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d

from scoreflow.config.settings import PictureSettings
from scoreflow.tasks.picture.frames import Features, Sound, hist_distance
from scoreflow.tasks.picture.shots import Transition

RECENT_SHOTS = 4  # a shot may match any of the scene's last four (shot/reverse-shot)


@dataclass(frozen=True)
class ShotInfo:
    """One shot, ``[start, end)`` frames, and what it looks and sounds like."""

    start: int
    end: int
    into: str  # the transition into it ("" for the first shot)
    look: np.ndarray  # shape (64,), its mean colour histogram
    sound: np.ndarray | None  # shape (24,), its mean mel band levels, dB; None: no audio
    level_db: float  # its sound's mean level, dBFS (-120: no audio)


@dataclass
class Spot:
    """A musical scene read from the picture: its shots, why they are one, what it is like."""

    start: int
    end: int
    shots: list[int]
    why: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    intensity: float = 0.5
    curve: str = "steady"
    mood: str = "neutral"
    words: list[str] = field(default_factory=list)
    hits: list[int] = field(default_factory=list)  # frames of the video
    hit_why: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        """The scene in words the brief reader knows (config/styles.toml)."""
        pace = self.figures.get("cuts_per_min", 0.0)
        cutting = "fast cutting" if pace >= 20 else "slow cutting" if pace < 6 else "steady cutting"
        motion = self.figures.get("motion", 0.0)
        moving = "high motion" if motion >= 8 else "little motion" if motion < 2 else "some motion"
        curve = {"rises": ", builds", "falls": ", winds down", "swells": ", swells"}.get(
            self.curve, ""
        )
        words = " ".join([*self.words, self.mood])
        return f"{words} scene: {cutting}, {moving}{curve}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_frame": self.start, "end_frame": self.end, "shots": self.shots,
            "why": self.why, "figures": {k: round(v, 3) for k, v in self.figures.items()},
            "intensity": self.intensity, "curve": self.curve, "mood": self.mood,
            "description": self.description, "hits": self.hits, "hit_why": self.hit_why,
        }  # fmt: skip


def describe_shots(
    spans: list[tuple[int, int]], transitions: list[Transition], f: Features,
    sound: Sound | None, *, rate: float,
) -> list[ShotInfo]:  # fmt: skip
    """Each shot's look (mean colour histogram) and sound (mean band levels)."""
    into = {t.frame: t.kind for t in transitions}
    out = []
    for a, b in spans:
        snd, level = None, -120.0
        if sound is not None:
            part = sound.span(a / rate, b / rate)
            if sound.bands_db[part].size:
                snd = sound.bands_db[part].mean(axis=0)
                level = sound.level_over(a / rate, b / rate)
        out.append(ShotInfo(a, b, into.get(a, ""), f.hist[a:b].mean(axis=0), snd, level))
    return out


def _tc(frame: int, rate: float) -> str:
    s = frame / rate
    return f"{int(s // 60):02d}:{s % 60:05.2f}"


def _joins(
    spot: Spot, shot: ShotInfo, index: int, shots: list[ShotInfo], sound: Sound | None, *,
    rate: float, settings: PictureSettings,
) -> tuple[bool, str]:  # fmt: skip
    """Whether `shot` joins `spot`, and why (a new scene's first reason when not).
    Dialogue running across the cut, a look like one of the scene's recent shots, or a
    sound that carries on join; so does a shot the cutting comes back from within two
    shots (a reverse shot), if it came in on a cut and its sound does not change."""
    at = _tc(shot.start, rate)
    if (shot.end - spot.start) / rate > settings.max_cue_s:
        return False, f"starts at {at} (shot {index + 1}): the scene before reached max_cue_s"
    if sound is not None and sound.speech_across(
        shot.start / rate, margin_s=settings.dialogue_across_s
    ):
        return True, f"shot {index + 1}: the dialogue runs across the cut at {at}"
    recent = spot.shots[-RECENT_SHOTS:]
    looks = [float(hist_distance(shot.look, shots[m].look)) for m in recent]
    if min(looks) <= settings.look_threshold:
        nearest = recent[int(np.argmin(looks))]
        return True, f"shot {index + 1} looks like shot {nearest + 1} ({min(looks):.2f})"
    before = shots[index - 1]
    change = _sound_change(before, shot, silent_db=settings.silent_db)
    if change is not None and change <= settings.sound_threshold_db:
        return True, f"shot {index + 1}: the sound carries on ({change:.1f} dB apart)"
    if shot.into == "cut" and change is None:  # no fade or dissolve, no new sound
        for ahead in range(index + 1, min(index + 3, len(shots))):  # A B A: B belongs
            back = min(float(hist_distance(shots[ahead].look, shots[m].look)) for m in recent)
            if (
                back <= settings.look_threshold
                and (shots[ahead].end - spot.start) / rate <= settings.max_cue_s
            ):
                return True, (
                    f"shot {index + 1}: the cutting returns to the scene's look at shot "
                    f"{ahead + 1} (shot/reverse shot)"
                )
    look = float(hist_distance(shot.look, before.look))
    heard = "no sound to go by" if change is None else f"new sound ({change:.1f} dB apart)"
    return False, (
        f"starts at {at} (shot {index + 1}, after a {shot.into}): new look ({look:.2f}), {heard}"
    )


def _sound_change(a: ShotInfo, b: ShotInfo, *, silent_db: float) -> float | None:
    """How far two shots' sounds lie apart: the mean dB difference over the bands either
    fills (within 50 dB of the louder's loudest band); None where there is nothing to hear
    in both (then the look alone decides)."""
    if a.sound is None or b.sound is None or max(a.level_db, b.level_db) < silent_db:
        return None
    x, y = np.maximum(a.sound, -100.0), np.maximum(b.sound, -100.0)
    heard = np.maximum(x, y) > max(x.max(), y.max()) - 50.0  # bands either of them fills
    return float(np.abs(x - y)[heard].mean())


def group_shots(
    shots: list[ShotInfo], sound: Sound | None, *, rate: float, settings: PictureSettings
) -> list[Spot]:
    """Shots into scenes (see the module's summary), each with the reasons it was made."""
    if not shots:
        return []
    spots = [Spot(shots[0].start, shots[0].end, [0], ["starts the programme"])]
    for i, shot in enumerate(shots[1:], start=1):
        spot = spots[-1]
        joins, why = _joins(spot, shot, i, shots, sound, rate=rate, settings=settings)
        if joins:
            spot.end, spot.why = shot.end, [*spot.why, why]
            spot.shots.append(i)
        else:
            spots.append(Spot(shot.start, shot.end, [i], [why]))
    return _merge_short(spots, shots, rate=rate, min_cue_s=settings.min_cue_s)


def _merge_short(
    spots: list[Spot], shots: list[ShotInfo], *, rate: float, min_cue_s: float
) -> list[Spot]:
    """Scenes shorter than `min_cue_s` join the neighbour whose last/first shot they look
    most like (repeatedly, shortest first)."""
    while len(spots) > 1:
        short = [k for k, s in enumerate(spots) if (s.end - s.start) / rate < min_cue_s]
        if not short:
            break
        k = min(short, key=lambda k: spots[k].end - spots[k].start)
        s = spots[k]
        options = [j for j in (k - 1, k + 1) if 0 <= j < len(spots)]
        j = min(options, key=lambda j: _edge_distance(spots, shots, k, j))
        a, b = (spots[j], s) if j < k else (s, spots[j])
        note = (
            f"{(s.end - s.start) / rate:.1f} s scene at {_tc(s.start, rate)} joined (< min_cue_s)"
        )
        merged = Spot(a.start, b.end, a.shots + b.shots, [*a.why, note, *b.why[1:]])
        spots[min(j, k)] = merged
        del spots[max(j, k)]
    return spots


def _edge_distance(spots: list[Spot], shots: list[ShotInfo], k: int, j: int) -> float:
    """How unlike scene `k`'s edge shot is the facing edge shot of its neighbour `j`."""
    mine = shots[spots[k].shots[0] if j < k else spots[k].shots[-1]].look
    theirs = shots[spots[j].shots[-1] if j < k else spots[j].shots[0]].look
    return float(hist_distance(mine, theirs))


def _norm(value: float, span: list[float]) -> float:
    lo, hi = float(span[0]), float(span[1])
    return float(np.clip((value - lo) / max(hi - lo, 1e-9), 0.0, 1.0))


def read_energy(
    spot: Spot, f: Features, sound: Sound | None, transitions: list[Transition], *,
    rate: float, mapping: dict[str, Any],
) -> None:  # fmt: skip
    """Fill `spot`'s figures, intensity, curve, mood and words (``[picture]`` of styles)."""
    a, b = spot.start, spot.end
    dur = (b - a) / rate
    steady = np.ones(b - a, bool)
    for t in transitions:
        steady[max(0, t.start - a) : max(0, min(b, t.end + 1) - a)] = False
    sl = slice(a, b)
    motion = f.motion[sl][steady] if steady.any() else f.motion[sl]
    figures = {
        "duration_s": dur,
        "cuts_per_min": (len(spot.shots) - 1) / dur * 60.0,
        "motion": float(np.mean(motion)) if motion.size else 0.0,
        "brightness": float(f.luma[sl].mean() / 255.0),
        "contrast": float(f.contrast[sl].mean() / 255.0),
        "saturation": float(f.saturation[sl].mean()),
        "warmth": float(f.warmth[sl].mean()),
    }
    if sound is not None:
        figures["loudness_db"] = sound.level_over(a / rate, b / rate)
        figures["dialogue"] = sound.speech_share(a / rate, b / rate)
    spot.figures = figures
    w = mapping["weights"]
    raw = (
        w["cutting"] * _norm(figures["cuts_per_min"], mapping["cuts_per_min"])
        + w["motion"] * _norm(figures["motion"], mapping["motion"])
        + w["contrast"] * _norm(figures["contrast"], mapping["contrast"])
        + w["loudness"] * _norm(figures.get("loudness_db", -60.0), mapping["loudness_db"])
    ) / max(sum(float(v) for v in w.values()), 1e-9)
    lo, hi = (float(x) for x in mapping["intensity"])
    intensity = lo + (hi - lo) * raw
    intensity *= 1.0 - float(mapping["dialogue_drop"]) * figures.get("dialogue", 0.0)
    spot.intensity = round(float(np.clip(intensity, 0.0, 1.0)), 2)
    spot.curve = _curve(f.motion[sl], steady, rate=rate, mapping=mapping)
    spot.words = _words(figures, mapping)
    spot.mood = _mood(spot.intensity, figures, mapping)


def _curve(motion: np.ndarray, steady: np.ndarray, *, rate: float, mapping: dict[str, Any]) -> str:
    """rises / falls / swells / steady from the motion's thirds (transitions left out)."""
    m = np.where(steady, motion, np.nan)
    if m.size < 6 * rate or np.isnan(m).all():
        return "steady"
    thirds = [float(np.nanmean(part)) if not np.isnan(part).all() else 0.0
              for part in np.array_split(m, 3)]  # fmt: skip
    first, mid, last = thirds
    scale = max(float(np.nanmean(m)), float(mapping["motion"][0]), 1e-6)
    change = float(mapping["curve_change"])
    if last - first > change * scale and last >= mid >= first - 0.25 * scale:
        return "rises"
    if first - last > change * scale and first >= mid >= last - 0.25 * scale:
        return "falls"
    if mid - max(first, last) > change * scale:
        return "swells"
    return "steady"


def _words(figures: dict[str, float], mapping: dict[str, Any]) -> list[str]:
    words = []
    if figures["brightness"] < mapping["dark_below"]:
        words.append("dark")
    elif figures["brightness"] > mapping["bright_above"]:
        words.append("bright")
    if figures["warmth"] > mapping["warm_above"]:
        words.append("warm")
    elif figures["warmth"] < -float(mapping["warm_above"]):
        words.append("cold")
    return words


def _mood(intensity: float, figures: dict[str, float], mapping: dict[str, Any]) -> str:
    """The styles' mood for the scene's energy and light: dark/bright x calm/intense."""
    dark = figures["brightness"] < mapping["dark_below"]
    bright = figures["brightness"] > mapping["bright_above"]
    moods = mapping["moods"]
    if intensity >= mapping["intense_above"]:
        return str(
            moods["intense_dark"]
            if dark
            else moods["intense_bright"]
            if bright
            else moods["intense"]
        )
    if intensity <= mapping["calm_below"]:
        return str(moods["calm_dark"] if dark else moods["calm"])
    return str(moods["middle"])


def propose_hits(
    spot: Spot, f: Features, sound: Sound | None, transitions: list[Transition],
    shots: list[ShotInfo], *, rate: float, settings: PictureSettings,
) -> None:  # fmt: skip
    """Fill `spot.hits` (frames) and `spot.hit_why`: the strongest visual events inside
    it, at most ``hits_per_minute`` (at least one where there is any), ``hit_gap_s``
    apart, none within ``edge_s`` of its ends or inside dialogue."""
    candidates = _cut_hits(spot, shots, rate=rate, long_shot_s=settings.long_shot_s)
    candidates += _flash_hits(f, spot, flash_luma=settings.flash_luma)
    candidates += _motion_hits(f, spot, transitions, rate=rate, ratio=settings.motion_ratio)
    edge = round(settings.edge_s * rate)
    most = max(1, int(settings.hits_per_minute * (spot.end - spot.start) / rate / 60.0))
    gap = settings.hit_gap_s * rate
    chosen: list[tuple[int, float, str]] = []
    for frame, strength, why in sorted(candidates, key=lambda c: (-c[1], c[0])):
        if not spot.start + edge <= frame < spot.end - edge:
            continue
        if sound is not None and sound.in_speech(frame / rate, margin_s=settings.speech_margin_s):
            continue
        if any(abs(frame - c[0]) < gap for c in chosen) or len(chosen) >= most:
            continue
        chosen.append((frame, strength, why))
    chosen.sort()
    spot.hits = [c[0] for c in chosen]
    spot.hit_why = [f"{_tc(c[0], rate)} {c[2]} (strength {c[1]:.2f})" for c in chosen]


def _cut_hits(spot: Spot, shots: list[ShotInfo], *, rate: float, long_shot_s: float) -> list[Any]:
    out = []
    for k in spot.shots[1:]:
        before = shots[k - 1]
        held = (before.end - before.start) / rate
        if shots[k].into == "cut" and held >= long_shot_s:
            strength = 0.6 + 0.4 * min(1.0, held / long_shot_s - 1.0)  # 0.6 .. 1 at twice
            out.append((shots[k].start, strength, f"hard cut after a {held:.1f} s shot"))
    return out


def _flash_hits(f: Features, spot: Spot, *, flash_luma: float) -> list[Any]:
    """Frames much brighter than the frames before, the picture returning after to what
    it was (within 3 frames: a bright first frame of a new shot is no flash)."""
    y = f.luma
    out = []
    for i in range(max(spot.start, 6), min(spot.end, y.size - 4)):
        base = float(np.median(y[i - 6 : i - 1]))
        jump = float(y[i]) - base
        if jump < flash_luma or float(y[i + 3]) - base >= 0.5 * jump:
            continue
        if float(hist_distance(f.hist[i + 3], f.hist[i - 1])) < 0.3:
            out.append((i, min(1.0, jump / 128.0), f"flash (+{jump:.0f} brightness)"))
    return out


def _motion_hits(
    f: Features, spot: Spot, transitions: list[Transition], *, rate: float, ratio: float
) -> list[Any]:
    """Sudden motion: local maxima (over half a second either side) standing `ratio` times
    above the median motion of the 2 s around them; transition frames are left out."""
    a, b = spot.start, spot.end
    m = uniform_filter1d(f.motion[a:b].astype(np.float64), 3)
    for t in transitions:
        m[max(0, t.start - a - 2) : max(0, min(b, t.end + 2) - a)] = 0.0
    around = np.maximum(median_filter(m, size=2 * round(rate) + 1, mode="nearest"), 0.5)
    half = max(1, round(rate / 2))
    out = []
    for i in np.flatnonzero(m >= ratio * around):
        lo, hi = max(0, i - half), min(m.size, i + half + 1)
        if m[i] == m[lo:hi].max():
            x = m[i] / around[i]
            strength = min(0.7, 0.35 * x / ratio)  # weaker evidence than a flash or a cut
            out.append((a + int(i), strength, f"motion peak (x{x:.1f} the 2 s around)"))
    return out
