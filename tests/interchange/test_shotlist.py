from fractions import Fraction

import pytest

from scoreflow.tasks.audio.media import probe
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.interchange.shotlist import read_shotlist

CSV = """scene,tc_in,tc_out,description,music,intensity,key,hits
1,00:00:00:00,00:00:04:00,calm piano,,0.2,D minor,
2,00:00:04:00,00:00:08:00,rock chase,yes,,,00:00:06:00
3,00:00:09:00,00:00:11:00,dialogue,off,,,
"""
JSON = """{"fps": "25", "scenes": [
  {"id": "a", "in": "00:00:00:00", "out": "00:00:02:00", "prompt": "ambient"},
  {"id": "b", "start": "2", "duration": "3.5", "prompt": "jazz", "instruments": "piano, tenor sax"}
]}"""
YAML = """fps: 29.97
scenes:
  - scene: intro
    tc_in: "00:00:00;00"
    tc_out: "00:00:04;00"
    description: warm
  - scene: two
    tc_in: "00:00:04;00"
    tc_out: "00:00:07;29"
    description: tense
    music: false
"""


def write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return p


def test_csv(tmp_path):
    scenes = read_shotlist(write(tmp_path, "s.csv", CSV), fps="25")
    assert [s.id for s in scenes] == ["1", "2", "3"]
    assert (scenes[0].start_frame, scenes[0].end_frame) == (0, 100)
    assert scenes[0].key == "D minor" and scenes[0].intensity == 0.2
    assert scenes[1].hits == (150,)
    assert scenes[2].music is False
    assert scenes[1].origin.endswith("s.csv:3")


def test_json_aliases_and_duration(tmp_path):
    scenes = read_shotlist(write(tmp_path, "s.json", JSON))
    assert scenes[0].rate == 25
    assert (scenes[1].start_frame, scenes[1].end_frame) == (50, 138)  # 3.5 s = 87.5 -> 88
    assert scenes[1].instruments == ("piano", "tenor sax")


def test_yaml_drop_frame(tmp_path):
    scenes = read_shotlist(write(tmp_path, "s.yaml", YAML))
    assert scenes[0].rate == Fraction(30000, 1001) and scenes[0].drop_frame
    assert scenes[1].end_frame == 239 and scenes[1].music is False
    assert scenes[1].origin.endswith(":7")


def test_semicolon_csv_with_bom_and_utf16(tmp_path):
    text = CSV.replace(",", ";")
    assert len(read_shotlist(write(tmp_path, "a.csv", "\ufeff" + text), fps="25")) == 3
    assert len(read_shotlist(write(tmp_path, "b.csv", text, "utf-16"), fps="25")) == 3


def test_rate_from_video_and_past_end(tmp_path, video_25):
    info = probe(video_25)
    assert info.frames == 300
    scenes = read_shotlist(write(tmp_path, "s.csv", CSV), media=info)
    assert scenes[0].rate == 25
    late = CSV + "4,00:00:11:00,00:00:12:01,x,,,,\n"
    with pytest.raises(InputError) as err:
        read_shotlist(write(tmp_path, "late.csv", late), media=info)
    msg = str(err.value)
    assert "late.csv:5" in msg and "scene '4'" in msg and "tc_out" in msg
    assert "past the end of the video (00:00:12:00, 300 frames; programme start 00:00:00:00)" in msg
    assert "--start-tc" in msg
    with pytest.raises(InputError, match=r"frame rate 23.976 .*does not match the video's 25"):
        read_shotlist(write(tmp_path, "s.csv", CSV), fps="23.976", media=info)


HEAD = "scene,tc_in,tc_out,description\n"


def column(name, value):
    """A shot list of one 5-second scene with one more column, `name`, set to `value`."""
    return f"{HEAD.strip()},{name}\n1,0,5,a,{value}\n"


