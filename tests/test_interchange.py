"""Cuts in (EDL, FCP 7 XML, FCPXML, .otio) and the score out, checked frame by frame.

Expected frames are worked out by hand from the timecodes, not by our timecode code.
"""

from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest

from scoreflow.tasks.deliver import write_interchange
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.media import generate_video, probe
from scoreflow.tasks.model import Scene
from scoreflow.tasks.shotlist import read_shotlist

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


def test_edl_start_from_the_video_timecode(tmp_path):
    video = generate_video(
        tmp_path / "tc.mov",
        seconds=400,
        rate="30000/1001",
        size="64x36",
        crf=51,
        dialogue=False,
        start_tc="01:00:00;00",
    )
    info = probe(video)
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
    files = write_interchange(tmp_path, scenes, wavs, video=video, video_frames=2100)
    assert [f.name for f in files] == ["score.otio", "score.xml", "music.edl"]
    want = [(tc_start + a, tc_start + b) for _, a, b in spans]
    for f in files[:2]:
        timeline = otio.adapters.read_from_file(str(f))
        music = next(t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio)
        start = timeline.global_start_time.rescaled_to(float(rate)).value
        got = []
        for clip in music.find_clips():
            r = clip.range_in_parent()
            at = start + r.start_time.rescaled_to(float(rate)).value
            got.append((round(at), round(at + r.duration.rescaled_to(float(rate)).value)))
            url = clip.media_reference.target_url
            assert url.startswith("file://") and url.endswith(".wav")
        assert got == want, f.name
    assert f"<string>{scenes[0].timecode(0)}</string>" in files[1].read_text()  # 01:00:00;00
    # the music EDL through the adapter (and our reader, which adds the start timecode)
    text = files[2].read_text()
    assert ("FCM: DROP FRAME" in text) == drop and text.count(" AA ") == 3
    back = read_shotlist(files[2], fps=rate, start_tc=scenes[0].timecode(0))
    assert [(s.start_frame + tc_start, s.end_frame + tc_start) for s in back] == want
    assert np.all([s.rate == rate for s in back])
