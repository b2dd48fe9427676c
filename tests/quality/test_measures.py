"""Quality measures on material with a known truth: a composed cue, the same cue with a
fault put in at a known place, random notes, a click track at a known tempo."""

from __future__ import annotations

import dataclasses
import io
from fractions import Fraction

import numpy as np
import pretty_midi
import pytest

from scoreflow import config
from scoreflow.tasks.engines.composer import Composer
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.quality import measures as quality
from scoreflow.tasks.quality import originality
from scoreflow.tasks.timeline.model import Scene

SR = 48000
SETTINGS = config.load_settings().quality


@pytest.fixture(scope="module")
def composer():
    return Composer.from_config(config.load_settings())


def cue_for(composer, *, hits: tuple[int, ...] = (), seed: int = 1):
    scene = Scene(
        id="1", start_frame=0, end_frame=400, rate=Fraction(25), hits=hits,
        description="tense cinematic strings and drums, 100 bpm",
    )  # fmt: skip
    brief = make_brief(scene, vocab=config.styles())
    brief = dataclasses.replace(brief, tempo_bpm=100.0, tempo_range=(100.0, 100.0))
    return brief, composer.generate([brief], seconds=[16.0], seed=seed)[0]


@pytest.fixture(scope="module")
def composed(composer):
    """A 16 s cinematic cue at 100 bpm."""
    return cue_for(composer)


@pytest.fixture(scope="module")
def with_hits(composer):
    """The same brief with hit points at 4 s and 9.6 s (the composer bends its tempo,
    up to 7 %, to land them on downbeats)."""
    return cue_for(composer, hits=(100, 240))


def measure(audio, brief, midi, bpm=None):
    return quality.measure_cue(audio, SR, brief=brief, midi=midi, bpm=bpm, settings=SETTINGS)


def test_a_composed_cue_scores_well_on_every_group(composed):
    brief, cue = composed
    q = measure(cue.audio, brief, cue.midi, cue.bpm)
    assert q["failures"] == [] and q["unmeasured"] == []
    assert set(q["scores"]) == {"adherence", "coherence", "technical"}  # no hits: no sync
    assert q["overall"] > 0.8 and min(q["scores"].values()) > 0.7, q["scores"]
    assert abs(q["adherence"]["tempo_bpm"] - 100) <= 2  # rendered at 100 bpm: within 2 %
    assert q["adherence"]["key_match"] in ("same", "relative")


def test_hit_points_land_on_strong_onsets_and_the_bent_tempo_is_measured(with_hits):
    brief, cue = with_hits
    q = measure(cue.audio, brief, cue.midi, cue.bpm)
    assert all(ms is not None and ms < 50 for ms in q["sync"]["hit_distance_ms"])
    assert q["scores"]["sync"] > 0.5
    assert q["adherence"]["tempo_error_pct"] > 2  # 100 bpm asked, up to 107 played
    assert any("off the brief" in f for f in q["failures"])


def test_tempo_of_a_click_track_at_100_bpm():
    """Independent of the composer: clicks every 0.6 s are measured at 100 bpm (2 %)."""
    x = np.zeros((2, 16 * SR), np.float32)
    for k in range(int(16 / 0.6)):
        at = round(k * 0.6 * SR)
        x[:, at : at + 200] = np.hanning(400)[200:] * (0.8 if k % 4 == 0 else 0.4)
    brief = dataclasses.replace(
        make_brief(Scene("1", 0, 400, Fraction(25), "a pulse"), vocab=config.styles()),
        tempo_bpm=100.0,
        tempo_range=(100.0, 100.0),
    )
    found = quality.adherence(
        np.asarray(x.mean(axis=0)), SR, brief=brief, pm=None
    )  # measured at the full rate here
    assert abs(found["tempo_bpm"] - 100) <= 2 and found["tempo_error_pct"] <= 2
    assert found["instruments_found"] is None  # no MIDI: not measured


def fault(audio: np.ndarray, kind: str) -> np.ndarray:
    x = audio.copy()
    if kind == "click":
        x[:, 5 * SR] += 0.4  # one sample, 5 s in
    elif kind == "clipping":
        x = np.clip(x * 8, -1, 1)
    elif kind == "dc":
        x += 0.01
    elif kind == "silence":
        x[:, 6 * SR : 8 * SR] = 0  # 2 s dropout
    return x


