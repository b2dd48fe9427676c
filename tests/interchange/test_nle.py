"""Cuts in (EDL, FCP 7 XML, FCPXML, .otio) and the score out, checked frame by frame.

Expected frames are worked out by hand from the timecodes, not by our timecode code.
"""

import re
from fractions import Fraction
from xml.etree import ElementTree as ET

import numpy as np
import opentimelineio as otio
import pytest

from scoreflow.tasks.audio.media import probe
from scoreflow.tasks.delivery.deliver import write_interchange
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.interchange.shotlist import read_shotlist
from scoreflow.tasks.timeline.model import MediaInfo, Scene

# 29.97 drop-frame, programme from 01:00:00;00, events across minute boundaries, a gap.
# 01:01:00;02 is frame 1800 (minute 1 skips ;00 and ;01); minute 1 holds 1798 frames;
# 01:10:00;00 is 1800 + 9 * 1798 = 17982 (minute 10 skips nothing).
EDL_DF = """TITLE: PROMO DF
FCM: DROP FRAME

001  AX       V     C        00:00:00;00 00:00:59;28 01:00:00;00 01:00:59;28
* FROM CLIP NAME: opening calm piano
002  BX       V     C        00:10:00;00 00:10:05;00 01:00:59;28 01:01:05;00
* FROM CLIP NAME: tense chase
* COMMENT: builds, mood=tense genre=cinematic take=3
* LOC: 01:01:02;00 RED     DOOR SLAM
003  CX       V     C        00:20:00;00 00:20:55;02 01:01:05;00 01:02:00;04
* FROM CLIP NAME: market
004  DX       V     C        00:30:00;00 00:30:00;11 01:09:59;29 01:10:00;10
* FROM CLIP NAME: sting music=on usage=VI bpm=140
"""
FRAMES_DF = [(0, 1798), (1798, 1948), (1948, 3600), (17981, 17992)]


def edl_23976() -> str:
    # 24 frames per timecode second; events on whole seconds plus frames
    return """TITLE: PROMO 23976
FCM: NON-DROP FRAME

001  A001     V     C        10:00:00:00 10:00:10:00 01:00:00:00 01:00:10:00
* FROM CLIP NAME: A001C003_220101.mov
* COMMENT: quiet ambient dawn
002  A002     V     C        10:00:10:00 10:00:10:00 01:00:10:00 01:00:10:00
002  A003     V     D    012 11:00:00:00 11:00:50:12 01:00:10:00 01:01:00:12
* FROM CLIP NAME: city
* TO CLIP NAME: city rush, energetic rock
003  A004     V     C        12:00:00:00 12:00:05:00 01:01:00:12 01:01:05:12
"""


FRAMES_23976 = [(0, 240), (240, 1452), (1452, 1572)]

EDL_25 = """TITLE: PROMO 25
FCM: NON-DROP FRAME

001  AX       V     C        00:00:00:00 00:00:08:00 00:59:58:00 01:00:06:00
* FROM CLIP NAME: slate and open
002  AX       V     C        00:00:08:00 00:00:20:13 01:00:06:00 01:00:18:13
* FROM CLIP NAME: talk
"""


EDL_WIPE = """TITLE: WIPES
FCM: NON-DROP FRAME

001  AX       V     C        00:00:00:00 00:00:05:00 01:00:00:00 01:00:05:00
002  AX       V     C        00:00:05:00 00:00:05:00 01:00:05:00 01:00:05:00
002  BX       V     W001 012 00:00:10:00 00:00:15:00 01:00:05:00 01:00:10:00
003  CX       A     C        00:00:00:00 00:00:05:00 01:00:10:00 01:00:15:00
004  DX       V     C        00:00:20:00 00:00:25:00 01:00:15:00 01:00:20:00
"""


def frames(scenes):
    return [(s.start_frame, s.end_frame) for s in scenes]


