"""The proposed cut list (`scoreflow cuts`) as CSV, OTIO and CMX3600 EDL, read back with the
csv module and OpenTimelineIO; timecodes are worked out by hand in the table."""

from __future__ import annotations

import csv
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from scoreflow.tasks.errors import InputError
from scoreflow.tasks.interchange import cutlist
from scoreflow.tasks.interchange.shotlist import read_shotlist
from scoreflow.tasks.picture import frames as fr
from scoreflow.tasks.picture import reading as rd
from scoreflow.tasks.picture import spotting as sp
from scoreflow.tasks.timeline.model import Scene

VIDEO = "/media/reel one.mov"  # never opened: the writers only name it
MOODS = [("calm", 0.25, "steady"), ("tense", 0.8, "rises"), ("dark", 0.5, "falls")]

# rate, drop-frame, programme start (frames), scenes (id, first frame, end frame, hits),
# and each scene's tc_in, tc_out and hit timecodes, worked out by hand
CASES = {
    "25 fps from zero": (
        "25", False, 0,
        [("s1", 0, 100, (50,)), ("s2", 100, 250, ()), ("s3", 300, 400, (310, 390))],
        [("00:00:00:00", "00:00:04:00", ["00:00:02:00"]),
         ("00:00:04:00", "00:00:10:00", []),
         ("00:00:12:00", "00:00:16:00", ["00:00:12:10", "00:00:15:15"])],
    ),
    "25 fps from one hour": (
        "25", False, 90_000,  # 3600 s x 25
        [("s1", 0, 100, (50,)), ("s2", 100, 250, ()), ("s3", 300, 400, (310, 390))],
        [("01:00:00:00", "01:00:04:00", ["01:00:02:00"]),
         ("01:00:04:00", "01:00:10:00", []),
         ("01:00:12:00", "01:00:16:00", ["01:00:12:10", "01:00:15:15"])],
    ),
    "29.97 drop-frame from one hour": (
        # an hour of drop-frame is 107892 frames; minute 1 starts at ;02 (frames 0 and 1
        # are skipped), so frame 1800 is 01:01:00;02 and frame 3600 is 01:02:00;04
        "30000/1001", True, 107_892,
        [("a", 0, 1800, (1799,)), ("b", 1800, 3600, (1800,))],
        [("01:00:00;00", "01:01:00;02", ["01:00:59;29"]),
         ("01:01:00;02", "01:02:00;04", ["01:01:00;02"])],
    ),
    "23.976 counts 24 a second": (
        "24000/1001", False, 0,
        [("x", 0, 1440, (24,))],
        [("00:00:00:00", "00:01:00:00", ["00:00:01:00"])],
    ),
}  # fmt: skip


def _case(name: str) -> tuple[list[Scene], rd.Reading, Any]:
    """The case's scenes as the picture reader makes them, with their reading."""
    rate_text, drop, tc_start, spec, expected = CASES[name]
    rate = Fraction(rate_text)
    scenes, spots = [], []
    for i, (sid, start, end, hits) in enumerate(spec):
        mood, intensity, curve = MOODS[i % len(MOODS)]
        scenes.append(Scene(sid, start, end, rate, description=f"{mood} scene {sid}", mood=mood,
                            intensity=intensity, curve=curve, hits=hits, drop_frame=drop,
                            tc_start=tc_start))  # fmt: skip
        spots.append(sp.Spot(start, end, [i], why=[f"why {sid}"],
                             hit_why=[f"hit {h}" for h in hits]))  # fmt: skip
    source = fr.Source(path=VIDEO, rate=rate, frames=spec[-1][2] + 100, width=64, height=36,
                       vfr=False, average_fps=float(rate), has_audio=False)  # fmt: skip
    reading = rd.Reading(source, "histogram", [], [], spots, None, None, {})  # type: ignore[arg-type]
    return scenes, reading, expected


def _fields(scene: Scene) -> str:
    return f"mood={scene.mood} intensity={scene.intensity:.2f} curve={scene.curve}"


@pytest.mark.parametrize("name", CASES)
def test_csv_reads_back_with_the_csv_module_and_the_shot_list_reader(tmp_path, name):
    scenes, reading, expected = _case(name)
    text = cutlist.render("csv", scenes, reading)
    lines = text.splitlines()
    assert lines[0] == (
        "# proposed from the picture of reel one.mov (histogram detector); "
        "edit and pass back with --shots"
    )
    rows = list(csv.reader(line for line in lines if not line.startswith("#")))
    assert rows[0] == ["scene", "tc_in", "tc_out", "description", "mood", "intensity", "curve",
                       "hits"]  # fmt: skip
    assert len(rows) == len(scenes) + 1
    for row, scene, (tc_in, tc_out, hits) in zip(rows[1:], scenes, expected, strict=True):
        assert row == [scene.id, tc_in, tc_out, scene.description, scene.mood,
                       f"{scene.intensity:.2f}", scene.curve, " ".join(hits)]  # fmt: skip
        # the "# why" comments stand right before their row, the scene's first, then its hits'
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{scene.id},"))
        why = [f"# {scene.id}: why {scene.id}", *(f"# {scene.id}: hit {h}" for h in scene.hits)]
        assert lines[at - len(why) : at] == why
    # and the shot-list reader takes it back: the same scenes, frame for frame
    path = tmp_path / "cuts.csv"
    path.write_text(text)
    start_tc = expected[0][0]
    again = read_shotlist(path, fps=CASES[name][0], start_tc=start_tc)
    assert [(s.id, s.start_frame, s.end_frame, s.hits) for s in again] == [
        (s.id, s.start_frame, s.end_frame, s.hits) for s in scenes
    ]
    assert [(s.mood, s.intensity, s.curve) for s in again] == [
        (s.mood, s.intensity, s.curve) for s in scenes
    ]


