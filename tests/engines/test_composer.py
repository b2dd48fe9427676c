import io
import itertools
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import librosa
import numpy as np
import pretty_midi
import pytest

from scoreflow import config
from scoreflow.tasks.audio import analysis
from scoreflow.tasks.engines import get_backend
from scoreflow.tasks.engines.composer import Composer, choose_beats, chord, make_grid, split_meters
from scoreflow.tasks.engines.composer.parts import melody_instrument
from scoreflow.tasks.engines.composer.plan import ramp_tempi
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.music.theory import pitch_class
from scoreflow.tasks.timeline.model import Scene

SR = 48000
GENRES = ("cinematic", "ambient", "electronic", "rock", "lofi", "corporate", "acoustic", "jazz")


def brief(text, seconds=20.0, **kw):
    return make_brief(Scene("c", 0, round(seconds * 25), Fraction(25), text, **kw))


@pytest.fixture(scope="module")
def composer():
    return Composer()


def render(composer, text, seconds=20.0, seed=1, **kw):
    b = brief(text, seconds, **kw)
    return b, composer.generate([b], seconds=[seconds], seed=seed)[0]


@pytest.mark.parametrize(
    ("numeral", "tonic", "expected"),
    [
        ("I", 0, (0, (0, 4, 7))),
        ("vi", 0, (9, (0, 3, 7))),
        ("bVII", 2, (0, (0, 4, 7))),
        ("V7", 0, (7, (0, 4, 7, 10))),
        ("Imaj7", 0, (0, (0, 4, 7, 11))),
        ("iio", 0, (2, (0, 3, 6))),
        ("V7/vi", 0, (4, (0, 4, 7, 10))),  # E7 leads to A minor
        ("V7/V", 7, (9, (0, 4, 7, 10))),  # in G: A7 leads to D
        ("X", 0, InputError),
        ("V/Q", 0, InputError),
    ],
)
def test_chords(numeral, tonic, expected):
    if expected is InputError:
        with pytest.raises(InputError, match="Roman-numeral"):
            chord(numeral, tonic)
    else:
        assert chord(numeral, tonic) == expected


@pytest.mark.parametrize(
    ("seconds", "target", "tempo_range", "bars_only", "max_error"),
    [
        (9.37, 100, (80, 120), True, 0),
        (31.0, 100, (80, 120), True, 0),
        (95.5, 100, (80, 120), True, 0),
        (12.0, 128, (128, 128), False, 2.2),  # exact tempo: whole beats, small error
        (15.0, 120, (120, 120), False, 0),  # 30 beats: seven 4/4 bars and a 2/4
        (0.4, 110, (105, 125), False, 45),  # a stinger shorter than a beat in range
    ],
)
def test_choose_beats(seconds, target, tempo_range, bars_only, max_error):
    beats, bpm, error = choose_beats(seconds, target_bpm=target, tempo_range=tempo_range)
    assert beats * 60 / bpm == pytest.approx(seconds)
    assert error <= max_error
    if bars_only:
        assert beats % 4 == 0 and tempo_range[0] <= bpm <= tempo_range[1]
    meters = split_meters(beats, odd_bar_last=False)
    assert sum(meters) == beats and meters[-1] == (4 if beats >= 8 else meters[-1])


@pytest.mark.parametrize(
    ("seconds", "hits", "on_grid"),
    [
        (30.0, (12.0,), (12.0,)),
        (17.3, (5.1, 11.0), (5.1, 11.0)),
        (20.0, (0.0, 10.0), (10.0,)),  # a hit on the cut is the first downbeat
        (20.0, (0.1, 19.95), ()),  # too close to the edges: played off-grid
        (61.7, (7.3, 7.6, 33.0), (7.3, 33.0)),  # 0.3 s after a hit: off-grid
    ],
)
def test_grid_lands_hits_on_downbeats(seconds, hits, on_grid):
    bars, _, off_grid = make_grid(seconds, hits_s=hits, target_bpm=96, tempo_range=(80, 110))
    assert bars[0].start_s == 0 and bars[-1].end_s == pytest.approx(seconds, abs=1e-9)
    for a, b in itertools.pairwise(bars):
        assert b.start_s == pytest.approx(a.end_s, abs=1e-9)
        assert abs(b.bpm / a.bpm - 1) < 0.09  # tempo changes stay small
    starts = [b.start_s for b in bars]
    for h in on_grid:
        assert min(abs(s - h) for s in starts) < 1e-9
    assert sorted(off_grid) == sorted(set(hits) - set(on_grid) - {0.0})