@pytest.mark.parametrize(
    ("name", "content", "fps", "expected"),
    [
        ("empty.csv", "", "25", ["empty.csv", "empty shot list"]),
        ("blank.csv", "\n\n  \n", "25", ["empty shot list"]),
        ("header.csv", HEAD, "25", ["no scenes"]),
        (
            "enc.csv",
            HEAD.encode() + "1,0,1,caf\xe9\n".encode("latin-1"),
            "25",
            ["enc.csv:2", "not UTF-8", "0xE9", "UTF-8"],
        ),
        (
            "cols.csv",
            "scene,start,description\n1,0,x\n",
            "25",
            ["cols.csv:1", "missing column(s) tc_out", "found description, scene, tc_in"],
        ),
        ("nodesc.csv", "scene,tc_in,tc_out\n1,0,1\n", "25", ["missing column(s) description"]),
        (
            "badtc.csv",
            HEAD + "1,00:00:0x:00,00:00:01:00,x\n",
            "25",
            ["badtc.csv:2", "scene '1'", "field 'tc_in'", "not a timecode", "'00:00:0x:00'"],
        ),
        (
            "frame.csv",
            HEAD + "1,00:00:00:00,00:00:01:27,x\n",
            "25",
            ["frame.csv:2", "field 'tc_out'", "frame 27 does not exist at 25 fps", "00-24"],
        ),
        (
            "df.csv",
            HEAD + "1,00:00:58;00,00:01:00;01,x\n",
            "29.97",
            ["df.csv:2", "tc_out", "skipped", "00:01:00;02"],
        ),
        (
            "order.csv",
            HEAD + "1,00:00:05:00,00:00:04:00,x\n",
            "25",
            ["order.csv:2", "scene '1'", "tc_out", "not after the in point", "'00:00:04:00'"],
        ),
        ("zero.csv", HEAD + "1,00:00:05:00,00:00:05:00,x\n", "25", ["not after the in point"]),
        (
            "overlap.csv",
            HEAD + "1,0,5,a\n2,4,8,b\n",
            "25",
            [
                "overlap.csv:3",
                "scene '2'",
                "overlaps scene '1'",
                "Start it at or after 00:00:05:00",
            ],
        ),
        ("dup.csv", HEAD + "1,0,5,a\n1,5,8,b\n", "25", ["dup.csv:3", "duplicate scene id"]),
        ("rate.csv", HEAD + "1,0,5,a\n", "31", ["unknown frame rate", "'31'", "29.97"]),
        ("noid.csv", HEAD + ",0,5,a\n", "25", ["noid.csv:2", "empty scene id"]),
        (
            "noout.csv",
            "scene,tc_in,tc_out,duration,description\n1,0,,,a\n",
            "25",
            ["noout.csv:2", "missing out point"],
        ),
        ("fmt.xlsx", "x", "25", ["unsupported shot list format", "'.xlsx'"]),
        ("bad.json", '[{"scene": 1,}]', None, ["bad.json:1", "not valid JSON"]),
        ("obj.json", '{"fps": 25, "shots": []}', None, ["'scenes' key"]),
        (
            "fps.yaml",
            "fps: 26\nscenes:\n  - {scene: 1, tc_in: 0, tc_out: 1, description: x}\n",
            None,
            ["fps.yaml:1", "field 'fps'", "unknown frame rate", "26"],
        ),
        (
            "tc.yaml",
            "fps: 25\nscenes:\n  - scene: 1\n    tc_in: 0\n    tc_out: '00:00:99:00'\n"
            "    description: x\n",
            None,
            ["tc.yaml:5", "tc_out", "minutes and seconds"],
        ),
        ("norate.csv", HEAD + "1,0,5,a\n", None, ["no frame rate", "--fps"]),
        ("item.yaml", "- just a string\n", None, ["item.yaml:1", "object of fields"]),
        (
            "start.yaml",
            "fps: 25\nstart_tc: '01:00:00:00'\nscenes:\n"
            "  - {scene: 1, tc_in: '00:59:59:00', tc_out: '01:00:01:00', description: x}\n",
            None,
            [
                "start.yaml:4",
                "field 'tc_in'",
                "before the programme start 01:00:00:00",
                "--start-tc",
            ],
        ),
    ],
)
def test_invalid(tmp_path, name, content, fps, expected):
    path = write(tmp_path, name, content)
    with pytest.raises(InputError) as err:
        read_shotlist(path, fps=fps)
    for part in expected:
        assert part in str(err.value), (part, str(err.value))


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("music", "off", {"music": False}),
        ("music", "maybe", "yes/no"),
        ("intensity", "0.5", {"intensity": 0.5}),
        ("intensity", "1.5", "between 0.0 and 1.0"),
        ("key", "F#m", {"key": "F#m"}),
        ("key", "H major", "D minor"),
        ("hits", "00:00:03:00", {"hits": (75,)}),
        ("hits", "00:00:06:00", "outside its scene"),
        ("transition", "dissolve", {"transition": "crossfade"}),
        ("transition", "wipe", "cut, crossfade or fade"),
        ("transition_s", "2.5", {"transition_s": 2.5}),
        ("transition_s", "12", "between 0.0 and 10.0"),
        ("dialogue", "yes", {"dialogue": True}),
        ("dialogue", "some", "yes/no"),
        ("usage", "mt", {"usage": "MT"}),
        ("usage", "XX", "BI (background instrumental)"),
        ("theme", "Hero", {"theme": "hero"}),
        ("theme", "the hero!", "letters, digits"),
    ],
)
def test_an_optional_field(tmp_path, field, value, expected):
    """A valid value sets the scene's attribute; an invalid one is refused at its file,
    line and field, quoting it and saying what would be valid."""
    path = write(tmp_path, "f.csv", column(field, value))
    if isinstance(expected, dict):
        scene = read_shotlist(path, fps="25")[0]
        assert {name: getattr(scene, name) for name in expected} == expected
        return
    with pytest.raises(InputError) as err:
        read_shotlist(path, fps="25")
    for part in ("f.csv:2", f"field '{field}'", f"(got '{value}')", expected):
        assert part in str(err.value), (part, str(err.value))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="shot list not found"):
        read_shotlist(tmp_path / "nope.csv", fps="25")