@pytest.mark.parametrize(
    ("text", "fps", "start_tc", "want", "first_tc"),
    [
        (EDL_DF, "29.97", None, FRAMES_DF, "01:00:00;00"),
        # FCM alone decides drop-frame: the same EDL written with ':'
        (EDL_DF.replace(";", ":"), "29.97", None, FRAMES_DF, "01:00:00;00"),
        (edl_23976(), "23.976", None, FRAMES_23976, "01:00:00:00"),
        # the first event starts before the hour: say where the programme starts
        (EDL_25, "25", "00:59:58:00", [(0, 200), (200, 513)], "00:59:58:00"),
    ],
)
def test_edl_positions_frame_by_frame(tmp_path, text, fps, start_tc, want, first_tc):
    path = tmp_path / "cut.edl"
    path.write_text(text)
    scenes = read_shotlist(path, fps=fps, start_tc=start_tc)
    assert frames(scenes) == want
    assert scenes[0].tc_in == first_tc
    assert all(s.rate == {"29.97": Fraction(30000, 1001)}.get(fps, s.rate) for s in scenes)


def test_edl_text_fields_locators_and_transitions(tmp_path):
    path = tmp_path / "df.edl"
    path.write_text(EDL_DF)
    scenes = {s.id: s for s in read_shotlist(path, fps="29.97")}
    chase = scenes["002"]
    assert chase.mood == "tense" and chase.genre == "cinematic"
    assert "tense chase" in chase.description and "builds" in chase.description
    assert "mood=" not in chase.description and "take=3" in chase.description
    # LOC 01:01:02;00 (record timecode) = 1800 + 2 * 30 - 2 = 1858
    assert chase.hits == (1858,)
    assert chase.origin.endswith("df.edl:6") and chase.drop_frame
    assert scenes["004"].usage == "VI" and scenes["004"].tempo_bpm == 140  # an alias
    path.write_text(edl_23976())
    cut = read_shotlist(path, fps="23.976")
    assert cut[0].description == "quiet ambient dawn"  # a media file name is no description
    assert cut[1].transition == "crossfade"
    assert cut[1].transition_s == pytest.approx(12 * 1001 / 24000)
    assert "energetic rock" in cut[1].description


def test_edl_wipes_audio_events_and_unnamed_clips(tmp_path):
    path = tmp_path / "w.edl"
    path.write_text(EDL_WIPE)
    scenes = read_shotlist(path, fps="25")
    # the audio-only event leaves a gap on the picture track
    assert frames(scenes) == [(0, 125), (125, 250), (375, 500)]
    assert scenes[1].transition == "crossfade" and scenes[1].transition_s == pytest.approx(0.48)
    assert [s.description for s in scenes] == ["", "", ""]  # no "001" as a description


def test_edl_fps_must_match_the_video(tmp_path, video_25):
    path = tmp_path / "cut.edl"
    path.write_text(EDL_25)
    with pytest.raises(
        InputError, match=r"frame rate 24 \(from --fps\) does not match the video's 25"
    ):
        read_shotlist(path, fps="24", media=probe(video_25))


def test_edl_start_from_the_video_timecode(tmp_path, timecoded_video):
    info = timecoded_video(seconds=400, rate="30000/1001", start_tc="01:00:00;00", crf=51)
    assert info.start_tc == "01:00:00;00"
    path = tmp_path / "df.edl"
    path.write_text(EDL_DF.split("004")[0])
    scenes = read_shotlist(path, media=info)
    assert frames(scenes) == FRAMES_DF[:3]


FCP7 = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE xmeml>
<xmeml version="5">
  <sequence id="seq1">
    <name>Promo v3</name>
    <duration>900</duration>
    <rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate>
    <timecode>
      <rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate>
      <string>01:00:00:00</string><frame>86400</frame><displayformat>NDF</displayformat>
    </timecode>
    <media><video><track>
      <clipitem id="c1">
        <name>Opening mood=calm</name>
        <duration>2000</duration>
        <rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate>
        <start>0</start><end>240</end><in>100</in><out>340</out>
        <file id="f1"><name>a.mov</name><pathurl>file://localhost/media/a.mov</pathurl>
          <rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate><duration>2000</duration></file>
        <comments><mastercomment1>gentle piano</mastercomment1></comments>
        <marker><name>door slam</name><comment></comment><in>220</in><out>-1</out></marker>
      </clipitem>
      <clipitem id="c2">
        <name>Chase</name>
        <duration>2000</duration>
        <rate><timebase>24</timebase><ntsc>TRUE</ntsc></rate>
        <start>300</start><end>900</end><in>500</in><out>1100</out>
        <file id="f1"/>
      </clipitem>
    </track></video></media>
    <marker><name>big hit</name><in>450</in><out>-1</out></marker>
  </sequence>