@pytest.mark.parametrize(
    "text",
    [
        "tense night chase through wet streets, builds to a crash at 00:07.3",
        "warm acoustic morning, gentle, hopeful, hit at 5.1 s",
        "corporate upbeat ukulele 120 bpm, logo at 6 s",
        "smoky jazz lounge at 00:08",
        "calm ambient, no drums, at 9 s",
        "electronic club at 4.4 s",
        "big hit on the cut, rock anthem",
        "lofi study beats at 3.3 s",
    ],
)
def test_length_downbeats_and_hits(composer, text):
    seconds = 17.3
    b, cue = render(composer, text, seconds, seed=2)
    assert cue.audio.shape == (2, round(seconds * SR)) and cue.audio.dtype == np.float32
    assert b.hits_s, "the text names a hit point"
    # From the MIDI file: its own tempo map and meters put the hits and the final
    # downbeat on downbeats, the grid closes on the cut, and notes start there.
    pm = pretty_midi.PrettyMIDI(io.BytesIO(cue.midi))
    downbeats = pm.get_downbeats()
    final = cue.metrics["downbeats_s"][-1]
    starts = np.array([n.start for i in pm.instruments for n in i.notes])
    for t in [*b.hits_s, final, seconds]:
        assert np.abs(downbeats - t).min() < 0.010, t
    for t in [*b.hits_s, final]:
        assert np.abs(starts - t).min() < 0.010, t
    # From the audio: an attack within 10 ms of each hit and of the final downbeat.
    full = np.concatenate([cue.audio, cue.tail], axis=1)
    for t, (at, strength) in zip(
        [*b.hits_s, final], analysis.attacks_near(full, SR, [*b.hits_s, final]), strict=True
    ):
        assert abs(at - t) <= 0.010 and strength > 3, (t, at, strength)
    assert cue.metrics["tempo_error_bpm"] <= 2.5


@pytest.mark.parametrize("text", ["rock anthem", "calm ambient, no drums"])
def test_off_grid_hits_still_sound(composer, text):
    _, cue = render(composer, f"{text}, hits at 6 s and at 6.2 s", 14.0, seed=3)
    assert cue.metrics["off_grid_hits_s"] == [6.2]
    full = np.concatenate([cue.audio, cue.tail], axis=1)
    ((at, strength),) = analysis.attacks_near(full, SR, [6.2], window_s=0.015)
    assert abs(at - 6.2) <= 0.010 and strength > 3


def test_midi_export_carries_the_plan(composer):
    b, cue = render(composer, "rock anthem, hit at 6.3 s", 14.0, seed=5)
    plan, _ = composer.compose(b, seconds=14.0, seed=5)
    pm = pretty_midi.PrettyMIDI(io.BytesIO(cue.midi))
    times, tempi = pm.get_tempo_changes()
    expected = plan.tempo_map()
    assert len(times) == len(expected)
    for (t, bpm), t2, bpm2 in zip(expected, times, tempi, strict=True):
        assert abs(t - t2) < 0.002 and abs(bpm - bpm2) < 0.01
    assert [i.name for i in pm.instruments][-1] == "drums" and pm.instruments[-1].is_drum
    assert {i.name for i in pm.instruments} >= set(b.instruments)
    key = pm.key_signature_changes[0].key_number
    assert key % 12 == pitch_class(b.key) and (key >= 12) == (b.mode == "minor")
    assert sum(ts.numerator for ts in pm.time_signature_changes) >= 4


def test_deterministic_and_seeds_differ(composer):
    b = brief("warm acoustic morning", 15.0)
    a1, a2, a3 = (composer.generate([b], seconds=[15.0], seed=s)[0] for s in (11, 11, 12))
    assert np.array_equal(a1.audio, a2.audio) and a1.midi == a2.midi

    def chroma(cue):
        c = librosa.feature.chroma_cqt(y=librosa.to_mono(cue.audio), sr=SR, hop_length=2400)
        return c / np.maximum(np.linalg.norm(c, axis=0), 1e-9)

    same = float(np.mean(np.sum(chroma(a1) * chroma(a2), axis=0)))
    other = float(np.mean(np.sum(chroma(a1) * chroma(a3), axis=0)))
    assert same > 0.999 and other < 0.9  # a different piece, not a remix

    def notes(cue):
        pm = pretty_midi.PrettyMIDI(io.BytesIO(cue.midi))
        return {(i.name, round(n.start * 8), n.pitch) for i in pm.instruments for n in i.notes}

    n1, n3 = notes(a1), notes(a3)
    assert len(n1 & n3) / len(n1 | n3) < 0.5


