"""`tasks.library.catalogue_index`: track titles, catalog.csv, catalog.json, the waveform
images and index.html, read back with the standard library's csv, json, XML and HTML
parsers."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest
import soundfile

from scoreflow.tasks.library import catalogue_index

VOCAB = {
    "titles": {
        "moods": {"calm": ["Still", "Soft"]},
        "genres": {"ambient": ["Drift", "Haze", "Tide"]},
        "places": ["Harbour", "Dusk"],
        "adjectives": ["Quiet"],
        "nouns": ["Light"],
    }
}


def all_titles(mood: str, genre: str, vocab: dict) -> set[str]:
    """Every title the vocabulary allows for a mood and genre (the three patterns)."""
    words = vocab.get("titles", {})
    adjectives = words.get("moods", {}).get(mood) or words.get("adjectives", ["Quiet"])
    nouns = words.get("genres", {}).get(genre) or words.get("nouns", ["Light"])
    places = words.get("places", ["Morning"])
    return (
        {f"{a} {n}" for a in adjectives for n in nouns}
        | {f"{n} of {p}" for n in nouns for p in places}
        | {f"{a} {p}" for a in adjectives for p in places}
    )


@pytest.mark.parametrize(
    ("mood", "genre", "vocab"),
    [
        ("calm", "ambient", VOCAB),
        ("tense", "rock", VOCAB),  # unknown words: the vocabulary's defaults
        ("calm", "ambient", {}),  # no [titles] at all: the built-in words
    ],
)
def test_titles_come_from_the_vocabulary_and_are_stable(mood, genre, vocab):
    allowed = all_titles(mood, genre, vocab)
    for seed in range(20):
        title = catalogue_index.make_title(
            f"t{seed:03d}", genre=genre, mood=mood, seed=seed, vocab=vocab, taken=set()
        )
        assert title in allowed
        again = catalogue_index.make_title(
            f"t{seed:03d}", genre=genre, mood=mood, seed=seed, vocab=vocab, taken=set()
        )
        assert again == title


def test_titles_are_unique_among_those_taken_then_numbered():
    """One track id and seed asked again and again: each combination of its words once,
    then its first title with numerals from 2."""
    taken: set[str] = set()
    made = []
    for _ in range(12):  # at most 2 x 3 combinations for one id and seed
        title = catalogue_index.make_title(
            "t1", genre="ambient", mood="calm", seed=7, vocab=VOCAB, taken=taken
        )
        assert title.lower() not in taken
        taken.add(title.lower())
        made.append(title)
    plain = [t for t in made if not t.split()[-1].isdigit()]
    assert 1 <= len(plain) <= 6 and set(plain) <= all_titles("calm", "ambient", VOCAB)
    assert made[: len(plain)] == plain
    assert made[len(plain) :] == [f"{made[0]} {k}" for k in range(2, 14 - len(plain))]


def test_a_title_taken_in_lower_case_is_not_given_again():
    first = catalogue_index.make_title(
        "t1", genre="ambient", mood="calm", seed=3, vocab=VOCAB, taken=set()
    )
    assert first != first.lower()  # titles are capitalised; `taken` holds them lower-case
    other = catalogue_index.make_title(
        "t1", genre="ambient", mood="calm", seed=3, vocab=VOCAB, taken={first.lower()}
    )
    assert other.lower() != first.lower()


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ({"title": "Plain", "bpm": 96.5}, {"title": "Plain", "bpm": "96.5"}),
        ({"instruments": ["piano", "cello"]}, {"instruments": "piano cello"}),
        ({"title": "=HYPERLINK(1)"}, {"title": "'=HYPERLINK(1)"}),  # no formula
        ({"description": "+1 and -2", "mood": "@x"}, {"description": "'+1 and -2", "mood": "'@x"}),
        ({"title": "bell\x07 ring"}, {"title": "bell ring"}),  # control characters go
        ({"not_a_column": "x", "title": "t"}, {"title": "t"}),  # extra keys left out
        ({}, {}),
    ],
)
def test_csv_rows(tmp_path, given, written):
    path = tmp_path / "catalog.csv"
    catalogue_index.write_csv(path, [given])
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == catalogue_index.CSV_FIELDS
    assert len(rows) == 1
    assert {k: v for k, v in rows[0].items() if v} == written


def test_json_round_trips(tmp_path):
    path = tmp_path / "catalog.json"
    doc = {"name": "Lib", "tracks": [{"id": "t1", "bpm": 96.5, "flags": []}], "at": tmp_path}
    catalogue_index.write_json(path, doc)
    assert json.loads(path.read_text()) == {**doc, "at": str(tmp_path)}


@pytest.mark.parametrize(
    ("width", "height", "samples"),
    [(600, 60, 48000), (40, 20, 400), (10, 10, 7)],  # fewer samples than columns
)
def test_waveform_is_the_peak_per_column(tmp_path, width, height, samples):
    rng = np.random.default_rng(1)
    audio = rng.uniform(-0.9, 0.9, (samples, 2)).astype(np.float32)
    wav = tmp_path / "a.wav"
    soundfile.write(wav, audio, 48000, subtype="FLOAT")
    svg = tmp_path / "a.svg"
    catalogue_index.waveform_svg(svg, wav, width=width, height=height)
    root = ET.parse(svg).getroot()
    assert root.get("viewBox") == f"0 0 {width} {height}"
    polygon = root.find("{http://www.w3.org/2000/svg}polygon")
    points = [tuple(map(float, p.split(","))) for p in polygon.get("points").split()]
    assert len(points) == 2 * width
    mid = height / 2
    q, r = divmod(samples, width)  # columns as even as can be, the longer ones first
    starts = [x * q + min(x, r) for x in range(width + 1)]
    for x in range(width):
        lo, hi = starts[x], starts[x + 1]
        part = np.abs(audio[lo:hi]).max() if hi > lo else 0.0
        assert points[x] == (x, pytest.approx(mid - part * mid, abs=0.051))
        assert points[2 * width - 1 - x] == (x, pytest.approx(mid + part * mid, abs=0.051))


class Page(HTMLParser):
    """What index.html shows: sections by track, players' sources, options, images."""

    def __init__(self) -> None:
        super().__init__()
        self.tracks: list[dict[str, str]] = []
        self.players: list[str] = []
        self.images: list[str] = []
        self.options: dict[str, list[str]] = {}
        self.text: list[str] = []
        self._select = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.tracks.append(a)
        elif tag == "audio":
            self.players.append(a["src"])
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "select":
            self._select = a["id"]
        elif tag == "option":
            self.options.setdefault(self._select, []).append(a["value"])
        elif tag in ("script", "link") and (a.get("src") or a.get("href")):
            raise AssertionError(f"the page fetches {a}")

    def handle_data(self, data):
        self.text.append(data)