</xmeml>
"""

FCPXML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.9">
  <resources>
    <format id="r1" name="FFVideoFormat1080p25" frameDuration="1/25s" width="1920"
      height="1080"/>
    <asset id="r2" name="a" start="0s" duration="100s" hasVideo="1" format="r1">
      <media-rep kind="original-media" src="file:///media/a.mov"/>
    </asset>
  </resources>
  <library><event name="Ev"><project name="Promo">
    <sequence format="r1" duration="20s" tcStart="3600s" tcFormat="NDF">
      <spine>
        <asset-clip ref="r2" name="Opening: calm piano" offset="3600s" start="0s"
          duration="8s" format="r1">
          <marker start="4s" duration="1/25s" value="hit"/>
        </asset-clip>
        <gap name="Gap" offset="3608s" start="0s" duration="2s"/>
        <asset-clip ref="r2" name="Chase mood=tense" offset="3610s" start="10s"
          duration="10s" format="r1"/>
      </spine>
    </sequence>
  </project></event></library>
</fcpxml>
"""


def test_fcp7_xml(tmp_path):
    path = tmp_path / "cut.xml"
    path.write_text(FCP7)
    scenes = read_shotlist(path)
    assert frames(scenes) == [(0, 240), (300, 900)]  # the gap 240..300 stays silent
    assert scenes[0].rate == Fraction(24000, 1001) and scenes[0].tc_in == "01:00:00:00"
    assert scenes[0].mood == "calm" and "gentle piano" in scenes[0].description
    # a clip marker at source frame 220 of a clip whose source starts at 100: record 120
    assert scenes[0].hits == (120,)
    assert scenes[1].hits == (450,)  # a sequence marker lands in the clip under it
    with pytest.raises(InputError, match=r"runs at 23.976 fps but the video at 25"):
        read_shotlist(path, fps="25")


def test_fcpxml(tmp_path):
    path = tmp_path / "cut.fcpxml"
    path.write_text(FCPXML)
    scenes = read_shotlist(path)
    assert frames(scenes) == [(0, 200), (250, 500)]
    assert scenes[0].tc_in == "01:00:00:00" and scenes[1].tc_out == "01:00:20:00"
    assert scenes[0].hits == (100,) and scenes[1].mood == "tense"


def test_otio_with_transition_and_gap(tmp_path):
    rate = 30000 / 1001

    def clip(name, n):
        rng = otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(n, rate)
        )
        return otio.schema.Clip(name=name, source_range=rng)

    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(clip("calm intro", 100))
    track.append(
        otio.schema.Transition(
            in_offset=otio.opentime.RationalTime(15, rate),
            out_offset=otio.opentime.RationalTime(15, rate),
        )
    )
    track.append(clip("chase", 200))
    track.append(otio.schema.Gap(duration=otio.opentime.RationalTime(50, rate)))
    track.append(clip("end", 60))
    timeline = otio.schema.Timeline(tracks=[track])
    timeline.global_start_time = otio.opentime.from_timecode("01:00:00;00", rate)
    path = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(path))
    scenes = read_shotlist(path)
    assert frames(scenes) == [(0, 100), (100, 300), (350, 410)]
    assert scenes[1].transition == "crossfade"
    assert scenes[1].transition_s == pytest.approx(30 * 1001 / 30000)
    assert scenes[0].tc_in == "01:00:00;00"  # OTIO counts 29.97 as drop-frame


