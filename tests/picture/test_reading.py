"""Scoring from the picture, end to end: a 2-minute video with no shot list is scored on the
scenes read from it; `scoreflow cuts` writes a shot list (CSV, .otio, .edl) the readers
take back frame-exactly; a shot list's empty fields are filled, nothing written replaced."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import soundfile

from scoreflow import config
from scoreflow.config.settings import Settings
from scoreflow.tasks.audio.media import probe, stream_hash
from scoreflow.tasks.cloud.storage import sha256_file
from scoreflow.tasks.interchange import shotlist
from scoreflow.tasks.picture import reading as picture
from scoreflow.tasks.picture import synth_video as sv
from scoreflow.tasks.timeline.model import Scene

S = sv.Shot
LOOKS = [("testsrc2", "smptebars"), ("mandelbrot", "rgbtestsrc"), ("cellauto", "testsrc"),
         ("color=c=0x603010", "yuvtestsrc"), ("pal75bars", "life")]  # fmt: skip
SOUNDS = ["anoisesrc=a=0.05:c=pink", "sine=f=330", "anoisesrc=a=0.2:c=brown", "voice",
          "sine=f=150"]  # fmt: skip


def two_minutes() -> list[sv.Shot]:
    """Five scenes of 24 s, each A B A B of 6 s shots with a sound of its own; the second
    and fourth come in on a fade."""
    shots = []
    for k, ((a, b), sound) in enumerate(zip(LOOKS, SOUNDS, strict=True)):
        into = ("fade", 12) if k in (1, 3) else ("cut", 0)
        shots.append(S(a, 150, *into, sound=sound))
        shots += [S(b, 150, sound=sound), S(a, 150, sound=sound), S(b, 150, sound=sound)]
    return shots


def run(*args):
    return subprocess.run([sys.executable, "-m", "scoreflow", *args], capture_output=True,
                          text=True, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def scored(prefect_server, tmp_path_factory):
    from scoreflow.flows.score import score_video

    d = tmp_path_factory.mktemp("picture")
    video = d / "programme.mp4"
    truth = sv.generate_cut_video(video, two_minutes(), size=(160, 90))
    manifest = score_video(video=str(video), shots=None, out=str(d / "out"))
    return d, video, truth, manifest


def test_a_video_with_no_shot_list_is_scored_on_its_own_scenes(scored):
    d, video, truth, manifest = scored
    assert manifest["inputs"]["shots"] is None
    seen = manifest["picture"]
    assert [t["frame"] for t in seen["transitions"]] == [t.frame for t in truth]
    scene_starts = [t.frame for t in truth][3::4]  # every fourth cut starts a scene
    scenes = manifest["scenes"]
    assert [s["start_frame"] for s in scenes] == [0, *scene_starts]
    assert scenes[-1]["end_frame"] == probe(video).frames == 3000  # fades take no frames
    out = d / "out"
    assert stream_hash(out / "programme.scored.mp4") == stream_hash(video)
    track, sr = soundfile.read(out / "soundtrack.wav")
    for s in scenes:
        a, b = s["start_frame"] * sr // 25, s["end_frame"] * sr // 25
        cue, cue_sr = soundfile.read(out / s["cue"]["files"]["wav"])
        assert cue_sr == sr and len(cue) == b - a + round(1.5 * sr)  # its scene, its ring-out
        middle = track[a + sr : b - sr]
        assert np.sqrt((middle**2).mean()) > 0.005, s["id"]  # music all through it
    text = (out / "report.html").read_text()
    assert "programme.scored.mp4" in text


def test_the_run_says_why_each_scene_is_one(scored):
    _, _, _, manifest = scored
    spots = manifest["picture"]["scenes"]
    assert len(spots) == 5
    for spot in spots:
        assert len(spot["shots"]) == 4
        assert any("shot/reverse shot" in w or "looks like" in w for w in spot["why"])
    assert any("after a fade" in spot["why"][0] for spot in spots)
    assert manifest["picture"]["detector"] in ("content", "transnetv2")


@pytest.fixture(scope="module")
def df_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("cuts") / "df.mp4"
    plan = [S("testsrc2", 300, sound="anoisesrc=a=0.05:c=pink"),
            S("color=c=0x302820", 150, sound="sine=f=200"),
            S("smptebars", 200, sound="sine=f=200", flash=(120,))]  # fmt: skip
    truth = sv.generate_cut_video(path, plan, rate=Fraction(30000, 1001), drop_frame=True)
    return path, truth


def test_cuts_writes_shot_lists_the_readers_take_back(df_video, tmp_path):
    video, truth = df_video
    outs = [tmp_path / f"proposed{ext}" for ext in (".csv", ".otio", ".edl")]
    proc = run("cuts", str(video), *(x for o in outs for x in ("--out", str(o))))
    assert proc.returncode == 0, proc.stderr
    assert "shots" in proc.stderr and "real time" in proc.stderr
    csv_text = outs[0].read_text()
    assert csv_text.count("\n# ") >= 3 and "00:00:00;00" in csv_text  # why, drop-frame
    info = probe(video)
    read = [shotlist.read_shotlist(o, media=info) for o in outs]
    first = [(s.start_frame, s.end_frame, s.intensity, s.curve, s.hits) for s in read[0]]
    for other in read[1:]:
        assert [(s.start_frame, s.end_frame, s.intensity, s.curve, s.hits) for s in other] == first
    assert [s[0] for s in first] == [0, truth[0].frame]  # the dark shot joins the next (sound)
    assert truth[1].frame + 120 in first[1][4]  # the flash
    assert all(s.drop_frame for s in read[0])
    check = run("check", "--shots", str(outs[0]), "--video", str(video))
    assert check.returncode == 0, check.stderr


def test_cuts_to_standard_output_and_its_refusals(df_video, tmp_path):
    video, _ = df_video
    proc = run("cuts", str(video))
    assert proc.returncode == 0 and proc.stdout.startswith("# proposed from the picture")
    kept = tmp_path / "mine.csv"
    kept.write_text("my own shot list\n")
    for args, message in [
        (["--out", str(kept)], "the file is there already"),
        (["--out", str(tmp_path / "cuts.txt")], "unknown cut-list format"),
        (["--out", str(video), "--force"], "unknown cut-list format"),  # never the video
    ]:
        bad = run("cuts", str(video), *args)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr
    assert kept.read_text() == "my own shot list\n"
    assert run("cuts", str(video), "--out", str(kept), "--force").returncode == 0
    assert kept.read_text().startswith("# proposed")
    not_video = tmp_path / "x.mp4"
    not_video.write_text("not a video")
    bad = run("cuts", str(not_video))
    assert bad.returncode == 2 and "x.mp4" in bad.stderr and "Traceback" not in bad.stderr
    neither = run("check")
    assert neither.returncode == 2 and "--video VIDEO" in neither.stderr


def test_explain_with_the_video_alone_tells_each_grouping(df_video):
    video, _ = df_video
    proc = run("explain", "--video", str(video))
    assert proc.returncode == 0, proc.stderr
    assert "picture: 3 shots" in proc.stdout
    assert "picture: starts the programme" in proc.stdout
    assert "the sound carries on" in proc.stdout and "picture hit:" in proc.stdout


def test_suggest_fills_only_what_the_shot_list_leaves_empty(df_video):
    video, truth = df_video
    settings = config.load_settings().picture
    vocab = config.styles()
    reading = picture.read_picture(video, settings=settings, mapping=vocab["picture"])
    rate = Fraction(30000, 1001)
    cut = truth[0].frame

    def scene(sid, a, b, **kw):
        return Scene(sid, a, b, rate, **kw)

    scenes = [
        scene("empty", 0, cut, description="opening titles"),
        scene(
            "written",
            cut,
            650,
            description="tense and dark, builds, hit at 00:00:15;00",
            intensity=0.2,
        ),
        scene("hits", cut, 650, description="the bars", hits=(cut + 10,), curve="falls"),
    ]
    filled, notes = picture.suggest(scenes, reading, settings=settings,
                                    mapping=vocab["picture"], vocab=vocab)  # fmt: skip
    empty, written, hits = filled
    assert empty.intensity is not None and "intensity" in notes["empty"][0]
    assert written == scenes[1]  # its words and columns say all of it
    assert hits.hits == (cut + 10,) and hits.curve == "falls"
    assert hits.intensity is not None  # the one thing it left empty
    assert truth[1].frame + 120 not in empty.hits
    assert json.dumps(notes)


def test_the_reading_is_cached_on_the_video_and_its_settings(prefect_server, df_video):
    """Read by the flow's task twice: the second comes from the cache; another setting is
    read again."""
    from prefect import flow

    from scoreflow.flows.stages import read_picture_task

    video, _ = df_video
    cfg = config.load_settings()

    @flow
    def twice(other: Settings) -> list:
        digest = sha256_file(video)
        return [read_picture_task(video, c, digest, return_state=True) for c in (cfg, cfg, other)]

    other = config.load_settings(None, {"picture": {"hits_per_minute": 1.0}})
    first, second, third = twice(other)
    assert (first.name, second.name, third.name) == ("Completed", "Cached", "Completed")
    assert second.result().to_dict() == first.result().to_dict()


def test_a_run_read_from_the_picture_is_revised_on_the_same_scenes(scored, tmp_path):
    import shutil

    from scoreflow.flows.cli import main

    d, _, _, first = scored
    run = tmp_path / "run"
    shutil.copytree(d / "out", run)
    assert main(["revise", str(run), "--scene", "3", "--note", "no drums, calmer"]) == 0
    after = json.loads((run / "manifest.json").read_text())
    assert after["inputs"]["shots"] is None and after["revision"]["number"] == 1
    spans = [(s["start_frame"], s["end_frame"]) for s in after["scenes"]]
    assert spans == [(s["start_frame"], s["end_frame"]) for s in first["scenes"]]
    brief = next(s["brief"] for s in after["scenes"] if s["id"] == "3")
    assert brief["drums"] is False
    assert main(["verify", str(run)]) == 0