def track(track_id, *, genre, mood, bpm, title=None, files=("main.mp3",), **extra):
    return {
        "id": track_id,
        "title": title or track_id.upper(),
        "genre": genre,
        "mood": mood,
        "bpm": bpm,
        "key": "A minor",
        "instruments": ["piano"],
        "waveform": f"tracks/{track_id}/w.svg",
        "versions": [
            {"version": f.split(".")[0], "duration_s": 30.0, "file": f"tracks/{track_id}/{f}"}
            for f in files
        ]
        + [{"version": "sting", "duration_s": 2.0, "file": ""}],  # not made: no player
        **extra,
    }


def test_index_lists_every_track_with_relative_players(tmp_path):
    tracks = [
        track("a", genre="rock", mood="tense", bpm=128.0, files=("main.mp3", "30s.mp3")),
        track("b", genre="ambient", mood="calm", bpm=70.0, flags=["main: tempo off"]),
        track("c", genre="rock", mood="calm", bpm=99.6, unavailable="loops (no arrangement)"),
    ]
    path = tmp_path / "index.html"
    catalogue_index.write_index(path, {"name": "Lib <1>", "tracks": tracks})
    page = Page()
    page.feed(path.read_text())
    assert [(t["data-genre"], t["data-mood"], float(t["data-bpm"])) for t in page.tracks] == [
        ("rock", "tense", 128.0),
        ("ambient", "calm", 70.0),
        ("rock", "calm", 99.6),
    ]
    expected = [v["file"] for t in tracks for v in t["versions"] if v["file"]]
    assert page.players == expected and all(not p.startswith(("/", "http")) for p in expected)
    assert page.images == [t["waveform"] for t in tracks]
    assert page.options == {"genre": ["", "ambient", "rock"], "mood": ["", "calm", "tense"]}
    text = "".join(page.text)
    assert "Lib <1>" in text and "main: tempo off" in text
    assert "not made: loops (no arrangement)" in text and "100 bpm" in text
    assert "of 3 tracks" in text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "<script>alert(1)</script>"),
        ("genre", '"><img src=x onerror=alert(1)>'),
        ("mood", "a & b"),
    ],
)
def test_index_escapes_what_the_brief_wrote(tmp_path, field, value):
    t = track("a", genre="rock", mood="calm", bpm=100.0)
    t[field] = value
    path = tmp_path / "index.html"
    catalogue_index.write_index(path, {"name": "Lib", "tracks": [t]})
    page = Page()
    page.feed(path.read_text())  # raises on any script with a src
    assert page.images == [t["waveform"]] and len(page.tracks) == 1
    assert value in "".join(page.text) or page.tracks[0][f"data-{field}"] == value


def test_index_of_an_empty_catalogue(tmp_path):
    path = tmp_path / "index.html"
    catalogue_index.write_index(path, {"name": "Empty", "tracks": []})
    page = Page()
    page.feed(path.read_text())
    assert page.tracks == [] and page.players == []
    assert page.options == {"genre": [""], "mood": [""]}