@pytest.mark.parametrize(
    ("kind", "figure", "failure"),
    [
        ("none", None, None),
        ("click", "clicks_s", "click(s) at [5.0]"),
        ("clipping", "clipped_runs", "clipped run(s)"),
        ("dc", "dc_db", "DC offset"),
        ("silence", "longest_silence_s", "s of silence"),
    ],
)
def test_technical_faults_are_found_where_they_are(composed, kind, figure, failure):
    _, cue = composed
    tech = quality.technical(fault(cue.audio, kind), SR, settings=SETTINGS)
    scored = quality.score({"technical": tech}, SETTINGS)
    if failure is None:
        assert scored["failures"] == [] and tech["clicks_s"] == [], tech
        return
    assert any(failure in f for f in scored["failures"]), scored["failures"]
    assert scored["scores"]["technical"] < 1.0
    if kind == "click":
        assert tech["clicks_s"] == [5.0]  # at that sample, and only there
    if kind == "silence":
        assert 1.9 <= tech["longest_silence_s"] <= 2.1
    assert tech[figure]


def scrambled(midi: bytes, seed: int = 0) -> bytes:
    """The same notes and rhythm with random pitches."""
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    rng = np.random.default_rng(seed)
    for inst in pm.instruments:
        for n in inst.notes if not inst.is_drum else []:
            n.pitch = int(np.clip(n.pitch + rng.integers(-6, 7), 21, 108))
    out = io.BytesIO()
    pm.write(out)
    return out.getvalue()


def test_random_notes_are_scored_as_incoherent(composer, composed):
    brief, cue = composed
    noise_midi = scrambled(cue.midi)
    audio = composer.render(pretty_midi.PrettyMIDI(io.BytesIO(noise_midi)), cue.samples)
    good = measure(cue.audio, brief, cue.midi, cue.bpm)
    bad = measure(audio * 0.25, brief, noise_midi, cue.bpm)
    g, b = good["coherence"], bad["coherence"]
    assert b["out_of_key"] > 2 * g["out_of_key"] + 0.1
    assert b["clashes"] > g["clashes"] + 0.3
    assert b["pc_entropy"] > g["pc_entropy"] + 0.1
    assert bad["scores"]["coherence"] < good["scores"]["coherence"] - 0.3
    assert any("out of key" in f for f in bad["failures"])


def test_a_bar_copied_throughout_is_repetition():
    inst = pretty_midi.Instrument(0)
    for bar in range(8):
        for i, p in enumerate((60, 64, 67, 72)):
            inst.notes.append(pretty_midi.Note(90, p, bar * 2 + i * 0.5, bar * 2 + i * 0.5 + 0.4))
    assert quality.repeated_bars(inst.notes, bar_s=2.0) == pytest.approx(7 / 8)
    inst.notes[5].pitch = 65  # bar 1 is now different, and nothing copies it
    assert quality.repeated_bars(inst.notes, bar_s=2.0) == pytest.approx(6 / 8)


def test_identical_cues_are_flagged_as_unoriginal(composed, composer):
    brief, cue = composed
    other = composer.generate([dataclasses.replace(brief, genre="jazz")], seconds=[16.0], seed=7)[0]
    feats = {
        sid: originality.features(c.audio, SR, midi=c.midi, melody="")
        for sid, c in (("1", cue), ("2", cue), ("3", other))
    }
    found = quality.programme_originality(feats)
    assert found["1"]["nearest_cue"] == "2" and found["1"]["likeness"] > 0.99
    assert found["3"]["likeness"] < 0.9
    alone = quality.score({"originality": found["1"]}, SETTINGS)
    assert alone["scores"]["originality"] < 0.2 and "alike 2" in alone["failures"][0]
    assert quality.score({"originality": found["3"]}, SETTINGS)["failures"] == []


@pytest.mark.parametrize(
    ("curve", "shape", "matches"),
    [
        ("rises", "up", True),
        ("rises", "down", False),
        ("falls", "down", True),
        ("swells", "arch", True),
        ("swells", "flat", False),
        ("steady", "flat", True),
        ("steady", "up", False),
    ],
)
def test_energy_curve_against_the_brief(curve, shape, matches):
    t = np.linspace(0, 1, 8)
    db = {"up": -30 + 20 * t, "down": -10 - 20 * t, "arch": -30 + 20 * np.sin(np.pi * t)}.get(
        shape, np.full(8, -20.0) + np.random.default_rng(0).normal(0, 0.3, 8)
    )
    got = quality.curve_match(list(db), curve)
    assert (got > 0.7) == matches, got


