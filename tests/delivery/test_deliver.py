import csv
from fractions import Fraction

import numpy as np
import pytest

from scoreflow import config
from scoreflow.tasks.delivery.deliver import cuesheet_rows, pro_duration, write_cuesheet
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.timeline.model import Cue, Scene


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0:00"), (0.2, "0:01"), (59.4, "0:59"), (59.5, "1:00"), (125.0, "2:05")],
)
def test_pro_duration(seconds, text):
    assert pro_duration(seconds) == text


def test_cuesheet_fields(tmp_path):
    rate = Fraction(30000, 1001)
    scenes = [
        Scene("1", 0, 900, rate, "calm piano", tc_start=107892, drop_frame=True),
        Scene("2", 900, 1000, rate, "talk", music=False, tc_start=107892, drop_frame=True),
        Scene("3", 1000, 2799, rate, "radio rock", usage="VI", tc_start=107892, drop_frame=True),
    ]
    cues = {
        s.id: Cue(s.id, np.zeros((2, 10), np.float32), 48000, "composer", "gm", "p", 7, "CC0")
        for s in scenes
        if s.music
    }
    briefs = {s.id: make_brief(s) for s in scenes if s.music}
    named = {"composer": "A. Writer", "composer_affiliation": "PRS", "publisher": ""}
    people = config.load_settings(None, {"cuesheet": named}).cuesheet
    path = tmp_path / "cuesheet.csv"
    write_cuesheet(path, cuesheet_rows(scenes, cues, briefs, production="promo", people=people))
    rows = list(csv.DictReader(path.open()))
    assert [r["cue"] for r in rows] == ["01", "02"] and [r["scene"] for r in rows] == ["1", "3"]
    first, second = rows
    assert (first["tc_in"], first["tc_out"]) == ("01:00:00;00", "01:00:30;00")
    assert first["usage"] == "BI" and second["usage"] == "VI"
    assert first["duration"] == "0:30" and second["duration"] == "1:00"  # 1799 frames = 60.03 s
    assert (first["composer"], first["composer_affiliation"], first["composer_share"]) == (
        "A. Writer",
        "PRS",
        "100",
    )
    assert first["publisher"] == "" and first["publisher_share"] == ""
    assert first["production"] == "promo" and first["licence"] == "CC0"