@pytest.mark.parametrize(
    ("name", "text", "kwargs", "match"),
    [
        ("a.edl", EDL_DF, {}, r"a\.edl.*does not say its frame rate.*--fps"),
        ("b.edl", "TITLE: X\n\nnothing here\n", {"fps": "25"}, r"b\.edl.*no events found"),
        (
            "c.edl",
            EDL_DF.replace("01:01:05;00 01:02:00;04", "01:01:05;00 01:02:00;00"),
            {"fps": "29.97"},
            r"c\.edl:10.*frames 00-01 are skipped at the start of minute 02",
        ),
        (
            "d.edl",
            EDL_DF,
            {"fps": "29.97", "start_tc": "01:00:30;00"},
            r"d\.edl:4, scene '001', field 'tc_in': before the programme start",
        ),
        ("e.xml", "<xmeml><nonsense", {}, r"e\.xml: cannot read the cut"),
        (
            "f.edl",
            EDL_25.replace("00:00:20:13", "00:00:20:24"),
            {"fps": "23.976"},
            r"f\.edl:6, field 'timecode': frame 24 does not exist at 23.976 fps",
        ),
    ],
)
def test_bad_cuts(tmp_path, name, text, kwargs, match):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        read_shotlist(path, **kwargs)


def scene(sid, start, end, rate, tc_start, drop=False):
    return Scene(sid, start, end, rate, "x", tc_start=tc_start, drop_frame=drop)


def media(rate, frames=2100, *, audio=True, start_tc=None):
    return MediaInfo(
        path="v.mov", duration_s=float(frames / rate), rate=rate, frames=frames, width=1920,
        height=1080, video_codec="h264", container="mov", audio_streams=int(audio),
        audio_sample_rate=48000 if audio else None, audio_channels=2 if audio else None,
        start_tc=start_tc,
    )  # fmt: skip


def one(node, path):
    found = node.findall(path)
    assert len(found) == 1, (path, len(found))
    return found[0]


def check_fcp7(text, *, cues, transitions, original, video_tc):
    """What FCP 7 XML (xmeml 5) requires of a sequence, its clips and files, checked one
    element at a time (Apple's DTD cannot be shipped)."""
    root = ET.fromstring(text)
    assert root.tag == "xmeml" and root.get("version") == "5"
    seq = one(root, "sequence")
    for path in ("name", "duration", "rate/timebase", "rate/ntsc", "timecode/string",
                 "timecode/displayformat", "media/video/format/samplecharacteristics/width",
                 "media/video/format/samplecharacteristics/height",
                 "media/video/format/samplecharacteristics/rate/timebase",
                 "media/audio/format/samplecharacteristics/depth",
                 "media/audio/format/samplecharacteristics/samplerate"):  # fmt: skip
        assert one(seq, path).text, path
    items = seq.findall(".//clipitem")
    assert len(items) == 1 + int(original) + cues
    for item in items:
        one(item, "rate")  # exactly one rate per clip
        for path in ("name", "duration", "start", "end", "in", "out"):
            assert one(item, path).text is not None, path
        one(item, "file")
    for item in seq.findall("media/audio/track/clipitem"):
        assert one(item, "sourcetrack/mediatype").text == "audio"
        assert one(item, "sourcetrack/trackindex").text == "1"
    files = [f for f in seq.iter("file") if f.find("pathurl") is not None]
    assert len({f.get("id") for f in seq.iter("file")}) == len(files) == 1 + cues
    for f in files:
        assert one(f, "pathurl").text.startswith("file:///")
        one(f, "rate"), one(f, "duration"), one(f, "media")
        if f.get("id", "").startswith("file-cue"):
            assert one(f, "media/audio/channelcount").text == "2"
            assert one(f, "media/audio/samplecharacteristics/samplerate").text == "48000"
            assert f.find("timecode") is None  # the WAVs carry none
        else:
            assert (f.find("timecode") is not None) == video_tc
    tracks = seq.findall("media/audio/track")
    assert len(tracks) == 1 + int(original)
    assert all(t.get("premiereTrackType") == "Stereo" for t in tracks)
    found = seq.findall(".//transitionitem")
    assert len(found) == transitions
    for t in found:
        assert one(t, "effect/mediatype").text == "audio"
        assert one(t, "effect/effecttype").text == "transition"
        assert one(t, "alignment").text in ("center", "end-black")
        assert int(one(t, "end").text) > int(one(t, "start").text)