@pytest.mark.parametrize(
    ("key", "mode", "found", "expect"),
    [
        ("C", "major", (0, "major"), "same"),
        ("C", "major", (9, "minor"), "relative"),
        ("A", "minor", (0, "major"), "relative"),
        ("Eb", "major", (7, "minor"), "related"),  # iii: six of seven notes shared
        ("C", "major", (7, "major"), "related"),  # the dominant
        ("C", "major", (6, "major"), "other"),
        ("D", "dorian", (2, "minor"), "same"),
    ],
)
def test_key_match(key, mode, found, expect):
    brief = make_brief(Scene("1", 0, 400, Fraction(25), "music"), vocab=config.styles())
    brief = dataclasses.replace(brief, key=key, mode=mode)
    assert quality.key_match(found, brief) == expect


def test_a_hit_with_nothing_near_it_is_a_sync_failure(with_hits):
    _, cue = with_hits
    quiet = cue.audio.copy()
    quiet[:, 11 * SR : 13 * SR] *= 0.0  # nothing struck around 12 s
    got = quality.sync(quiet, SR, hits_s=[4.0, 12.0])
    assert got["hit_distance_ms"][0] < 50 and got["hit_distance_ms"][1] is None
    failed = quality.score({"sync": got}, SETTINGS)["failures"]
    assert failed == ["hit at 12.00 s: no strong onset within 50.0 ms"]


DESCRIPTIONS = [
    "heroic triumphant orchestral", "sad piano, rain", "tense night chase",
    "warm acoustic morning", "smoky jazz lounge", "upbeat corporate",
]  # fmt: skip


def motifs(composer, theme: str) -> dict[str, dict]:
    """The melody n-grams of six cues of different genres and moods (their own seeds)."""
    from scoreflow.tasks.engines.composer.parts import melody_instrument
    from scoreflow.tasks.engines.composer.render import midi_bytes

    vocab, out = config.styles(), {}
    for i, text in enumerate(DESCRIPTIONS):
        brief = make_brief(Scene(str(i), 0, 500, Fraction(25), text), vocab=vocab)
        brief = dataclasses.replace(brief, theme=theme, theme_seed=0)
        plan, pm = composer.compose(brief, seconds=20.0, seed=100 + i)
        melody = melody_instrument(brief, vocab) or "melody"
        out[str(i)] = {
            "motif": quality.motif_ngrams(midi_bytes(pm, plan), melody=melody),
            "theme": theme,
        }
    return out


def test_a_theme_recurs_across_cues_and_unrelated_cues_share_nothing(composer):
    themed, unrelated = motifs(composer, "hero"), motifs(composer, "")
    found = quality.motif_recurrence(themed)
    # the sad and the tense scene (both minor, other genres and tempi) share the motif
    assert quality.motif_overlap(themed["1"]["motif"], themed["2"]["motif"]) > 0.5
    assert found["1"]["with"] == "2" and found["1"]["within_theme"] > 0.5
    pairs = [(a, b) for a in themed for b in themed if a < b]
    shared = np.mean(
        [quality.motif_overlap(themed[a]["motif"], themed[b]["motif"]) for a, b in pairs]
    )
    apart = np.mean(
        [quality.motif_overlap(unrelated[a]["motif"], unrelated[b]["motif"]) for a, b in pairs]
    )
    assert shared > apart + 0.05, (shared, apart)
    assert all(v["within_theme"] is None for v in quality.motif_recurrence(unrelated).values())


def test_busier_music_where_the_briefs_ask_for_more(composer):
    """Across cues, the briefs' intensity against the measured onset density."""
    cues = {}
    for i, (text, level) in enumerate(
        [("calm ambient pad", 0.1), ("warm acoustic morning", 0.4),
         ("upbeat corporate", 0.7), ("tense night chase, fast", 1.0)]
    ):  # fmt: skip
        brief = make_brief(Scene(str(i), 0, 300, Fraction(25), text), vocab=config.styles())
        brief = dataclasses.replace(brief, intensity=level)
        cue = composer.generate([brief], seconds=[12.0], seed=5)[0]
        cues[str(i)] = measure(cue.audio, brief, cue.midi, cue.bpm)
    assert quality.intensity_vs_onsets(cues) > 0.7
    flat = {k: {"adherence": {**q["adherence"], "intensity": 0.5}} for k, q in cues.items()}
    assert quality.intensity_vs_onsets(flat) is None  # one intensity: nothing to correlate
