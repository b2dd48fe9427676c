import itertools
from fractions import Fraction

import pytest

from scoreflow.tasks.errors import InputError
from scoreflow.tasks.timeline.timecode import (
    RATES,
    format_timecode,
    frame_to_sample,
    parse_rate,
    parse_timecode,
)


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("23.976", Fraction(24000, 1001)),
        ("24000/1001", Fraction(24000, 1001)),
        ("23.98", Fraction(24000, 1001)),
        ("29.97", Fraction(30000, 1001)),
        ("59.94", Fraction(60000, 1001)),
        ("25", Fraction(25)),
        (30, Fraction(30)),
        ("50", Fraction(50)),
        ("60", Fraction(60)),
    ],
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["31", "abc", "0", "12.5", ""])
def test_parse_rate_rejects_unknown(text):
    with pytest.raises(InputError, match=r"unknown frame rate.*23.976"):
        parse_rate(text)


@pytest.mark.parametrize(
    ("tc", "rate", "frame"),
    [
        ("00:00:59;29", "29.97", 1799),
        ("00:01:00;02", "29.97", 1800),  # ;00 and ;01 do not exist at minute 1
        ("00:10:00;00", "29.97", 17982),  # every tenth minute keeps them
        ("01:00:00;00", "29.97", 107892),
        ("00:01:00;04", "59.94", 3600),
        ("00:00:01:00", "23.976", 24),
        ("01:00:00:00", "25", 90000),
        ("00:00:00:49", "50", 49),
        ("00:00:01:00", "60", 60),
        ("12.5", "25", 312),  # 312.5 rounds to even
        ("10", "24", 240),
    ],
)
def test_parse_timecode(tc, rate, frame):
    assert parse_timecode(tc, parse_rate(rate)) == frame


def test_drop_frame_minute_boundary_round_trip():
    r = RATES["29.97"]
    assert format_timecode(parse_timecode("00:00:59;29", r) + 1, r, drop_frame=True) == (
        "00:01:00;02"
    )
    assert parse_timecode("00:01:05;00", r) - parse_timecode("00:00:59;20", r) == 158


@pytest.mark.parametrize("rate", list(RATES))
def test_round_trip_every_rate(rate):
    r = RATES[rate]
    drop = rate in ("29.97", "59.94")
    for frame in range(0, 400_000, 997):
        tc = format_timecode(frame, r, drop_frame=drop)
        assert parse_timecode(tc, r) == frame, tc


@pytest.mark.parametrize(
    ("tc", "rate", "message"),
    [
        ("00:00:00:30", "29.97", "frame 30 does not exist at 29.97 fps.*00-29"),
        ("00:00:00:25", "25", "frame 25 does not exist at 25 fps"),
        ("00:01:00;00", "29.97", "skipped at the start of minute 01.*00:01:00;02"),
        ("00:02:00;01", "29.97", "skipped"),
        ("00:00:10;00", "25", "drop-frame timecode at 25 fps"),
        ("00:61:00:00", "25", "minutes and seconds run 00-59"),
        ("1:2:3", "25", "not a timecode"),
        ("-5", "25", "not a timecode"),
    ],
)
def test_parse_timecode_rejects(tc, rate, message):
    with pytest.raises(InputError, match=message):
        parse_timecode(tc, parse_rate(rate))


def test_adjacent_scenes_tile_samples():
    r = RATES["23.976"]
    spans = [
        (frame_to_sample(a, r, 48000), frame_to_sample(a + 7, r, 48000)) for a in range(0, 700, 7)
    ]
    assert all(e == s for (_, e), (s, _) in itertools.pairwise(spans))
    assert spans[-1][1] == round(Fraction(700) * 48000 / r)