def check_fcpxml(text, *, cues):
    """What FCPXML 1.8 requires: resources referenced by id, rational times, the project."""
    root = ET.fromstring(text)
    assert root.tag == "fcpxml" and root.get("version") == "1.8"
    ids = {r.get("id"): r for r in one(root, "resources")}
    fmt = one(root, "resources/format")
    assert re.fullmatch(r"\d+(/\d+)?s", fmt.get("frameDuration")) and fmt.get("width")
    assets = root.findall("resources/asset")
    assert len(assets) == 1 + cues
    for asset in assets:
        assert asset.get("src").startswith("file:///") and asset.get("hasAudio") == "1"
        assert asset.get("audioChannels") and asset.get("audioRate")
    seq = one(root, "library/event/project/sequence")
    assert ids[seq.get("format")].tag == "format"
    for node in seq.iter():
        if node.get("ref"):
            assert node.get("ref") in ids, node.get("ref")
        for attr in ("offset", "duration", "start", "tcStart"):
            if node.get(attr) is not None:
                assert re.fullmatch(r"\d+(/\d+)?s", node.get(attr)), (node.tag, attr)


def fcpxml_positions(text, rate):
    """(first, end) programme frames of each music clip: the picture's offset (tcStart)
    plus the clip's offset in it (its parent's timeline)."""

    def seconds(value):
        return Fraction(value[:-1])

    root = ET.fromstring(text)
    picture = one(root, "library/event/project/sequence/spine/asset-clip")
    base = seconds(picture.get("offset")) - seconds(picture.get("start"))
    return [
        (round((base + seconds(c.get("offset"))) * rate),
         round((base + seconds(c.get("offset")) + seconds(c.get("duration"))) * rate))
        for c in picture.findall("spine[@lane='-1']/asset-clip")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("rate", "tc_start", "drop"),
    [
        (Fraction(24000, 1001), 86400, False),
        (Fraction(25), 90000, False),
        (Fraction(30000, 1001), 107892, True),
    ],
)
def test_score_round_trips_frame_by_frame(tmp_path, rate, tc_start, drop):
    spans = [("1", 0, 101), ("2", 101, 1850), ("4", 1900, 2003)]
    scenes = [scene(sid, a, b, rate, tc_start, drop) for sid, a, b in spans]
    scenes.insert(2, scene("3", 1850, 1900, rate, tc_start, drop))  # no music: a gap
    (tmp_path / "cues").mkdir()
    wavs = {sid: tmp_path / "cues" / f"{sid}.wav" for sid, _, _ in spans}
    video = tmp_path / "v.mov"
    files = write_interchange(tmp_path, scenes, wavs, video=video, media=media(rate))
    names = ["score.otio", "score.xml", "score.fcpxml", "music.edl"]
    assert [f.name for f in files] == names
    want = [(tc_start + a, tc_start + b) for _, a, b in spans]
    half = round(0.5 * rate) // 2  # the default crossfade between the touching 1 and 2
    for f in files[:2]:
        timeline = otio.adapters.read_from_file(str(f))
        tracks = list(timeline.tracks)
        start = timeline.global_start_time.rescaled_to(float(rate)).value
        got = []
        for clip in tracks[-1].find_clips():
            r = clip.range_in_parent()
            at = start + r.start_time.rescaled_to(float(rate)).value
            got.append((round(at), round(at + r.duration.rescaled_to(float(rate)).value)))
            url = clip.media_reference.target_url
            assert url.startswith("file:///") and url.endswith(".wav")
        assert got == want, f.name
        (t,) = tracks[-1].find_children(descended_from_type=otio.schema.Transition)
        assert (t.in_offset.value, t.out_offset.value) == (half, half), f.name
        assert [tr.kind for tr in tracks] == ["Video", "Audio", "Audio"], f.name
    # FCPXML: OTIO's reader takes it (and finds every cue), but counts 23.976 as 23 fps,
    # so positions are read here from the rational times themselves
    (timeline,) = otio.adapters.read_from_file(str(files[2])).find_children(
        descended_from_type=otio.schema.Timeline
    )
    assert [c.name for c in timeline.find_clips()][:3] == ["1", "2", "4"]
    assert fcpxml_positions(files[2].read_text(), rate) == want
    text = files[1].read_text()
    assert f"<string>{scenes[0].timecode(0)}</string>" in text  # 01:00:00;00
    check_fcp7(text, cues=3, transitions=1, original=True, video_tc=False)
    check_fcpxml(files[2].read_text(), cues=3)
    # the music EDL through the adapter (and our reader, which adds the start timecode)
    text = files[3].read_text()
    assert ("FCM: DROP FRAME" in text) == drop and text.count(" AA ") == 3
    back = read_shotlist(files[3], fps=rate, start_tc=scenes[0].timecode(0))
    assert [(s.start_frame + tc_start, s.end_frame + tc_start) for s in back] == want
    assert np.all([s.rate == rate for s in back])