def test_genres_sound_different(composer):
    """Timbre and rhythm (MFCC mean and spread) tell the genres apart: a second seed of
    every genre is nearer its own genre's first seed than any other genre's."""
    features = {}
    for genre, seed in itertools.product(GENRES, (1, 2)):
        _, cue = render(composer, genre, 16.0, seed=seed)
        mfcc = librosa.feature.mfcc(y=librosa.to_mono(cue.audio), sr=SR, n_mfcc=20)
        features[genre, seed] = np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)])
    for genre in GENRES:
        nearest = min(GENRES, key=lambda g: np.linalg.norm(features[genre, 2] - features[g, 1]))
        assert nearest == genre


@pytest.mark.parametrize(
    ("measure", "low", "high"),
    [
        ("tempo", "calm slow rock", "energetic fast rock"),
        ("mode", "happy cinematic in D", "sad cinematic in D"),
        ("brightness", "dark low brooding piano, no drums", "bright sparkling piano, no drums"),
        ("density", "calm gentle acoustic", "energetic driving acoustic"),
    ],
)
def test_words_move_the_music(composer, measure, low, high):
    (b_lo, lo), (b_hi, hi) = (render(composer, t, 16.0, seed=3) for t in (low, high))
    if measure == "tempo":
        measured = [analysis.estimate_tempo(c.audio, SR, start_bpm=c.bpm) for c in (lo, hi)]
        for cue, bpm in zip((lo, hi), measured, strict=True):
            assert min(abs(bpm - cue.bpm), abs(2 * bpm - cue.bpm)) < 0.06 * cue.bpm
        assert hi.bpm > lo.bpm * 1.15 and measured[1] > measured[0]
    elif measure == "mode":
        tonic = pitch_class("D")

        def minor_lean(cue):
            scores = analysis.key_scores(cue.audio, SR)
            return scores[tonic, "minor"] - scores[tonic, "major"]

        assert (b_lo.mode, b_hi.mode) == ("major", "minor")
        assert minor_lean(lo) < 0 < minor_lean(hi)
    elif measure == "brightness":
        centroids = [analysis.spectral_centroid_hz(c.audio, SR) for c in (lo, hi)]
        assert centroids[1] > 1.2 * centroids[0]
    else:
        rates = [analysis.onset_rate(c.audio, SR) for c in (lo, hi)]
        assert rates[1] > 1.3 * rates[0]


@pytest.mark.parametrize(("curve", "rising"), [("builds", True), ("fades out", False)])
def test_energy_curve(composer, curve, rising):
    _, cue = render(composer, f"cinematic drama, {curve}", 30.0, seed=4)
    mono = librosa.to_mono(cue.audio)
    third = len(mono) // 3
    first, last = (10 * np.log10(np.mean(mono[s : s + third] ** 2)) for s in (0, len(mono) - third))
    assert (last - first > 3) if rising else (first - last > 3)


