from fractions import Fraction

import pytest

from scoreflow.tasks.errors import InputError
from scoreflow.tasks.music.brief import link_briefs, make_brief
from scoreflow.tasks.timeline.model import Scene


def scene(description="", **kw):
    return Scene("s1", 0, 250, Fraction(25), description, origin="shots.csv:4", **kw)


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        (
            "tense night chase through wet streets",
            {"genre": "cinematic", "mood": "tense", "mode": "minor"},
        ),
        ("warm acoustic morning, gentle, hopeful", {"genre": "acoustic", "mode": "major"}),
        ("corporate upbeat ukulele 120 bpm", {"genre": "corporate", "tempo_bpm": 120.0}),
        ("lofi study beats in F# minor", {"genre": "lofi", "key": "F#", "mode": "minor"}),
        ("ambient drone, no drums", {"genre": "ambient", "drums": False}),
        ("rock anthem without drums", {"genre": "rock", "drums": False}),
        ("", {"genre": "cinematic", "mood": "neutral"}),
        ("qwerty zxcv", {"genre": "cinematic", "mood": "neutral"}),
    ],
)
def test_text(text, fields):
    b = make_brief(scene(text))
    for k, v in fields.items():
        assert getattr(b, k) == v, (k, b)


def test_explicit_fields_win():
    b = make_brief(
        scene(
            "happy jazz",
            genre="rock",
            mood="sad",
            tempo_bpm=140,
            key="Bbm",
            instruments=("violin",),
            intensity=0.9,
        )
    )
    assert (b.genre, b.mood, b.tempo_bpm, b.key, b.mode) == ("rock", "sad", 140, "Bb", "minor")
    assert b.instruments == ("violin",) and b.intensity == 0.9


def test_instrument_negation_and_text():
    b = make_brief(scene("jazz with vibraphone, no piano"))
    assert "vibraphone" in b.instruments and "piano" not in b.instruments


def test_tempo_follows_arousal():
    calm = make_brief(scene("calm peaceful rock"))
    wild = make_brief(scene("energetic driving rock"))
    assert calm.tempo_range == wild.tempo_range and calm.tempo_bpm < wild.tempo_bpm


@pytest.mark.parametrize(("field", "value"), [("genre", "polka"), ("mood", "hangry")])
def test_unknown_explicit_names(field, value):
    with pytest.raises(InputError) as err:
        make_brief(scene("x", **{field: value}))
    msg = str(err.value)
    assert "shots.csv:4" in msg and f"field '{field}'" in msg and repr(value) in msg


def test_unknown_instrument():
    with pytest.raises(InputError, match=r"unknown instruments.*kazoo"):
        make_brief(scene("x", instruments=("kazoo",)))


def at(description, start_s=30, seconds=30, **kw):
    """A scene from `start_s` to `start_s + seconds` of the programme, at 25 fps."""
    return make_brief(
        Scene("s1", start_s * 25, (start_s + seconds) * 25, Fraction(25), description, **kw)
    )


@pytest.mark.parametrize(
    ("text", "hits", "reading"),
    [
        ("builds to a crash at 00:42", (12.0,), "programme time 42.00 s"),
        ("crash at 00:12", (12.0,), "from the scene start"),
        ("sting at 0:00:41.5", (11.5,), "programme time"),
        ("hit at 00:00:40:12", (10.48,), "programme time 40.48 s"),
        ("stinger at 7.25 s", (7.25,), "from the scene start"),
        ("big hit on the cut", (0.0,), "hit on the cut"),
        ("crash at 03:00", (), "outside the scene (ignored)"),
        ("at 1:99:99:99", (), "not a time (ignored)"),
    ],
)
def test_hits_from_text(text, hits, reading):
    b = at(text)
    assert b.hits_s == pytest.approx(hits)
    assert any(reading in what for _, what in b.reading), b.reading


def test_hits_from_field_and_text_merge():
    b = at("crash at 00:45", hits=(40 * 25,))
    assert b.hits_s == (10.0, 15.0)


@pytest.mark.parametrize(
    ("text", "curve"),
    [
        ("tense chase, builds to a crash", "rises"),
        ("the storm dies down, calm", "falls"),
        ("a love theme that swells", "swells"),
        ("steady background underscore", "steady"),
        ("just a scene", "steady"),
        ("it builds, then fades", "rises"),  # the first curve word wins
    ],
)
def test_energy_curve_words(text, curve):
    assert at(text).curve == curve


def test_explicit_curve_wins_and_is_checked():
    assert at("builds", curve="falls").curve == "falls"
    with pytest.raises(InputError, match=r"unknown curve.*'wobbles'"):
        at("x", curve="wobbles")


def test_brightness_and_underscore():
    bright, dark = at("bright sparkling piano"), at("dark brooding piano")
    assert bright.brightness > 0.3 > -0.3 > dark.brightness
    empty = at("")
    assert (empty.genre, empty.mood, empty.curve, empty.intensity) == (
        "cinematic",
        "neutral",
        "steady",
        0.35,
    )
    assert at("zzz").intensity == 0.45  # unknown words: neutral mood, its own arousal


def test_reading_names_the_words():
    b = at("tense night chase, no drums, ukulele 96 bpm in F# minor")
    read = dict(b.reading)
    assert read["chase"] == "mood tense" and read["ukulele"] == "instrument ukulele"
    assert read["no drums"] == "no drums" and read["96 bpm"] == "tempo 96 bpm"
    assert read["in f# minor"] == "key F# minor"


def test_a_cue_that_follows_another_on_a_cut_is_matched():
    def scene(sid, start, end, **kw):
        return Scene(sid, start, end, Fraction(25), "rock anthem", **kw)

    scenes = [scene("a", 0, 100), scene("b", 100, 200), scene("c", 250, 300),
              scene("d", 300, 400, transition="fade")]  # fmt: skip
    linked = link_briefs(scenes, [make_brief(s) for s in scenes])
    assert [b.entry for b in linked] == ["soft", "matched", "soft", "soft"]


@pytest.mark.parametrize(
    ("first", "second", "column", "relation"),
    [
        ("warm acoustic morning", "tense night chase", {}, ("same", "relative", "related")),
        ("tense night chase, F# minor", "happy upbeat rock", {}, ("same", "relative", "related")),
        ("warm acoustic morning", "happy upbeat rock", {"key": "F# major"}, ("other",)),
    ],
)
def test_touching_cues_sit_in_related_keys_and_one_pulse(first, second, column, relation):
    """Unless the scene names its own key (a clash asked for): F# major after the C or G
    of a warm morning shares at most five notes."""
    from scoreflow.tasks.quality.measures import key_relation

    scenes = [
        Scene("a", 0, 100, Fraction(25), first),
        Scene("b", 100, 200, Fraction(25), second, **column),
    ]
    a, b = link_briefs(scenes, [make_brief(s) for s in scenes])
    minor = {"minor", "dorian", "phrygian"}
    name = [f"{x.key} {'minor' if x.mode in minor else 'major'}" for x in (a, b)]
    assert key_relation(*name) in relation, name
    if not column:  # one pulse: at least as near the tempo before (or its half, double)

        def off(bpm):
            return min(abs(bpm / (a.tempo_bpm * f) - 1) for f in (0.5, 1, 2))

        assert off(b.tempo_bpm) <= off(make_brief(scenes[1]).tempo_bpm)
        assert b.tempo_range[0] <= b.tempo_bpm <= b.tempo_range[1]