def test_transitions_and_timecode_follow_the_cut(tmp_path):
    rate = Fraction(25)
    scenes = [
        Scene("a", 0, 100, rate, "x", tc_start=90000),
        Scene("b", 100, 200, rate, "x", tc_start=90000, transition="cut"),
        Scene("c", 200, 300, rate, "x", tc_start=90000, transition="fade", transition_s=1.0),
        Scene("d", 300, 400, rate, "x", tc_start=90000, transition_s=2.0),
    ]
    (tmp_path / "cues").mkdir()
    wavs = {s.id: tmp_path / "cues" / f"{s.id}.wav" for s in scenes}
    silent = media(rate, 400, audio=False, start_tc="01:00:00:00")
    files = write_interchange(tmp_path, scenes, wavs, video=tmp_path / "v.mov", media=silent)
    xml = ET.fromstring(files[1].read_text())
    transitions = [
        (one(t, "alignment").text, int(one(t, "start").text), int(one(t, "end").text))
        for t in xml.iter("transitionitem")
    ]
    # b: a hard cut; c: b fades to silence over 1 s by the cut; d: a 2 s crossfade
    assert transitions == [("end-black", 175, 200), ("center", 275, 325)]
    check_fcp7(files[1].read_text(), cues=4, transitions=2, original=False, video_tc=True)
    file_tc = xml.find(".//file[@id='file-video']/timecode/string").text
    assert file_tc == "01:00:00:00"  # the video's own tmcd, which it has here


def test_an_uploaded_run_links_media_inside_the_folder_and_says_how_to_relink(tmp_path):
    rate = Fraction(25)
    scenes = [Scene("1", 0, 100, rate, "x")]
    (tmp_path / "cues").mkdir()
    files = write_interchange(tmp_path, scenes, {"1": tmp_path / "cues" / "1.wav"},
                              video=tmp_path / "v.mov", media=media(rate, 100),
                              relative=True)  # fmt: skip
    assert files[-1].name == "RELINK.txt" and "Premiere" in files[-1].read_text()
    xml = files[1].read_text()
    assert "<pathurl>cues/1.wav</pathurl>" in xml and "<pathurl>v.mov</pathurl>" in xml


@pytest.mark.parametrize(("suffix", "adapter"), [(".otio", "otio_json"), (".xml", "fcp_xml")])
def test_a_cut_converted_by_otio_reads_like_the_edl(tmp_path, suffix, adapter):
    """OTIO's EDL reader leaves ``* LOC:`` locators in record timecode on the clips; the
    .otio or FCP 7 XML it writes from examples/cut.edl reads as the EDL itself does."""
    from pathlib import Path

    edl = Path(__file__).parents[2] / "examples" / "cut.edl"
    timeline = otio.adapters.read_from_file(str(edl), adapter_name="cmx_3600", rate=24000 / 1001)
    converted = tmp_path / f"cut{suffix}"
    otio.adapters.write_to_file(timeline, str(converted), adapter_name=adapter)
    direct, via = (read_shotlist(p, fps="23.976") for p in (edl, converted))
    assert [(s.start_frame, s.end_frame, s.hits) for s in via] == [
        (s.start_frame, s.end_frame, s.hits) for s in direct
    ]
    assert any(s.hits for s in via)  # the CRASH locator, on its downbeat