def test_not_a_loop(composer):
    """Long cues do not repeat one bar group: see `analysis.loop_score` for the measure;
    the counter-example, four bars of the same cue tiled, scores near 1."""
    for genre in ("rock", "ambient", "corporate"):
        _, cue = render(composer, "", 60.0, seed=7, genre=genre)
        score, _ = analysis.loop_score(cue.audio, SR)
        d = cue.metrics["downbeats_s"]
        bars4 = cue.audio[:, round(d[2] * SR) : round(d[6] * SR)]
        looped = np.tile(bars4, (1, cue.samples // bars4.shape[1] + 1))[:, : cue.samples]
        loop, lag = analysis.loop_score(looped, SR)
        assert score < 0.92 < 0.97 < loop, (genre, score, loop)
        assert lag == pytest.approx(bars4.shape[1] / SR, rel=0.05) or lag > 2 * (d[1] - d[0])


@pytest.mark.parametrize("genre", GENRES)
def test_no_clipping_no_silence(composer, genre):
    _, cue = render(composer, "calm", 10.0, seed=8, genre=genre)
    assert float(np.abs(cue.audio).max()) <= 0.891
    mono = librosa.to_mono(cue.audio)
    frames = mono[: len(mono) // (SR // 2) * (SR // 2)].reshape(-1, SR // 2)
    assert (np.sqrt((frames**2).mean(axis=1)) > 1e-3).all()


def test_short_and_odd_lengths(composer):
    for seconds in (0.3, 1.0, 2.7):
        _, cue = render(composer, "rock", seconds, seed=1)
        assert cue.samples == round(seconds * SR) and np.abs(cue.audio).max() > 0.01


def test_registry_and_errors(tmp_path):
    def settings(backend="composer", styles=""):
        return config.load_settings(None, {
            "pipeline": {"backend": backend, "model": "", "sample_rate": SR},
            "composer": {"soundfont": "", "gain_db": -6.0, "reverb": 0.0, "styles": styles},
        })  # fmt: skip

    assert get_backend(settings()).name == "composer"
    with pytest.raises(InputError, match=r"unknown backend.*'polka'.*stable-audio"):
        get_backend(settings(backend="polka"))
    with pytest.raises(InputError, match="SoundFont not found"):
        Composer(soundfont="/nonexistent.sf2")
    bad = tmp_path / "styles.toml"
    bad.write_text('[genres.rock]\nmajor = ["I IV Q7"]\n')
    with pytest.raises(InputError, match=r"genres\.rock\.major.*Q7"):
        get_backend(settings(styles=str(bad)))


# -- the sound of a finished record (issue 12): each claim measured ------------------------
def grid16(pm):
    """Sixteenth-note grid times from a MIDI file's beats (as bench_sound measures)."""
    beats = pm.get_beats()
    step = np.diff(np.append(beats, 2 * beats[-1] - beats[-2]))
    return (beats[:, None] + step[:, None] * np.arange(4) / 4).ravel()


def midi_of(cue):
    return pretty_midi.PrettyMIDI(io.BytesIO(cue.midi))


@pytest.fixture(scope="module")
def long_rock(composer):
    return render(composer, "rock anthem, driving guitars", 90.0, seed=11)


def test_parts_are_played_with_a_groove_not_on_the_grid(long_rock, composer):
    _, cue = long_rock
    pm = midi_of(cue)
    grid = grid16(pm)
    groove = composer.vocab["genres"]["rock"]["groove"]["push_ms"]
    offsets = {}
    for inst in pm.instruments:
        starts = np.array([n.start for n in inst.notes if n.start > 0.05])
        if len(starts) < 16:
            continue
        dev = (starts - grid[np.abs(grid[None, :] - starts[:, None]).argmin(axis=1)]) * 1000
        assert 3.0 <= dev.std() <= 25.0, (inst.name, dev.std())  # human, not sloppy
        assert np.abs(dev).max() <= 60.0, inst.name
        offsets[inst.name] = dev
    kit = next(i for i in pm.instruments if i.is_drum)
    snare = np.array([n.start for n in kit.notes if n.pitch == 38 and n.velocity > 50])
    hats = np.array([n.start for n in kit.notes if n.pitch == 42])
    lateness = [
        np.median(t - grid[np.abs(grid[None, :] - t[:, None]).argmin(axis=1)])
        for t in (snare, hats)
    ]
    assert groove["snare"] > groove["hat"] and lateness[0] > lateness[1] + 0.004  # laid back


def test_velocities_follow_the_beat_and_the_melody_breathes(long_rock, composer):
    b, cue = long_rock
    pm = midi_of(cue)
    tune = melody_instrument(b, composer.vocab) or "melody"
    melody = next(i for i in pm.instruments if i.name == tune)
    assert np.std([n.velocity for n in melody.notes]) >= 8
    grid = grid16(pm)
    kit = next(i for i in pm.instruments if i.is_drum)
    hats = [n for n in kit.notes if n.pitch == 42]
    place = [int(np.abs(grid - n.start).argmin()) % 4 for n in hats]
    on = [n.velocity for n, k in zip(hats, place, strict=True) if k == 0]
    off = [n.velocity for n, k in zip(hats, place, strict=True) if k == 2]
    assert np.mean(on) > np.mean(off) + 4  # hats lean on the beat


def test_long_cues_vary_their_drum_bars(long_rock):
    _, cue = long_rock
    pm = midi_of(cue)
    grid = grid16(pm)
    downbeats = [*pm.get_downbeats(), pm.get_end_time()]
    kit = [n for i in pm.instruments if i.is_drum for n in i.notes]
    patterns = []
    for a, b in itertools.pairwise(downbeats):
        first = int(np.abs(grid - a).argmin())
        patterns.append(frozenset((n.pitch, int(np.abs(grid - n.start).argmin()) - first)
                                  for n in kit if a - 0.02 <= n.start < b - 0.02))  # fmt: skip
    assert len(set(patterns)) / len(patterns) >= 0.25
    ghosts = [n for n in kit if n.pitch == 38 and n.velocity < 45]
    assert ghosts and any(n.pitch == 46 for n in kit)  # ghost notes and open hats


def test_sustained_parts_swell_and_every_part_has_dynamics(composer):
    _, cue = render(composer, "cinematic drama, swells", 20.0, seed=2)
    pm = midi_of(cue)
    strings = next(i for i in pm.instruments if i.name == "strings")
    values = [c.value for c in strings.control_changes if c.number == 11]
    assert len(values) > 16 and max(values) - min(values) >= 20
    for inst in pm.instruments:
        if not inst.is_drum and inst.program != 47:
            assert any(c.number == 11 for c in inst.control_changes), inst.name


@pytest.mark.parametrize(
    ("key", "mode"), [(k, m) for k in ("C", "F#", "Bb", "A", "E") for m in ("minor", "major")]
)
def test_key_signatures_name_the_briefs_key(composer, key, mode):
    mood = "sad" if mode == "minor" else "happy"
    b, cue = render(composer, f"{mood} acoustic in {key} {mode}", 4.0, seed=1)
    assert (b.key, b.mode) == (key, mode)
    number = midi_of(cue).key_signature_changes[0].key_number
    assert number % 12 == pitch_class(key) and (number >= 12) == (mode == "minor")


@pytest.mark.parametrize("genre", GENRES)
def test_every_part_stays_in_its_instruments_range(composer, genre):
    _, cue = render(composer, "bright high energetic", 30.0, seed=3, genre=genre)
    insts = composer.vocab["instruments"]
    for inst in midi_of(cue).instruments:
        if inst.name in insts:
            lo, hi = insts[inst.name]["range"]
            pitches = [n.pitch for n in inst.notes]
            assert not pitches or (lo <= min(pitches) and max(pitches) <= hi), inst.name


def test_a_cue_after_a_cut_opens_at_full_strength(composer):
    b = brief("rock anthem, driving guitars", 30.0)
    levels = {}
    for entry in ("soft", "matched"):
        cue = composer.generate([replace(b, entry=entry)], seconds=[30.0], seed=5)[0]
        head, rest = cue.audio[:, : 3 * SR], cue.audio[:, 3 * SR :]
        levels[entry] = 10 * np.log10(np.mean(head**2) / np.mean(rest**2))
    assert levels["soft"] < -4 and levels["matched"] > -2.5


def test_a_falling_cue_ends_soft(composer):
    plan_b = brief("cinematic drama, fades out", 30.0)
    cue = composer.generate([plan_b], seconds=[30.0], seed=4)[0]
    struck = [
        n
        for i in midi_of(cue).instruments
        for n in i.notes
        if n.start >= cue.metrics["downbeats_s"][-1] - 0.001
    ]
    assert struck and max(n.velocity for n in struck) < 100  # no loud stab at a fade's end


def test_soundfont_choice_licence_and_notice(tmp_path):
    from test_soundfont import build_sf2, sine

    from scoreflow.tasks.engines.composer import render as composer_render

    chosen = composer_render.default_soundfont()
    system = [p for p in composer_render.SYSTEM_SOUNDFONTS if Path(p).is_file()]
    assert chosen == (system[0] if system else composer_render.bundled_soundfont())
    fallback = Composer(soundfont=composer_render.bundled_soundfont())
    assert "TimGM6mb" in fallback.notices[0] and "GPL-2.0" in fallback.licence
    custom = tmp_path / "mine.sf2"
    custom.write_bytes(build_sf2([sine(440, 0.5)], [{53: 0}], copyright="(c) Jo, CC-BY-SA"))
    unknown = Composer(soundfont=str(custom))
    assert unknown.soundfont_licence == "unverified, the file says: (c) Jo, CC-BY-SA"
    assert any("composer.soundfont_licence" in n for n in unknown.notices)
    declared = Composer(soundfont=str(custom), soundfont_licence="CC0-1.0")
    assert declared.notices == [] and "mine.sf2 (CC0-1.0)" in declared.licence
    cue = declared.generate([brief("calm piano", 2.0)], seconds=[2.0], seed=1)[0]
    assert cue.metrics["soundfont_licence"] == "CC0-1.0" and cue.licence == declared.licence


def test_tempo_ramps_into_a_new_tempo_after_a_hit():
    """A 12.5 % change: spread over bars, each a step, the bars still filling the segment."""
    meters = [4, 4, 4, 4, 4, 3]
    seconds = sum(meters) * 60 / (120 * 0.875)  # the flat tempo would step 120 -> 105
    tempi = ramp_tempi(meters, seconds, start_bpm=120.0)
    assert sum(n * 60 / t for n, t in zip(meters, tempi, strict=True)) == pytest.approx(seconds)
    steps = [abs(b / a - 1) for a, b in itertools.pairwise([120.0, *tempi])]
    assert max(steps) < 0.05 and all(b <= a for a, b in itertools.pairwise(tempi))
    assert ramp_tempi([4], 2.0, start_bpm=100.0) == [120.0]  # one bar: a step
    bars, error, _ = make_grid(17.3, hits_s=(5.1, 11.0), target_bpm=96, tempo_range=(80, 110))
    assert error == 0 and len({round(b.bpm, 3) for b in bars}) > 3  # ramped, in range


def test_an_instrument_from_a_soundfont_of_its_own(tmp_path):
    """styles.toml gives the piano another font: it plays from that font (a pure sine
    here), the rest from the main one, and the cue's licence names both."""
    from test_soundfont import build_sf2, sine

    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts" / "sine.sf2").write_bytes(build_sf2([sine(440, 0.5)], [{53: 0}]))
    styles = tmp_path / "styles.toml"
    styles.write_text('[instruments.piano]\nsoundfont = "fonts/sine.sf2"\npreset = 0\n'
                      'soundfont_licence = "CC0-1.0"\n')  # fmt: skip
    composer = Composer(vocab=config.styles(str(styles)))
    assert composer.fonts["piano"] == (str(tmp_path / "fonts" / "sine.sf2"), 0, 0)
    b = make_brief(Scene("c", 0, 100, Fraction(25), "calm piano, no drums"), vocab=composer.vocab)
    cue = composer.generate([b], seconds=[4.0], seed=1)[0]
    assert "piano from sine.sf2 (CC0-1.0)" in cue.licence
    from scoreflow.tasks.engines.composer.render import synthesize_parts

    lone = pretty_midi.PrettyMIDI()  # one A4 on the piano, held
    lone.instruments.append(pretty_midi.Instrument(program=0, name="piano"))
    lone.instruments[0].notes.append(pretty_midi.Note(100, 69, 0.0, 2.0))

    def second_harmonic_db(fonts):
        ((_, audio),) = synthesize_parts(
            lone, sample_rate=SR, samples=2 * SR, soundfont=composer.soundfont, gain_db=0,
            fonts=fonts,
        )  # fmt: skip
        spectrum = np.abs(np.fft.rfft(audio[0] * np.hanning(2 * SR)))
        freqs = np.fft.rfftfreq(2 * SR, 1 / SR)

        def peak(hz):
            return spectrum[(freqs > hz - 20) & (freqs < hz + 20)].max()

        return 20 * np.log10(peak(880) / peak(440))

    assert second_harmonic_db(composer.fonts) < -40 < second_harmonic_db({})  # a sine: no piano
    bad = tmp_path / "bad.toml"
    bad.write_text('[instruments.piano]\nsoundfont = "missing.sf2"\n')
    with pytest.raises(InputError, match=r"instruments\.piano\.soundfont"):
        config.styles(str(bad))


@pytest.mark.parametrize("genre", GENRES)
def test_a_produced_arrangement_has_air_and_width(composer, genre):
    """Issue 12's spectrum and stereo figures as bench_sound reads them, per genre: some
    energy above 12 kHz (not the -68 dB of the General MIDI demo) without hiss, and a
    stereo image (not the near-mono 0.96 it had), with the channels still related."""
    _, cue = render(composer, "", 30.0, seed=5, genre=genre)
    mono = cue.audio.mean(axis=0).astype(np.float64)
    power = np.abs(np.fft.rfft(mono * np.hanning(len(mono)))) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1 / SR)
    air_db = 10 * np.log10(power[freqs >= 12000].sum() / power.sum())
    correlation = np.corrcoef(cue.audio[0], cue.audio[1])[0, 1]
    assert -50 < air_db < -20, air_db
    assert 0.15 < correlation < 0.9, correlation