@pytest.mark.parametrize("name", CASES)
def test_otio_reads_back_with_opentimelineio(name):
    scenes, reading, _ = _case(name)
    rate = float(Fraction(CASES[name][0]))
    timeline = otio.adapters.read_from_string(cutlist.render("otio", scenes, reading), "otio_json")
    assert timeline.name == "reel one (proposed scenes)"
    assert timeline.global_start_time == otio.opentime.RationalTime(CASES[name][2], rate)
    [track] = timeline.tracks
    assert track.kind == otio.schema.TrackKind.Video
    clips = list(track)
    assert [c.name for c in clips] == [f"{s.description} {_fields(s)}" for s in scenes]
    for clip, scene, spot in zip(clips, scenes, reading.spots, strict=True):
        assert clip.source_range == otio.opentime.TimeRange(
            otio.opentime.RationalTime(scene.start_frame, rate),
            otio.opentime.RationalTime(scene.end_frame - scene.start_frame, rate),
        )
        assert clip.media_reference.target_url == Path(VIDEO).resolve().as_uri()
        assert clip.media_reference.available_range.duration.value == reading.source.frames
        meta = clip.metadata["scoreflow"]
        assert (meta["scene"], list(meta["why"])) == (scene.id, spot.why)
        marks = [(m.marked_range.start_time.value, m.marked_range.duration.value, m.color,
                  m.metadata["scoreflow"]["why"]) for m in clip.markers]  # fmt: skip
        assert marks == [(h, 0, "YELLOW", f"hit {h}") for h in scene.hits]


@pytest.mark.parametrize("name", CASES)
def test_edl_reads_back_with_the_cmx_3600_adapter(name):
    scenes, reading, expected = _case(name)
    rate_text, drop, tc_start = CASES[name][:3]
    rate = float(Fraction(rate_text))
    text = cutlist.render("edl", scenes, reading)
    assert text.splitlines()[:2] == [
        "TITLE: reel one proposed scenes",
        f"FCM: {'DROP FRAME' if drop else 'NON-DROP FRAME'}",
    ]
    # each event: source and record timecodes both the programme's, then its locators
    events = re.findall(r"^(\d{3})  AX +V +C +(\S+) (\S+) (\S+) (\S+)$", text, re.M)
    assert events == [
        (f"{n:03d}", tc_in, tc_out, tc_in, tc_out)
        for n, (tc_in, tc_out, _) in enumerate(expected, start=1)
    ]
    hits = [h for _, _, scene_hits in expected for h in scene_hits]
    assert re.findall(r"^\* LOC: (\S+) YELLOW$", text, re.M) == hits
    timeline = otio.adapters.read_from_string(text, "cmx_3600", rate=rate)
    clips = [c for c in timeline.tracks[0] if isinstance(c, otio.schema.Clip)]
    first = scenes[0].start_frame
    for clip, scene in zip(clips, scenes, strict=True):
        assert clip.name == "reel one.mov"
        assert clip.source_range.start_time.value == tc_start + scene.start_frame
        assert clip.source_range.duration.value == scene.end_frame - scene.start_frame
        assert clip.range_in_parent().start_time.value == scene.start_frame - first  # gaps kept
        assert list(clip.metadata["cmx_3600"]["comments"]) == [
            f"COMMENT: {scene.description} {_fields(scene)}"
        ]
        if not drop:  # the adapter reads locators with non-drop timecodes only
            at = [m.marked_range.start_time.value for m in clip.markers]
            assert at == [tc_start + h for h in scene.hits]
    assert len(clips) == len(scenes)


def test_no_scenes():
    _, reading, _ = _case("25 fps from zero")
    reading.spots = []
    assert cutlist.to_edl([], reading) == "TITLE: reel one proposed scenes\nFCM: NON-DROP FRAME\n"
    assert cutlist.to_csv([], reading).splitlines()[-1].startswith("scene,tc_in,tc_out")
    timeline = cutlist.to_otio([], reading)
    assert timeline.global_start_time is None and len(timeline.tracks[0]) == 0


def test_a_variable_rate_video_is_noted_in_the_csv():
    scenes, reading, _ = _case("25 fps from zero")
    reading.source = fr.Source(path=VIDEO, rate=Fraction(25), frames=500, width=64, height=36,
                               vfr=True, average_fps=24.5, has_audio=False)  # fmt: skip
    second = cutlist.to_csv(scenes, reading).splitlines()[1]
    assert second == (
        "# variable frame rate (average 24.500 fps): conformed to 25 (25.000 fps) for the analysis"
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("cuts.csv", "csv"),
        ("CUTS.CSV", "csv"),
        ("out/proposed.otio", "otio"),
        ("reel.1.edl", "edl"),
        ("cuts.xml", InputError),
        ("cuts.tsv", InputError),
        ("cuts", InputError),
    ],
)
def test_format_for(path, expected):
    if expected is InputError:
        with pytest.raises(InputError) as err:
            cutlist.format_for(path)
        message = str(err.value)
        assert "field '--out'" in message and "unknown cut-list format" in message
        assert f"(got {path!r})" in message and "End the name with .csv, .otio, .edl" in message
    else:
        assert cutlist.format_for(path) == expected
