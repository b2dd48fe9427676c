"""The FCP 7 XML and FCPXML writers, checked element by element with xml.etree and read
back through OpenTimelineIO's fcp_xml and fcpx_xml adapters. Frames, timecodes and rational
times in the tables are worked out by hand."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path
from xml.etree import ElementTree as ET

import opentimelineio as otio
import pytest

from scoreflow.tasks.errors import InputError
from scoreflow.tasks.interchange import fcp
from scoreflow.tasks.timeline.model import MediaInfo, Scene

VIDEO = Path("/film/reel one.mov")
FRAMES = 2100
# cue 1 alone, cue 2 crossfading in from it (12 frames centred on frame 101) and running
# past its clip in its file, a gap, cue 4 fading to silence over its last 25 frames
CUES = (
    fcp.CueClip("1", "1", Path("/run/cues/1.wav"), 0, 101),
    fcp.CueClip("2", "2 take2", Path("/run/cues/2 take2.wav"), 101, 1749, crossfade_frames=12,
                media_frames=1800),
    fcp.CueClip("4", "4", Path("/run/cues/4.wav"), 1900, 103, fade_out_frames=25),
)  # fmt: skip

# rate, programme start (frames), drop-frame, the video's audio, its own start timecode;
# then the FCP 7 timebase and ntsc flag, the start as timecode, and FCPXML's frame
# duration and start
RATES = {
    "23.976 from one hour": (
        "24000/1001", 86_400, False, True, None,
        24, "TRUE", "01:00:00:00", "1001/24000s", "18018/5s",  # 86400 x 1001/24000 s
    ),
    "25 silent, timecoded": (
        "25", 90_000, False, False, "01:00:00:00",
        25, "FALSE", "01:00:00:00", "1/25s", "3600s",
    ),
    "29.97 drop-frame": (
        "30000/1001", 107_892, True, True, None,
        30, "TRUE", "01:00:00;00", "1001/30000s", "8999991/2500s",  # 107892 x 1001/30000 s
    ),
    "30 from zero": (
        "30", 0, False, True, None,
        30, "FALSE", "00:00:00:00", "1/30s", "0s",
    ),
}  # fmt: skip


def _media(rate: Fraction, *, audio: bool, start_tc: str | None) -> MediaInfo:
    return MediaInfo(
        path=str(VIDEO), duration_s=float(FRAMES / rate), rate=rate, frames=FRAMES, width=1920,
        height=1080, video_codec="h264", container="mov", audio_streams=int(audio),
        audio_sample_rate=48000 if audio else None, audio_channels=2 if audio else None,
        start_tc=start_tc,
    )  # fmt: skip


def _sequence(name: str, **changes: object) -> fcp.Sequence:
    rate, tc_start, drop, audio, start_tc = RATES[name][:5]
    media = _media(Fraction(rate), audio=audio, start_tc=start_tc)
    seq = fcp.Sequence("Reel one score", VIDEO, media, CUES, tc_start, drop)
    return dataclasses.replace(seq, **changes)  # type: ignore[arg-type]


def _one(node: ET.Element, path: str) -> ET.Element:
    found = node.findall(path)
    assert len(found) == 1, (path, len(found))
    return found[0]


def _text(node: ET.Element, path: str) -> str | None:
    return _one(node, path).text


def _seconds(value: str) -> Fraction:
    assert value.endswith("s"), value
    return Fraction(value[:-1])


@pytest.mark.parametrize("name", RATES)
def test_fcp7_xml_element_by_element(name):
    tc_start, drop, audio, start_tc, timebase, ntsc, tc = RATES[name][1:8]
    text = fcp.fcp7_xml(_sequence(name))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n<xmeml')
    root = ET.fromstring(text)
    assert (root.tag, root.attrib) == ("xmeml", {"version": "5"})
    seq = _one(root, "sequence")
    assert seq.get("id") == "sequence-1"
    assert [c.tag for c in seq] == ["name", "duration", "rate", "timecode", "media"]
    assert (_text(seq, "name"), _text(seq, "duration")) == ("Reel one score", str(FRAMES))
    assert (_text(seq, "rate/timebase"), _text(seq, "rate/ntsc")) == (str(timebase), ntsc)
    assert [c.tag for c in _one(seq, "timecode")] == ["rate", "string", "frame", "displayformat"]
    assert _text(seq, "timecode/string") == tc
    assert _text(seq, "timecode/frame") == str(tc_start)
    assert _text(seq, "timecode/displayformat") == ("DF" if drop else "NDF")
    # the picture: one clip over the whole video, its file given in full once
    picture = _one(seq, "media/video/track/clipitem")
    assert [c.tag for c in picture] == ["name", "enabled", "duration", "rate", "start", "end",
                                        "in", "out", "file"]  # fmt: skip
    spans = [_text(picture, p) for p in ("start", "end", "in", "out")]
    assert spans == ["0", str(FRAMES), "0", str(FRAMES)]
    video_file = _one(picture, "file")
    assert _text(video_file, "pathurl") == "file:///film/reel%20one.mov"
    assert (video_file.find("timecode") is not None) == (start_tc is not None)
    assert _text(seq, "media/audio/format/samplecharacteristics/depth") == "24"
    tracks = seq.findall("media/audio/track")
    assert len(tracks) == 1 + audio  # the video's own audio, then the music
    if audio:
        original = _one(tracks[0], "clipitem")
        reference = _one(original, "file")  # the picture's file, by its id only
        assert (reference.attrib, len(reference)) == ({"id": "file-video"}, 0)
    music = tracks[-1]
    assert [c.tag for c in music] == ["clipitem", "transitionitem", "clipitem", "clipitem",
                                      "transitionitem", "enabled"]  # fmt: skip
    clips = music.findall("clipitem")
    spans = [[_text(c, p) for p in ("name", "start", "end", "out")] for c in clips]
    assert [tuple(span) for span in spans] == [
        ("1", "0", "101", "101"),
        ("2 take2", "101", "1850", "1749"),
        ("4", "1900", "2003", "103"),
    ]
    # a cue's file is as long as the WAV (cue 2 rings out to 1800 frames), and has no timecode
    files = [_one(c, "file") for c in clips]
    assert [_text(f, "duration") for f in files] == ["101", "1800", "103"]
    assert _text(files[1], "pathurl") == "file:///run/cues/2%20take2.wav"
    assert all(f.find("timecode") is None for f in files)
    fades = [(_text(t, "start"), _text(t, "end"), _text(t, "alignment"))
             for t in music.findall("transitionitem")]  # fmt: skip
    assert fades == [("95", "107", "center"), ("1978", "2003", "end-black")]


@pytest.mark.parametrize("name", RATES)
def test_fcp7_xml_reads_back_through_otio(name):
    rate_text, tc_start = RATES[name][:2]
    rate = float(Fraction(rate_text))
    timeline = otio.adapters.read_from_string(fcp.fcp7_xml(_sequence(name)), "fcp_xml")
    assert timeline.global_start_time.value == tc_start
    music = timeline.tracks[-1]
    got = [(type(i).__name__, i.name, i.range_in_parent().start_time.value,
            i.range_in_parent().duration.value) for i in music]  # fmt: skip
    assert got == [
        ("Clip", "1", 0, 101),
        ("Transition", "Cross Fade (+3dB)", 95, 12),
        ("Clip", "2 take2", 101, 1749),
        ("Gap", "", 1850, 50),
        ("Clip", "4", 1900, 103),
        ("Transition", "Cross Fade (+3dB)", 1978, 25),
    ]
    fade_in = music[1]
    assert (fade_in.in_offset, fade_in.out_offset) == (
        otio.opentime.RationalTime(6, rate),
        otio.opentime.RationalTime(6, rate),
    )
    assert [t.kind for t in timeline.tracks] == ["Video"] + ["Audio"] * (1 + RATES[name][3])


@pytest.mark.parametrize("name", RATES)
def test_fcpxml_element_by_element(name):
    rate_text, tc_start, drop, audio = RATES[name][:4]
    frame_duration, tc_seconds = RATES[name][8:]
    rate = Fraction(rate_text)
    text = fcp.fcpxml(_sequence(name))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n<fcpxml')
    root = ET.fromstring(text)
    assert (root.tag, root.attrib) == ("fcpxml", {"version": "1.8"})
    assert [c.tag for c in root] == ["resources", "library"]
    resources = _one(root, "resources")
    assert [(r.tag, r.get("id")) for r in resources] == [
        ("format", "r1"), ("asset", "r2"), ("asset", "r3"), ("asset", "r4"), ("asset", "r5")
    ]  # fmt: skip
    fmt, video, *cues = resources
    assert fmt.get("frameDuration") == frame_duration
    assert (fmt.get("width"), fmt.get("height")) == ("1920", "1080")
    assert video.get("src") == "file:///film/reel%20one.mov" and video.get("name") == "reel one"
    assert video.get("hasAudio") == ("1" if audio else None)
    assert _seconds(video.get("duration")) * rate == FRAMES
    assert [_seconds(c.get("duration")) * rate for c in cues] == [101, 1800, 103]
    assert {(c.get("hasVideo"), c.get("audioRate"), c.get("audioChannels")) for c in cues} == {
        ("0", "48000", "2")
    }
    sequence = _one(root, "library/event/project/sequence")
    assert sequence.get("tcStart") == tc_seconds
    assert _seconds(tc_seconds) * rate == tc_start
    assert sequence.get("tcFormat") == ("DF" if drop else "NDF")
    assert (sequence.get("audioLayout"), sequence.get("audioRate")) == ("stereo", "48k")
    picture = _one(sequence, "spine/asset-clip")
    assert (picture.get("ref"), picture.get("offset"), picture.get("start")) == (
        "r2",
        tc_seconds,
        "0s",
    )
    story = _one(picture, "spine")
    assert (story.get("lane"), story.get("name"), story.get("offset")) == ("-1", "Music", "0s")
    layout = [(c.tag, c.get("ref"), _seconds(c.get("offset")) * rate,
               _seconds(c.get("duration")) * rate) for c in story]  # fmt: skip
    assert layout == [
        ("asset-clip", "r3", 0, 101),
        ("transition", None, 95, 12),
        ("asset-clip", "r4", 101, 1749),
        ("gap", None, 1850, 50),
        ("asset-clip", "r5", 1900, 103),
    ]


@pytest.mark.parametrize("name", RATES)
def test_fcpxml_reads_back_through_otio(name):
    """OTIO's reader finds the picture and every cue (it counts 23.976 as 23 fps and 29.97
    as 29, so frames are checked on the XML itself above)."""
    collection = otio.adapters.read_from_string(fcp.fcpxml(_sequence(name)), "fcpx_xml")
    (timeline,) = collection.find_children(descended_from_type=otio.schema.Timeline)
    assert timeline.name == "Reel one score"
    assert [c.name for c in timeline.find_clips()] == ["1", "2 take2", "4", "reel one"]


@pytest.mark.parametrize(
    ("relative", "path", "expected"),
    [
        (False, Path("/run/cues/a b#1.wav"), "file:///run/cues/a%20b%231.wav"),
        (False, Path("/run/x/../cues/1.wav"), "file:///run/cues/1.wav"),
        (True, Path("cues/a b.wav"), "cues/a%20b.wav"),
        (True, Path("score/ü.wav"), "score/%C3%BC.wav"),
    ],
)
def test_media_urls(relative, path, expected):
    assert _sequence("30 from zero", relative=relative).url(path) == expected


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"drop_frame": True}, "drop-frame timecode at 25 fps"),
        ({"tc_start": -1}, "negative frame number"),
    ],
)
def test_fcp7_xml_refuses_a_timecode_that_cannot_be(changes, message):
    with pytest.raises(InputError, match=message):
        fcp.fcp7_xml(_sequence("25 silent, timecoded", **changes))


def _scenes(spec: list[tuple[str, int, int, str | None, float | None]]) -> list[Scene]:
    return [Scene(sid, a, b, Fraction(25), "x", transition=kind, transition_s=seconds)
            for sid, a, b, kind, seconds in spec]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # touching: the default 0.5 s crossfade, 12.5 -> 12 frames (even, centred on the cut)
        ([("a", 0, 100, None, None), ("b", 100, 200, None, None)],
         [("a", 0, 100, 0, 0), ("b", 100, 100, 12, 0)]),
        # an explicit cut, and a gap, cross nothing
        ([("a", 0, 100, None, None), ("b", 100, 200, "cut", None), ("c", 210, 300, None, None)],
         [("a", 0, 100, 0, 0), ("b", 100, 100, 0, 0), ("c", 210, 90, 0, 0)]),
        # a fade takes the outgoing cue to silence over the incoming scene's 1 s
        ([("a", 0, 100, None, None), ("b", 100, 200, "fade", 1.0)],
         [("a", 0, 100, 0, 25), ("b", 100, 100, 0, 0)]),
        # a 2 s crossfade into a 7-frame scene is the scene's length made even: 6
        ([("a", 0, 100, None, None), ("b", 100, 107, "crossfade", 2.0)],
         [("a", 0, 100, 0, 0), ("b", 100, 7, 6, 0)]),
        # ... and into a long one after a short one, twice the outgoing cue: 2 x 10 = 20
        ([("a", 0, 10, None, None), ("b", 10, 200, None, 2.0)],
         [("a", 0, 10, 0, 0), ("b", 10, 190, 20, 0)]),
        # a scene without a cue ("m") leaves the others apart
        ([("a", 0, 100, None, None), ("m", 100, 150, None, None), ("b", 150, 200, None, None)],
         [("a", 0, 100, 0, 0), ("b", 150, 50, 0, 0)]),
    ],
)  # fmt: skip
def test_cue_clips(spec, expected):
    scenes = _scenes(spec)
    files = {s.id: Path(f"/cues/{s.id}.wav") for s in scenes if s.id != "m"}
    files["b"] = Path("/cues/b-take3.wav")
    clips = fcp.cue_clips(scenes, files, crossfade_s=0.5, media_frames={"a": 400})
    got = [(c.scene_id, c.start, c.frames, c.crossfade_frames, c.fade_out_frames) for c in clips]
    assert got == expected
    assert [c.name for c in clips] == [s if s != "b" else "b b-take3" for s, *_ in expected]
    assert clips[0].file_frames == 400  # the file runs past the clip


def test_music_layout_from_a_later_frame():
    seq = _sequence("25 silent, timecoded")
    assert list(seq.music_layout(-10)) == [
        ("gap", -10, 10, -1),
        ("clip", 0, 101, 0),
        ("crossfade", 95, 12, 1),
        ("clip", 101, 1749, 1),
        ("gap", 1850, 50, -1),
        ("clip", 1900, 103, 2),
    ]
