"""The library flow: a small grid end to end, measured from the files it wrote; the bad
briefs table; originality; the catalogue page in a real browser."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import librosa
import numpy as np
import pretty_midi
import pytest
import soundfile

from scoreflow import config
from scoreflow.flows.cli import main
from scoreflow.tasks.audio.media import measure_loudness
from scoreflow.tasks.cloud import storage
from scoreflow.tasks.cloud.storage import sha256_file
from scoreflow.tasks.library.plan import read_brief

SR = 48000
GRID = """
[library]
name = "Test Library"
artist = "Test Composer"
seed = 11
[delivery]
main_s = 24
cutdowns_s = [15, 6]
sting_s = 5
loops_bars = [4]
[grid]
genres = ["cinematic", "rock", "electronic"]
moods = ["tense", "happy"]
"""


@pytest.fixture(scope="module")
def grid(prefect_server, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("library")
    brief = d / "grid.toml"
    brief.write_text(GRID)
    assert main(["library", str(brief), "--out", str(d / "cat")]) == 0
    return d / "cat"


@pytest.fixture(scope="module")
def rows(grid) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((grid / "catalog.csv").read_text())))


def read(path: Path) -> np.ndarray:
    data, sr = soundfile.read(path, dtype="float64", always_2d=True)
    assert sr == SR
    return data.T


def test_every_version_of_every_track_is_there_with_its_exact_length(grid, rows):
    cat = json.loads((grid / "catalog.json").read_text())
    assert len(cat["tracks"]) == 6
    titles = [t["title"] for t in cat["tracks"]]
    assert len(set(t.lower() for t in titles)) == 6 and all(len(t) > 3 for t in titles)
    expect = {"main", "15s", "6s", "sting", "loop-4", "underscore", "no-drums", "sparse"}
    for t in cat["tracks"]:
        made = {r["version"] for r in rows if r["track_id"] == t["id"]}
        assert made == expect, t["id"]
    for r in rows:
        path = grid / r["file"]
        assert path.is_file() and sha256_file(path) == r["sha256"]  # rows match the files
        if r["format"] in ("wav", "stem"):
            info = soundfile.info(path)
            assert info.samplerate == SR and info.subtype == "PCM_24" and info.channels == 2
            assert info.frames == int(r["samples"])
            want = {"15s": 15 * SR, "6s": 6 * SR, "sting": 5 * SR}.get(r["version"])
            if want:
                assert info.frames == want  # to the sample


def test_loudness_and_true_peak_by_ffmpeg_in_both_formats(grid, rows):
    for r in rows:
        if r["format"] in ("wav", "mp3"):
            got = measure_loudness(grid / r["file"])
            assert abs(got["integrated_lufs"] - -14.0) <= 0.5, (r["file"], got)
            assert got["true_peak_dbtp"] <= -1.0 + 0.05, (r["file"], got)


def last_downbeat_and_chord(mid: Path) -> tuple[float, int, int]:
    """(time of the last note onset, pitch class of the lowest pitched note struck there,
    the key signature's tonic) from the MIDI."""
    pm = pretty_midi.PrettyMIDI(str(mid))
    notes = [n for i in pm.instruments if not i.is_drum for n in i.notes]
    last = max(n.start for n in notes)
    struck = [n for n in notes if abs(n.start - last) < 0.05]
    tonic = pm.key_signature_changes[0].key_number % 12
    return last, min(struck, key=lambda n: n.pitch).pitch % 12, tonic


def test_the_main_has_a_form_and_resolves_on_the_tonic(grid):
    """The main's final chord is the tonic (MIDI) and its measured energy curve has a
    quiet opening, a climax inside the piece and a falling ending: not a flat loop."""
    for t in json.loads((grid / "catalog.json").read_text())["tracks"]:
        main_rows = {r["format"]: r for r in t["rows"] if r["version"] == "main"}
        _, root, tonic = last_downbeat_and_chord(grid / main_rows["midi"]["file"])
        assert root == tonic, t["id"]
        energy = main_rows["wav"]["energy"]
        peak = int(np.argmax(energy))
        assert 0 < peak < len(energy) - 1, (t["id"], energy)  # the climax inside the piece
        assert energy[peak] - energy[0] >= 6.0 and energy[peak] > energy[-1], (t["id"], energy)


def test_cutdowns_and_sting_end_on_a_button_on_the_tonic(grid, rows):
    for r in rows:
        if r["kind"] not in ("cutdown", "sting") or r["format"] != "midi":
            continue
        length = float(r["duration_s"])
        last, root, tonic = last_downbeat_and_chord(grid / r["file"])
        assert 0 < length - last <= 1.5, r["file"]
        assert root == tonic, r["file"]  # the final chord's root is the tonic
        assert abs(last - float(r["button_s"])) < 0.03
        audio = read(grid / r["file"].replace(".mid", ".wav"))
        onsets = librosa.onset.onset_detect(
            y=audio.mean(axis=0), sr=SR, units="time", backtrack=False
        )
        assert length - onsets.max() <= 1.5 + 0.05, r["file"]  # the last attack is the button
        tail = np.abs(audio[:, -round(0.005 * SR) :]).max()
        assert 20 * math.log10(max(tail, 1e-12)) < -60  # rung out inside the length


def seam_figures(loop: np.ndarray, bars: int) -> tuple[float, float, float]:
    """(step at the seam, the largest ordinary step it is held to, spectral flux at the
    seam as a fraction of the loop's largest flux elsewhere).

    A loop starts on a downbeat, where the music itself strikes: an attack's first step is
    well above the median step, so the seam is held to what the loop does at its own
    downbeats (the largest step within 2 samples of each inner bar line) or, where nothing
    is struck there, the 95th percentile of the steps within 10 ms of the seam.
    """
    twice = np.concatenate([loop, loop], axis=-1)
    n = loop.shape[-1]
    steps = np.abs(np.diff(twice, axis=-1)).max(axis=0)
    bar = n // bars
    downbeats = max(float(steps[k * bar - 3 : k * bar + 2].max()) for k in range(1, bars))
    ordinary = max(float(np.percentile(steps[n - 480 : n + 480], 95)), downbeats)
    mono = twice.mean(axis=0)
    spec = np.abs(librosa.stft(mono, n_fft=1024, hop_length=256))
    flux = np.sqrt((np.diff(spec, axis=1).clip(min=0) ** 2).sum(axis=0))
    at = n // 256
    rest = np.concatenate([flux[4 : at - 4], flux[at + 4 : -4]])
    return float(steps[n - 1]), ordinary, float(flux[at - 2 : at + 2].max() / rest.max())


def level_steps(loop: np.ndarray, window_s: float = 0.25) -> tuple[float, float]:
    """(the level change from the loop's last quarter second to its first, the largest
    change between consecutive quarter seconds inside the loop), in dB."""
    w = round(window_s * SR)
    k = loop.shape[-1] // w
    rms = np.sqrt(np.mean(loop[:, : k * w].reshape(2, k, w) ** 2, axis=(0, 2)))
    tail = np.sqrt(np.mean(loop[:, -w:] ** 2))
    db = 20 * np.log10(np.maximum(rms, 1e-9))
    return float(abs(db[0] - 20 * np.log10(max(tail, 1e-9)))), float(np.abs(np.diff(db)).max())


def spliced(loop: np.ndarray) -> np.ndarray:
    """The control: the loop with 3766 samples cut out mid-bar, turned so that the cut is
    at its seam (the edit a careless loop has)."""
    n = loop.shape[-1]
    cut = np.concatenate([loop[:, : n // 2 + 1234], loop[:, n // 2 + 5000 :]], axis=-1)
    return np.roll(cut, -(n // 2 + 1234), axis=-1)


def test_loops_are_whole_bars_and_repeat_without_a_seam(grid, rows):
    for r in rows:
        if r["kind"] != "loop" or r["format"] != "wav":
            continue
        bars, bpm = int(r["loop_bars"]), float(r["bpm_plan"])
        samples = int(r["samples"])
        assert samples % (bars * 4) == 0  # whole beats of whole samples: exact bars
        assert abs(samples - bars * 4 * 60 / bpm * SR) < 1.0
        loop = read(grid / r["file"])
        step, ordinary, flux = seam_figures(loop, bars)
        assert step <= ordinary, (r["file"], step, ordinary)  # no click: an ordinary step
        assert flux <= 1.0, (r["file"], flux)  # no spectral jump beyond the loop's own
        bad_step, bad_ordinary, _ = seam_figures(spliced(loop), bars)
        assert bad_step > 1.2 * bad_ordinary, r["file"]  # the measure sees a real seam


def test_loops_keep_their_level_across_the_seam(grid, rows):
    """A loop cut where the phrase drops away (a drop or a build into the next section)
    falls 5-6 dB at its seam; the loop's bars are chosen where it does not."""
    for r in rows:
        if r["kind"] == "loop" and r["format"] == "wav":
            jump, jumps = level_steps(read(grid / r["file"]))
            assert jump <= jumps, (r["file"], jump, jumps)  # no jump beyond the loop's own


@pytest.mark.parametrize(
    ("shape", "seam_db", "loops_cleanly"),
    [
        ("steady", 0.0, True),
        ("drop in the last bar", 6.0, False),  # only the hats before the next section
        ("swell inside", 0.0, True),  # the loop's own dynamics, back at its start
        ("crescendo to the end", 6.0, False),  # a build: loud at the end, soft at the start
    ],
)
def test_seam_levels_tell_a_span_that_jumps_at_its_seam(shape, seam_db, loops_cleanly):
    from conftest import noise

    from scoreflow.tasks.engines.composer.versions import energy_index, seam_levels

    audio = noise(8.0, seed=3)
    bar = 2 * SR
    if shape == "drop in the last bar":
        audio[:, -bar:] *= 10 ** (-6 / 20)
    elif shape == "swell inside":
        audio[:, bar : 2 * bar] *= 10 ** (2 / 20)
    elif shape == "crescendo to the end":
        audio *= 10 ** (np.linspace(-6, 0, audio.shape[-1]) / 20)
    jump, inner = seam_levels(energy_index(audio, SR), 0.0, 8.0, sample_rate=SR)
    assert jump == pytest.approx(seam_db, abs=0.5)
    assert (jump <= inner + 0.1) == loops_cleanly, (jump, inner)


def test_stems_sum_to_their_mix(grid, rows):
    by_mix: dict[str, list[Path]] = {}
    for r in rows:
        if r["format"] == "stem":
            mix = grid / f"tracks/{r['track_id']}/{r['track_id']}_{r['version']}.wav"
            by_mix.setdefault(str(mix), []).append(grid / r["file"])
    assert len(by_mix) == 12  # main and the loop of six tracks
    for mix, stems in by_mix.items():
        assert {p.stem.rsplit("_", 1)[1] for p in stems} >= {"drums", "harmony", "melody"}
        residual = read(Path(mix)) - sum(read(p) for p in stems)
        assert 20 * math.log10(np.abs(residual).max() + 1e-12) < -60, mix


def test_alternate_mixes_leave_out_what_they_say(grid, rows):
    """Each alternate mix is the sum of the stems it names (scaled): it correlates with
    them and not with the stems it leaves out, for every track."""
    from scoreflow.tasks.engines.composer.versions import STEMS
    from scoreflow.tasks.library.plan import ALTERNATES

    for t in sorted({r["track_id"] for r in rows}):
        base = grid / "tracks" / t
        stems = {p.stem.rsplit("_", 1)[1]: read(p) for p in (base / "stems").glob(f"{t}_main_*")}
        for name, kept in ALTERNATES.items():
            mix = read(base / f"{t}_{name}.wav").ravel()
            expect = sum(v for k, v in stems.items() if k in kept)
            assert np.corrcoef(mix, expect.ravel())[0, 1] > 0.99, (t, name)
            for left in set(STEMS) - set(kept):
                if left in stems:
                    corr = np.corrcoef(mix, stems[left].ravel())[0, 1]
                    assert abs(corr) < 0.2, (t, name, left, corr)


def test_tags_are_measured_and_read_back_by_other_libraries(grid, rows):
    from mutagen.id3 import ID3
    from wavinfo import WavInfoReader

    cat = json.loads((grid / "catalog.json").read_text())
    for t in cat["tracks"]:
        main_rows = {
            r["format"]: r for r in rows if r["track_id"] == t["id"] and r["version"] == "main"
        }
        bpm, plan = float(main_rows["wav"]["bpm"]), float(main_rows["wav"]["bpm_plan"])
        assert abs(bpm - plan) <= 0.02 * plan, (t["id"], bpm, plan)  # measured BPM
        tag = ID3(grid / main_rows["mp3"]["file"])
        assert str(tag["TIT2"]) == t["title"] and str(tag["TALB"]) == "Test Library"
        assert str(tag["TPE1"]) == "Test Composer" and str(tag["TCON"]) == t["genre"]
        assert abs(int(str(tag["TBPM"])) - plan) <= 0.02 * plan + 0.5
        assert str(tag["TMOO"]) == t["mood"]
        assert t["mood"] in str(tag.getall("COMM")[0])
        assert str(tag["TKEY"]).rstrip("m") == main_rows["mp3"]["key"].split()[0]
        wav = WavInfoReader(str(grid / main_rows["wav"]["file"]))
        assert wav.bext.version == 2 and t["title"] in wav.bext.description
        measured = measure_loudness(grid / main_rows["wav"]["file"])
        assert abs(wav.bext.loudness_value - measured["integrated_lufs"]) < 0.11
        assert abs(wav.bext.max_true_peak - measured["true_peak_dbtp"]) < 0.11
        assert wav.ixml.source and f"<SCENE>{t['id']}</SCENE>".encode() in wav.ixml.source
        assert f"MOOD={t['mood']}".encode() in wav.ixml.source


def test_tracks_of_one_library_are_distinguishable(grid):
    cat = json.loads((grid / "catalog.json").read_text())
    for t in cat["tracks"]:
        assert t["similarity"]["overall"] <= cat["delivery"]["similarity_max"]
    assert cat["tracks"][0]["similarity"]["overall"] == 0  # the first has nothing to be like


def test_a_rerun_of_an_unchanged_brief_regenerates_nothing(grid, tmp_path, capsys):
    before = {p: p.stat().st_mtime_ns for p in (grid / "tracks").rglob("*") if p.is_file()}
    brief = tmp_path / "grid.toml"
    brief.write_text(GRID)
    assert main(["library", str(brief), "--out", str(grid)]) == 0
    after = {p: p.stat().st_mtime_ns for p in (grid / "tracks").rglob("*") if p.is_file()}
    assert after == before
    cat = json.loads((grid / "catalog.json").read_text())
    assert len(cat["tracks"]) == 6


def test_add_appends_new_tracks_and_keeps_the_others(prefect_server, tmp_path):
    brief = tmp_path / "one.toml"
    brief.write_text(
        "[delivery]\nmain_s = 24\ncutdowns_s = [6]\nsting_s = 0\nloops_bars = []\n"
        'alternates = []\nstems = false\nformats = ["wav"]\n'
        '[[tracks]]\ndescription = "warm acoustic morning, hopeful"\n'
    )
    out = tmp_path / "cat"
    assert main(["library", str(brief), "--out", str(out)]) == 0
    first = json.loads((out / "catalog.json").read_text())["tracks"]
    kept = {p: p.stat().st_mtime_ns for p in (out / "tracks").rglob("*") if p.is_file()}
    assert main(["library", str(brief), "--out", str(out), "--add", "1"]) == 0
    tracks = json.loads((out / "catalog.json").read_text())["tracks"]
    assert [t["id"] for t in tracks] == [first[0]["id"], "t001-02"]
    assert all(p.stat().st_mtime_ns == m for p, m in kept.items())  # never overwritten
    assert tracks[1]["seed"] != tracks[0]["seed"] and tracks[1]["title"] != tracks[0]["title"]


def test_a_neural_backend_makes_the_main_and_reports_what_it_cannot(
    prefect_server, tmp_path, monkeypatch, capsys
):
    """ACE-Step (a tiny random model through diffusers' real loading path): main versions
    levelled and tagged like the composer's; cutdowns, loops, alternates and stems are
    listed as not made, in the catalogue and on the page, never faked."""
    pytest.importorskip("diffusers")
    from scoreflow.tasks.engines.debug import save_tiny_ace_step

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = save_tiny_ace_step(str(tmp_path / "tiny"), licence="mit")
    cfg = tmp_path / "neural.toml"
    cfg.write_text(
        f'[pipeline]\nbackend = "ace-step"\nmodel = "{model}"\n'
        '[ace-step]\ndevice = "cpu"\nsteps = 2\n'
    )
    brief = tmp_path / "two.toml"
    brief.write_text(
        "[delivery]\nmain_s = 20\ncutdowns_s = [6]\nsting_s = 0\nloops_bars = [4]\n"
        'alternates = ["underscore"]\nformats = ["wav", "mp3"]\n'
        '[[tracks]]\ndescription = "dark tense synth pulse"\n'
    )
    assert main(["library", str(brief), "--config", str(cfg), "--check"]) == 0
    assert "ace-step gives audio only" in capsys.readouterr().out
    out = tmp_path / "cat"
    assert main(["library", str(brief), "--config", str(cfg), "--out", str(out)]) == 0
    cat = json.loads((out / "catalog.json").read_text())
    rows = list(csv.DictReader(io.StringIO((out / "catalog.csv").read_text())))
    assert len(cat["tracks"]) == 1
    assert {(r["version"], r["format"]) for r in rows} == {("main", "wav"), ("main", "mp3")}
    for t in cat["tracks"]:
        assert t["backend"] == "ace-step" and t["licence"]
        for missing in ("6s (", "loop-4 (", "underscore (", "stems (", "MIDI"):
            assert missing in t["unavailable"], (missing, t["unavailable"])
    for r in rows:
        assert r["unavailable"] and r["backend"] == "ace-step"
        if r["format"] == "wav":
            assert soundfile.info(out / r["file"]).frames == 20 * SR
        got = measure_loudness(out / r["file"])
        assert abs(got["integrated_lufs"] - -14.0) <= 0.5 and got["true_peak_dbtp"] <= -0.95
    page = (out / "index.html").read_text()
    assert page.count("not made: 6s (") == 1
    assert not list(out.rglob("*.mid")) and not list(out.rglob("stems"))


def test_a_catalogue_on_s3_is_written_last_and_appended_to(prefect_server, aws, tmp_path):
    """Brief and catalogue on a real S3 server: every row's object is there with its hash,
    catalog.json is the last object written, and --add appends without rewriting a file."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="lib")
    s3.put_object(
        Bucket="lib",
        Key="briefs/one.toml",
        Body=(
            b"[delivery]\nmain_s = 20\ncutdowns_s = []\nsting_s = 0\nloops_bars = []\n"
            b'alternates = []\nstems = false\nformats = ["wav"]\n'
            b'[[tracks]]\ndescription = "calm piano, reflective"\n'
        ),
    )
    out = "s3://lib/catalogue"
    order: list[str] = []  # the keys in the order the flow's own client puts them
    storage.s3_client().meta.events.register(
        "before-call.s3.PutObject", lambda params, **_: order.append(params["url_path"])
    )
    assert main(["library", "s3://lib/briefs/one.toml", "--out", out]) == 0

    def listing() -> dict[str, tuple[str, object]]:
        got = s3.list_objects_v2(Bucket="lib", Prefix="catalogue/")["Contents"]
        return {o["Key"].removeprefix("catalogue/"): (o["ETag"], o["LastModified"]) for o in got}

    first = listing()
    cat = json.loads(s3.get_object(Bucket="lib", Key="catalogue/catalog.json")["Body"].read())
    for t in cat["tracks"]:
        for r in t["rows"]:
            body = s3.get_object(Bucket="lib", Key=f"catalogue/{r['file']}")["Body"].read()
            assert hashlib.sha256(body).hexdigest() == r["sha256"]
    assert {"catalog.csv", "index.html", "catalog.json"} <= set(first)
    assert order[-1].endswith("/catalogue/catalog.json") and len(order) == len(first)
    assert main(["library", "s3://lib/briefs/one.toml", "--out", out, "--add", "1"]) == 0
    second = listing()
    cat = json.loads(s3.get_object(Bucket="lib", Key="catalogue/catalog.json")["Body"].read())
    assert [t["id"] for t in cat["tracks"]] == ["t001-01", "t001-02"]
    for key, (etag, _) in first.items():
        if key.startswith("tracks/"):
            assert second[key][0] == etag, key  # the first track's files are as they were


def test_an_edited_brief_entry_remakes_only_its_own_track(prefect_server, tmp_path):
    head = (
        "[delivery]\nmain_s = 20\ncutdowns_s = []\nsting_s = 0\nloops_bars = []\n"
        'alternates = []\nstems = false\nformats = ["wav"]\n'
        '[[tracks]]\ndescription = "warm acoustic morning, hopeful"\n'
    )
    brief, out = tmp_path / "two.toml", tmp_path / "cat"
    brief.write_text(head + '[[tracks]]\ndescription = "dark tense synth pulse"\n')
    assert main(["library", str(brief), "--out", str(out)]) == 0

    def files(track: str) -> dict[Path, int]:
        return {p: p.stat().st_mtime_ns for p in (out / "tracks" / track).rglob("*.wav")}

    kept, edited = files("t001-01"), files("t002-01")
    brief.write_text(head + '[[tracks]]\ndescription = "bright happy ukulele, playful"\n')
    assert main(["library", str(brief), "--out", str(out)]) == 0
    assert files("t001-01") == kept  # untouched
    now = files("t002-01")
    assert now.keys() == edited.keys() and all(now[p] != m for p, m in edited.items())
    cat = json.loads((out / "catalog.json").read_text())
    assert [t["id"] for t in cat["tracks"]] == ["t001-01", "t002-01"]
    assert "ukulele" in cat["tracks"][1]["rows"][0]["description"]


def test_identical_briefs_but_the_title_make_distinguishable_tracks_and_a_duplicate_is_caught(
    prefect_server, tmp_path
):
    spec = (
        "[delivery]\nmain_s = 24\ncutdowns_s = [6]\nsting_s = 0\nloops_bars = []\n"
        'alternates = []\nstems = false\nformats = ["wav"]\nsimilarity_max = 0.85\nmax_tries = 2\n'
    )
    entry = 'description = "tense cinematic chase, strings"\n'
    brief = tmp_path / "two.toml"
    brief.write_text(spec + f'[[tracks]]\ntitle = "One"\n{entry}[[tracks]]\ntitle = "Two"\n{entry}')
    assert main(["library", str(brief), "--out", str(tmp_path / "a")]) == 0
    a = json.loads((tmp_path / "a" / "catalog.json").read_text())["tracks"]
    assert a[1]["similarity"]["overall"] < 0.85 and a[1]["nearest"] == a[0]["id"]
    assert a[1]["tries"] == 1
    same = tmp_path / "same.toml"  # the same seed twice: a forced duplicate
    same.write_text(
        spec + f'[[tracks]]\ntitle = "One"\nseed = 5\n{entry}'
        f'[[tracks]]\ntitle = "Two"\nseed = 5\n{entry}'
    )
    assert main(["library", str(same), "--out", str(tmp_path / "b")]) == 0
    b = json.loads((tmp_path / "b" / "catalog.json").read_text())["tracks"]
    assert b[1]["tries"] == 2 and b[1]["seed"] != 5  # caught and made again
    assert b[1]["similarity"]["overall"] < 0.85


BAD = [
    ("empty.toml", "", "empty library brief"),
    ("syntax.toml", "[grid\n", "not valid TOML"),
    ("section.toml", "[grids]\ngenres = ['rock']\n", "unknown section"),
    ("genre.toml", "[[tracks]]\ngenre = 'polka'\n", "unknown genre"),
    ("mood.toml", "[[tracks]]\ngenre = 'rock'\nmood = 'sleepy-ish'\n", "unknown mood"),
    ("field.toml", "[[tracks]]\ndescription = 'x'\ncolour = 'red'\n", "unknown field"),
    ("tempo.toml", "[[tracks]]\ndescription = 'x'\ntempo_bpm = 900\n", "tempo_bpm"),
    ("intensity.toml", "[[tracks]]\ndescription = 'x'\nintensity = 'loud'\n", "intensity"),
    ("key.toml", "[[tracks]]\ndescription = 'x'\nkey = 'H major'\n", "not a key"),
    (
        "cut.toml",
        "[delivery]\ncutdowns_s = [600]\n[[tracks]]\ndescription = 'x'\n",
        "shorter than the main",
    ),
    ("loops.toml", "[delivery]\nloops_bars = [3.5]\n[[tracks]]\ndescription = 'x'\n", "loops_bars"),
    ("format.toml", "[delivery]\nformats = ['flac']\n[[tracks]]\ndescription = 'x'\n", "formats"),
    ("lufs.toml", "[delivery]\ntarget_lufs = 3\n[[tracks]]\ndescription = 'x'\n", "target_lufs"),
    (
        "title.toml",
        "[[tracks]]\ntitle = 'A'\ndescription = 'x'\n[[tracks]]\ntitle = 'a'\ndescription = 'y'\n",
        "two tracks with one title",
    ),
    ("empty-track.toml", "[[tracks]]\ntitle = 'A'\n", "needs a description or a genre"),
    ("grid.yaml", "grid:\n  genres: []\n", "non-empty list"),
    ("line.csv", "title,description,genre\nA,warm,acoustic\nB,cold,polka\n", ":3"),
    ("alias.yaml", "tracks:\n  - &a {description: x}\n  - *a\n", "alias"),
    ("format.txt", "x", "unsupported library brief format"),
    ("id.toml", "[[tracks]]\nid = '../up'\ndescription = 'x'\n", "unusable track id"),
]


@pytest.mark.parametrize(("name", "text", "said"), BAD, ids=[b[0] for b in BAD])
def test_bad_briefs_exit_2_with_a_pointed_message_and_write_nothing(
    tmp_path, capsys, name, text, said
):
    brief = tmp_path / name
    brief.write_text(text)
    out = tmp_path / "out"
    assert main(["library", str(brief), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scoreflow: error: ") and said in err and str(brief) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_check_prints_the_plan(tmp_path, capsys):
    brief = tmp_path / "grid.toml"
    brief.write_text(GRID)
    assert main(["library", str(brief), "--check"]) == 0
    text = capsys.readouterr().out
    assert "6 tracks x 8 versions" in text and "cinematic-tense-01" in text


def test_tracks_cycles_the_grid_with_new_seeds():
    brief = Path(__file__).parents[2] / "examples" / "library.toml"
    cfg = config.load_settings()
    plan = read_brief(brief, cfg=cfg, vocab=config.styles(), tracks=30)
    assert len(plan.tracks) == 30 and len({t.id for t in plan.tracks}) == 30
    assert len({t.seed for t in plan.tracks}) == 30


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("Debian's chromium is not installed (make test installs it as root)")
    return found


def dom(url: str, profile: Path) -> str:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--mute-audio",
        "--disable-background-networking",
        "--disable-component-update",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=2000",
        "--dump-dom",
    ]
    proc = subprocess.run(
        [chromium(), *flags, url], capture_output=True, text=True, timeout=120, check=False
    )
    return proc.stdout


def test_the_catalogue_page_loads_plays_and_filters_in_chromium(grid, tmp_path):
    page = (grid / "index.html").read_text()
    assert "http://" not in page and "https://" not in page.replace("http://www.w3.org", "")
    url = (grid / "index.html").as_uri()
    full = dom(url, tmp_path / "p")
    assert full.count("<audio") == 6 * 8 and "6 of 6 tracks" in full
    assert full.count('<section class="track"') == 6 and full.count("<img") == 6
    rock = dom(url + "#genre=rock", tmp_path / "p")
    assert "2 of 6 tracks" in rock
    sections = re.findall(r"<section [^>]*>", rock)
    assert len(sections) == 6 and sum('hidden=""' in tag for tag in sections) == 4
    fast = dom(url + "#bpm-min=135", tmp_path / "p")
    cat = json.loads((grid / "catalog.json").read_text())
    n = sum(1 for t in cat["tracks"] if t["bpm"] >= 135)
    assert f"{n} of 6 tracks" in fast


def test_serve_builds_a_nightly_library_deployment_that_appends(tmp_path):
    from scoreflow.flows.schedule import library_deployment

    params = {"brief": str(tmp_path / "grid.toml"), "out": str(tmp_path / "cat"), "add": 20}
    dep = library_deployment(params, {"cron": "0 2 * * *"})
    assert dep.name == "serve-library" and dep.parameters == params
    assert dep.schedules[0].schedule.cron == "0 2 * * *"


def test_serve_needs_something_to_serve(capsys):
    assert main(["serve"]) == 2
    assert "nothing to serve" in capsys.readouterr().err
    assert main(["serve", "--library", "x.toml"]) == 2
    assert "--out" in capsys.readouterr().err
