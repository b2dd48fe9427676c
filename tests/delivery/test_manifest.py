"""The manifest built from typed records: the keys, in order, and the values a real run's
manifest has (the tables here were read off a run of examples/), and QC's verdict."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from scoreflow import config
from scoreflow.tasks.audio import spool
from scoreflow.tasks.delivery import manifest as m
from scoreflow.tasks.interchange.fcp import CueClip
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.timeline.model import Cue, MediaInfo, Scene

# the keys of a real run's manifest, in its order (`write_manifest` adds scoreflow and
# created before them, outputs after)
TOP = ["run_id", "location", "inputs", "picture", "settings", "programme", "loudness",
       "dialogue", "qc", "workers", "quality", "revision", "mux", "scenes"]  # fmt: skip
SCENE = ["id", "origin", "description", "tc_in", "tc_out", "start_frame", "end_frame", "rate",
         "music", "transition", "transition_s", "samples"]  # fmt: skip
CUE = ["scene_id", "backend", "model", "prompt", "seed", "licence", "bpm", "key", "samples",
       "sample_rate", "metrics", "cached", "files", "crossfade_in_s", "quality"]  # fmt: skip
TAKE = ["take", "seed", "cached", "overall", "scores", "failures", "chosen", "files"]
PROBE = ["path", "duration_s", "rate", "frames", "width", "height", "video_codec", "container",
         "audio_streams", "audio_sample_rate", "audio_channels", "start_tc"]  # fmt: skip
LOUDNESS = ["preset", "target_lufs", "true_peak_ceiling_dbtp", "gate", "before_lufs",
            "before_true_peak_dbtp", "after_lufs", "after_true_peak_dbtp"]  # fmt: skip
MEASURED = {"gate": "programme", "before_lufs": -30.0, "before_true_peak_dbtp": -9.0,
            "after_lufs": -23.0, "after_true_peak_dbtp": -3.0}  # fmt: skip
SR = 48000
RATE = Fraction(25)
TC_START = 90000  # 01:00:00:00 at 25 fps

# scenes 1 and 2 touch on a cut; 3 has no music; 4 fades in after it
SCENES = [
    Scene("1", 0, 75, RATE, description="calm piano", origin="shots.csv:2", tc_start=TC_START),
    Scene("2", 75, 150, RATE, description="tense rock", origin="shots.csv:3", tc_start=TC_START),
    Scene("3", 150, 200, RATE, music=False, origin="shots.csv:4", tc_start=TC_START),
    Scene("4", 200, 250, RATE, description="warm folk", transition="fade", transition_s=1.0,
          origin="shots.csv:5", tc_start=TC_START),
]  # fmt: skip
QUALITY = {
    "1": {"overall": 0.9, "scores": {"fit": 0.9}, "failures": [],
          "adherence": {"tempo_bpm": 120.0, "key": "D minor"}},
    "2": {"overall": 0.7, "scores": {"fit": 0.7}, "failures": ["tempo off"],
          "adherence": {"tempo_bpm": 60.0, "key": "F major"}},
    "4": {"overall": 0.8, "scores": {"fit": 0.8}, "failures": [],
          "adherence": {"tempo_bpm": 90.0, "key": "G major"}},
}  # fmt: skip
PRESET = {"name": "ebu-r128", "target_lufs": -23.0, "true_peak_dbtp": -1.0}


def info() -> MediaInfo:
    return MediaInfo("/in/cut.mp4", 10.0, RATE, 250, 64, 36, "h264", "mp4", 1, SR, 2)


def scene_entry(scene: Scene, folder: Path, *, takes: int = 1) -> m.SceneEntry:
    if not scene.music:
        return m.SceneEntry(scene, SR)
    audio = np.full((2, 4800), 0.1, np.float32)
    cue = Cue(scene.id, audio, SR, "composer", "test", "a prompt", 7, "Apache-2.0", bpm=120.0)
    held = spool.spool(cue, folder, lufs=-20.0)
    brief = make_brief(scene, vocab=config.styles())
    files = {"wav": f"cues/{scene.id}.wav"}
    clip = CueClip(scene.id, scene.id, folder / files["wav"], scene.start_frame, scene.frames, 12)
    report = {"quality": QUALITY[scene.id]}
    entries = [
        m.TakeEntry(k, 7 + k, False, report, k == 2, {"wav": f"takes/{scene.id}-{k}.wav"})
        for k in range(1, takes + 1)
    ]
    cue_entry = m.CueEntry(held, brief, clip, True, files, QUALITY[scene.id],
                           entries if takes > 1 else None)  # fmt: skip
    return m.SceneEntry(scene, SR, cue_entry)


def record(folder: Path, *, takes: int = 1, qc: dict | None = None) -> m.ManifestRecord:
    video = m.Source("s3://in/cut.mp4", '"etag1"', "ab" * 32)
    return m.ManifestRecord(
        run_id="20260101T000000Z-0000abcd",
        location="/out",
        inputs=m.ManifestInputs(video, info(), m.Source("shots.csv", None, "cd" * 32)),
        picture=None,
        settings={"pipeline": {"sample_rate": SR}},
        scenes=[scene_entry(s, folder, takes=takes) for s in SCENES],
        loudness=m.Loudness(PRESET, MEASURED),
        dialogue_s=[(1.23456, 2.0004), (5.0, 6.5)],
        qc=qc if qc is not None else {},
        workers={"host/1": 3},
        qualities=QUALITY,
        revision=m.RevisionEntry(2, {"1": ["darker"]}, {"2": 2}, [{"number": 1}]),
        mux_command=["ffmpeg", "-i", "cut.mp4"],
        mux_audio="mix.wav",
    )


def test_the_manifest_has_a_real_run_s_keys_and_values(tmp_path):
    built = m.build_manifest(record(tmp_path))
    assert list(built) == TOP
    assert list(built["inputs"]) == ["video", "shots"]
    assert list(built["inputs"]["video"]) == ["path", "etag", "sha256", "probe"]
    probe = built["inputs"]["video"]["probe"]
    assert list(probe) == PROBE
    assert probe["path"] == "s3://in/cut.mp4" and probe["rate"] == "25"  # as given
    assert built["inputs"]["shots"] == {"path": "shots.csv", "etag": None, "sha256": "cd" * 32}
    assert built["programme"] == {"rate": "25", "frames": 250, "start_frame": 90000,
                                  "start_tc": "01:00:00:00", "drop_frame": False}  # fmt: skip
    assert list(built["loudness"]) == LOUDNESS
    assert built["loudness"]["true_peak_ceiling_dbtp"] == -1.0
    assert built["dialogue"] == {"regions_s": [[1.235, 2.0], [5.0, 6.5]]}
    assert built["revision"] == {"number": 2, "notes": {"1": ["darker"]}, "picks": {"2": 2},
                                 "history": [{"number": 1}]}  # fmt: skip
    assert built["mux"] == {"command": ["ffmpeg", "-i", "cut.mp4"], "audio": "mix.wav"}
    assert [list(s) for s in built["scenes"]] == [[*SCENE, "brief", "cue"]] * 2 + [SCENE] + [
        [*SCENE, "brief", "cue"]
    ]
    first = built["scenes"][0]
    assert (first["tc_in"], first["tc_out"], first["rate"]) == ("01:00:00:00", "01:00:03:00", "25")
    assert first["samples"] == [0, 144000]  # 3 s at 48 kHz
    assert list(first["cue"]) == CUE
    assert first["cue"]["crossfade_in_s"] == 0.48  # 12 frames at 25 fps
    assert first["cue"]["quality"] is QUALITY["1"]
    assert first["brief"]["scene_id"] == "1"


def test_the_quality_section_sums_up_and_finds_the_touching_cues(tmp_path):
    q = m.build_manifest(record(tmp_path))["quality"]
    assert q["mean_overall"] == 0.8 and q["lowest"] == {"scene": "2", "overall": 0.7}
    assert q["failures"] == ["scene 2: tempo off"]
    ((boundary),) = q["boundaries"]  # 1 -> 2 on a cut; 4 fades in after a silent scene
    assert (boundary["from"], boundary["to"], boundary["keys"]) == ("1", "2", "D minor -> F major")
    assert boundary["tempo_ratio"] == 1.0  # 60 against 120: half time folds to one pulse


def test_takes_are_listed_with_the_chosen_one(tmp_path):
    scene = m.build_manifest(record(tmp_path, takes=3))["scenes"][0]
    assert list(scene["cue"]) == [*CUE, "takes"]
    takes = scene["cue"]["takes"]
    assert [list(t) for t in takes] == [TAKE] * 3
    assert [(t["take"], t["seed"], t["chosen"]) for t in takes] == [
        (1, 8, False),
        (2, 9, True),
        (3, 10, False),
    ]
    assert takes[0]["overall"] == 0.9 and takes[2]["files"] == {"wav": "takes/1-3.wav"}


@pytest.mark.parametrize(
    ("qc", "failures"),
    [
        ({}, []),
        ({"main": {"integrated_lufs": -23.4, "true_peak_dbtp": -1.5}}, []),
        ({"main": {"integrated_lufs": -24.0, "true_peak_dbtp": -1.5}},
         ["mix.wav: integrated loudness (target -23.0 LUFS): -24.0 LUFS"]),
        ({"main": {"integrated_lufs": -23.0, "true_peak_dbtp": -0.5}},
         ["mix.wav: true peak (ceiling -1.0 dBTP): -0.5 dBTP"]),
        ({"clipped_samples": 3}, ["mix.wav: samples at full scale: 3"]),
        ({"silent_music_scenes": ["4"]}, ["music scenes silent in the soundtrack: 4"]),
    ],
)  # fmt: skip
def test_qc_s_verdict_is_added_to_the_manifest(tmp_path, qc, failures):
    built = m.build_manifest(record(tmp_path, qc=dict(qc)))
    assert m.add_qc_verdict(built) == failures
    assert built["qc"] == {**qc, "passed": not failures, "failures": failures}
    assert list(built["qc"])[-2:] == ["passed", "failures"]


@pytest.mark.parametrize(
    ("qualities", "line"),
    [
        ({}, "no cues"),
        (QUALITY, "mean score 0.80, lowest 0.70 (scene 2), 1 failed measure(s)"),
    ],
)
def test_the_quality_line(qualities, line):
    assert m.quality_line(qualities) == line
