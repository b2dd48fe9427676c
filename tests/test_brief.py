from fractions import Fraction

import pytest

from tasks.brief import make_brief
from tasks.errors import InputError
from tasks.model import Scene


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
