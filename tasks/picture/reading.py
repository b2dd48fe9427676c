"""Score from the picture: read a video's cuts, scenes, energy and hit points.

`read_picture` decodes the video once (`tasks.picture.frames`), finds its shot boundaries
(`tasks.picture.shots`), groups the shots into musical scenes and reads each one's energy and hit
points (`tasks.picture.spotting`). `scenes_from` makes shot-list scenes of them (`scoreflow score`
without ``--shots``); `suggest` fills what a given shot list leaves empty;
`tasks.interchange.cutlist`
writes them for the editor (`scoreflow cuts`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scoreflow.config.settings import PictureSettings, Settings
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.picture import frames as fr
from scoreflow.tasks.picture import shots as sh
from scoreflow.tasks.picture import spotting as sp
from scoreflow.tasks.timeline.model import MediaInfo, Scene
from scoreflow.tasks.timeline.timecode import parse_timecode


@dataclass
class Reading:
    """What the picture says: the source, its transitions and shots, the scenes (spots),
    the frame and sound figures they were read from, and how long reading took."""

    source: fr.Source
    detector: str
    transitions: list[sh.Transition]
    shots: list[sp.ShotInfo]
    spots: list[sp.Spot]
    features: fr.Features
    sound: fr.Sound | None
    seconds: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """For the manifest and `explain`: everything but the per-frame figures."""
        return {
            "video": self.source.path,
            "rate": str(self.source.rate),
            "frames": self.source.frames,
            "note": self.source.note(),
            "detector": self.detector,
            "transitions": [t.to_dict() for t in self.transitions],
            "shots": [[s.start, s.end] for s in self.shots],
            "scenes": [s.to_dict() for s in self.spots],
            "dialogue_s": [
                [round(a, 2), round(b, 2)] for a, b in (self.sound.speech if self.sound else [])
            ],
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def summary(reading: Reading) -> str:
    """One line for the log: shots, transitions by kind, scenes, hits, speed."""
    kinds: dict[str, int] = {}
    for t in reading.transitions:
        kinds[t.kind] = kinds.get(t.kind, 0) + 1
    made = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(kinds.items()))
    hits = sum(len(s.hits) for s in reading.spots)
    speed = reading.source.duration_s / max(reading.seconds.get("total", 0.0), 1e-9)
    note = f"; {reading.source.note()}" if reading.source.note() else ""
    return (
        f"{len(reading.shots)} shots ({reading.detector}: {made or 'no transitions'}), "
        f"{len(reading.spots)} scenes, {hits} hit points; read at {speed:.1f}x real time{note}"
    )


def choose_detector(name: str) -> str:
    """``auto``: TransNetV2 where it is installed and a CUDA device is there (on a CPU it
    reads about 30 frames a second), else the content detector."""
    if name not in sh.DETECTORS:
        raise InputError("unknown shot detector", field="picture.detector", value=name,
                         fix=f"Use one of {', '.join(sh.DETECTORS)}")  # fmt: skip
    if name != "auto":
        return name
    if sh.transnetv2_available():
        import torch

        if torch.cuda.is_available():
            return "transnetv2"
    return "content"


def read_picture(
    video: str | Path, *, settings: PictureSettings, mapping: dict[str, Any],
    speech_margin_db: float = 6.0,
) -> Reading:  # fmt: skip
    """Read `video`'s picture and sound into scenes.

    Parameters
    ----------
    settings : PictureSettings
        ``[picture]`` of the config (detector, thresholds, cue lengths, hit rules).
    mapping : dict
        ``[picture]`` of config/styles.toml: figures to intensity, curve and mood.
    """
    started = time.perf_counter()
    source = fr.open_source(video)
    detector = choose_detector(settings.detector)
    features = fr.FeatureReader()
    net = None
    if detector == "transnetv2":
        import torch

        net = sh.TransNetV2Reader(
            sh.load_transnetv2("cuda" if torch.cuda.is_available() else "cpu")
        )
    for chunk in fr.decode_frames(source):
        features.feed(chunk)
        if net is not None:
            net.feed(chunk)
    f = features.result()
    rate = float(source.rate)
    decoded = time.perf_counter()
    if net is not None:
        single, many = net.result()
        transitions = sh.transnetv2_transitions(single, many, f, rate=rate,
                                                threshold=settings.threshold,
                                                min_shot_s=settings.min_shot_s)  # fmt: skip
    else:
        transitions = sh.content_transitions(f, rate=rate, min_shot_s=settings.min_shot_s,
                                             min_content=settings.min_content)  # fmt: skip
    sound = fr.read_sound(source, speech_margin_db=speech_margin_db)
    heard = time.perf_counter()
    spans = sh.shots_from(transitions, f.frames)
    shots = sp.describe_shots(spans, transitions, f, sound, rate=rate)
    spots = sp.group_shots(shots, sound, rate=rate, settings=settings)
    for spot in spots:
        sp.read_energy(spot, f, sound, transitions, rate=rate, mapping=mapping)
        sp.propose_hits(spot, f, sound, transitions, shots, rate=rate, settings=settings)
    done = time.perf_counter()
    seconds = {"picture": decoded - started, "sound": heard - decoded, "spotting": done - heard,
               "total": done - started}  # fmt: skip
    return Reading(source, detector, transitions, shots, spots, f, sound, seconds)


def read_with(video: str | Path, cfg: Settings) -> Reading:
    """`read_picture` with a run's whole config: its ``[picture]``, its styles' mapping and
    its dialogue margin."""
    from scoreflow import config

    return read_picture(
        video,
        settings=cfg.picture,
        mapping=config.styles(cfg.composer.styles)["picture"],
        speech_margin_db=cfg.mix.speech_margin_db,
    )


def scenes_from(
    reading: Reading, *, origin: str, tc_start: int = 0, drop_frame: bool = False, genre: str = ""
) -> list[Scene]:
    """The scenes read from the picture as shot-list scenes (ids 1, 2, ...)."""
    return [
        Scene(
            id=str(k),
            start_frame=s.start,
            end_frame=s.end,
            rate=reading.source.rate,
            description=s.description,
            genre=genre or None,
            mood=s.mood,
            intensity=s.intensity,
            curve=s.curve,
            hits=tuple(s.hits),
            drop_frame=drop_frame,
            origin=f"{origin} (picture, scene {k})",
            tc_start=tc_start,
        )
        for k, s in enumerate(reading.spots, start=1)
    ]


def scenes_for(
    reading: Reading, info: MediaInfo, *, start_tc: str | None = None, genre: str = ""
) -> list[Scene]:
    """`scenes_from` with the programme's timecode: `start_tc`, else the video's own
    (drop-frame where it is written with ``;``), else zero; each scene at least one frame."""
    given = start_tc or info.start_tc
    drop = bool(given and ";" in given)
    tc0 = parse_timecode(given, info.rate, drop_frame=drop or None) if given else 0
    if reading.source.rate != info.rate:
        raise InputError(
            f"the picture was read at {reading.source.rate} fps, the video runs at {info.rate}",
            source=info.path,
        )
    scenes = scenes_from(reading, origin=Path(info.path).name, tc_start=tc0, drop_frame=drop,
                         genre=genre)  # fmt: skip
    last = min(info.frames, reading.features.frames) if scenes else 0
    if scenes and scenes[-1].end_frame != last:
        scenes[-1] = replace(scenes[-1], end_frame=max(scenes[-1].start_frame + 1, last))
    return scenes


def suggest(
    scenes: list[Scene], reading: Reading, *, settings: PictureSettings,
    mapping: dict[str, Any], vocab: dict[str, Any],
) -> tuple[list[Scene], dict[str, list[str]]]:  # fmt: skip
    """Fill, from the picture, what each music scene of a shot list leaves empty: its
    intensity (no intensity column, no mood in its column or words), curve (no column, no
    energy words) and hit points (no column, no hits in its words). Nothing the user wrote
    is replaced. Returns the scenes and, per scene id, what was filled."""
    from scoreflow.tasks.music import brief

    rate = float(reading.source.rate)
    out, filled = [], {}
    for scene in scenes:
        if not scene.music or scene.end_frame > reading.features.frames + 1:
            out.append(scene)
            continue
        spot = sp.Spot(scene.start_frame, min(scene.end_frame, reading.features.frames),
                       [i for i, s in enumerate(reading.shots)
                        if s.start < scene.end_frame and s.end > scene.start_frame])  # fmt: skip
        sp.read_energy(spot, reading.features, reading.sound, reading.transitions, rate=rate,
                       mapping=mapping)  # fmt: skip
        sp.propose_hits(spot, reading.features, reading.sound, reading.transitions,
                        reading.shots, rate=rate, settings=settings)  # fmt: skip
        words = brief.read_words(scene.description, vocab)
        changes: dict[str, Any] = {}
        notes = []
        if (
            scene.intensity is None
            and not scene.mood
            and not any(not neg for _, neg, _ in words["moods"])
        ):
            changes["intensity"] = spot.intensity
            notes.append(f"intensity {spot.intensity:.2f} from the picture ({_figures(spot)})")
        if (
            scene.curve is None
            and brief.curve_words(scene.description, vocab) is None
            and spot.curve != "steady"
        ):
            changes["curve"] = spot.curve
            notes.append(f"curve {spot.curve} from the picture's motion")
        if not scene.hits and not brief.text_hits(scene)[0] and spot.hits:
            changes["hits"] = tuple(spot.hits)
            notes += [f"hit {w}" for w in spot.hit_why]
        if changes:
            filled[scene.id] = notes
        out.append(replace(scene, **changes))
    return out, filled


def _figures(spot: sp.Spot) -> str:
    f = spot.figures
    return f"{f['cuts_per_min']:.0f} cuts/min, motion {f['motion']:.1f}"