def test_a_theme_column_names_a_recurring_theme(tmp_path):
    text = HEAD.replace("description", "description,leitmotif") + "1,0,2,a,Hero\n2,2,4,b,\n"
    scenes = read_shotlist(write(tmp_path, "t.csv", text), fps="25")
    assert [s.theme for s in scenes] == ["hero", None]


def test_gaps_are_allowed(tmp_path):
    scenes = read_shotlist(write(tmp_path, "g.csv", HEAD + "1,0,2,a\n2,5,8,b\n"), fps="25")
    assert scenes[0].end_frame < scenes[1].start_frame


def test_transition_usage_and_programme_start(tmp_path):
    text = (
        "fps: 25\nstart_tc: '01:00:00:00'\nscenes:\n"
        "  - {scene: 1, tc_in: '01:00:00:00', tc_out: '01:00:04:00', description: x}\n"
        "  - {scene: 2, tc_in: '01:00:04:00', tc_out: '01:00:06:00', description: y,\n"
        "     transition: dissolve, transition_s: 1.5, usage: vi, hits: '01:00:05:00'}\n"
    )
    scenes = read_shotlist(write(tmp_path, "s.yaml", text))
    assert [(s.start_frame, s.end_frame) for s in scenes] == [(0, 100), (100, 150)]
    assert scenes[1].tc_in == "01:00:04:00" and scenes[1].hits == (125,)
    assert (scenes[1].transition, scenes[1].transition_s, scenes[1].usage) == (
        "crossfade",
        1.5,
        "VI",
    )
    assert scenes[0].transition is None and scenes[0].usage == "BI"
    assert scenes[0].dialogue is None and scenes[0].theme is None
    # --start-tc wins over the file's
    moved = read_shotlist(write(tmp_path, "s.yaml", text), start_tc="00:59:59:00")
    assert moved[0].start_frame == 25 and moved[0].tc_in == "01:00:00:00"


def test_programme_start_from_the_video_timecode(tmp_path, timecoded_video):
    info = timecoded_video(seconds=6, rate="25", start_tc="10:00:00:00")
    csv = "scene,tc_in,tc_out,description\n1,10:00:01:00,10:00:05:00,x\n"
    scenes = read_shotlist(write(tmp_path, "s.csv", csv), media=info)
    assert (scenes[0].start_frame, scenes[0].end_frame) == (25, 125)
    with pytest.raises(InputError, match="before the programme start 10:00:00:00"):
        read_shotlist(write(tmp_path, "z.csv", csv.replace("10:00:01", "09:59:59")), media=info)
