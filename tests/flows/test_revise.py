"""Takes, picks and revisions by note, end to end through the Prefect engine: measured
from the files (hashes, samples, MIDI), not from what the flow says of them."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile

from scoreflow.flows.cli import main
from scoreflow.tasks.cloud.storage import sha256_file

SR = 48000
SHOTS = """scene,tc_in,tc_out,description
1,00:00:00:00,00:00:04:00,"upbeat rock, drums and electric guitar"
2,00:00:04:00,00:00:08:00,"tense cinematic strings"
3,00:00:08:00,00:00:12:00,"warm acoustic morning"
"""


def hashes(out: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted((out / "cues").glob("*.wav"))}


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def read(path: Path) -> np.ndarray:
    return soundfile.read(path, dtype="float64", always_2d=True)[0].T


@pytest.fixture(scope="module")
def scored(prefect_server, tmp_path_factory, video_25):
    """A 12 s video scored with three takes a scene; a pristine copy kept for each test."""
    d = tmp_path_factory.mktemp("takes")
    (d / "shots.csv").write_text(SHOTS)
    out = d / "out"
    args = ["score", str(video_25), "--shots", str(d / "shots.csv"), "--out", str(out)]
    assert main([*args, "--takes", "3"]) == 0
    return out


@pytest.fixture
def run(scored, tmp_path):
    """A copy of the scored run to revise (the manifest's inputs stay where they are)."""
    copy = tmp_path / "run"
    shutil.copytree(scored, copy)
    return copy


def test_three_distinct_takes_and_the_best_is_used(scored):
    m = manifest(scored)
    for s in m["scenes"]:
        takes = s["cue"]["takes"]
        assert [t["take"] for t in takes] == [1, 2, 3]
        files = [scored / t["files"]["wav"] for t in takes]
        assert len({sha256_file(f) for f in files}) == 3  # three different pieces
        assert len({t["seed"] for t in takes}) == 3
        chosen = [t for t in takes if t["chosen"]]
        assert len(chosen) == 1 and chosen[0]["overall"] == max(t["overall"] for t in takes)
        used = scored / s["cue"]["files"]["wav"]
        assert sha256_file(used) == sha256_file(scored / chosen[0]["files"]["wav"])
        assert s["cue"]["quality"]["overall"] > 0 and "technical" in s["cue"]["quality"]["scores"]
    page = (scored / "report.html").read_text()
    assert page.count('src="takes/') == 9 and "(used)" in page and "Quality" in page
    assert main(["verify", str(scored)]) == 0


def test_pick_swaps_the_take_and_the_mix_changes_only_in_its_scene(run):
    before, mix_before = hashes(run), read(run / "mix.wav")
    scene = manifest(run)["scenes"][1]
    other = next(t for t in scene["cue"]["takes"] if not t["chosen"])
    assert main(["pick", str(run), "--scene", "2", "--take", str(other["take"])]) == 0
    after = hashes(run)
    assert after["2.wav"] == sha256_file(run / other["files"]["wav"]) != before["2.wav"]
    assert {k: v for k, v in after.items() if k != "2.wav"} == {
        k: v for k, v in before.items() if k != "2.wav"
    }
    # The programme is levelled to its preset again, so the rest may move by one gain;
    # apart from that, outside scene 2 (4-8 s, with its 0.5 s crossfades) nothing changed.
    mix = read(run / "mix.wav")
    outside = np.r_[0 : int(3.4 * SR), int(8.6 * SR) : mix.shape[-1]]
    a, b = mix_before[:, outside].ravel(), mix[:, outside].ravel()
    gain = float(a @ b / (a @ a))
    residual = np.sqrt(np.mean((b - gain * a) ** 2)) / np.sqrt(np.mean(b**2))
    assert 20 * np.log10(residual) < -50, (gain, residual)
    inside = slice(int(4.5 * SR), int(7.5 * SR))
    assert np.abs(mix[:, inside] - gain * mix_before[:, inside]).max() > 0.01
    m = manifest(run)
    assert m["revision"]["picks"] == {"2": other["take"]}
    assert m["revision"]["history"][-1]["take"] == other["take"]


def test_a_note_revises_only_its_cue_and_undo_restores_it_bit_for_bit(run, capsys):
    before, mix_before = hashes(run), sha256_file(run / "mix.wav")
    note = "no drums, more tension"
    assert main(["revise", str(run), "--scene", "1", "--note", note, "--by", "director"]) == 0
    assert "revision 1: scene 1: drums: True -> False" in capsys.readouterr().out
    after = hashes(run)
    assert after["1.wav"] != before["1.wav"]
    assert after["2.wav"] == before["2.wav"] and after["3.wav"] == before["3.wav"]
    midi = pretty_midi.PrettyMIDI(io.BytesIO((run / "cues" / "1.mid").read_bytes()))
    assert not any(i.is_drum and i.notes for i in midi.instruments)  # the note was heard
    m = manifest(run)
    (entry,) = m["revision"]["history"]
    assert entry["who"] == "director" and entry["note"] == note and entry["when"]
    assert "drums: True -> False" in entry["changed"]
    assert m["scenes"][0]["brief"]["drums"] is False and note in m["scenes"][0]["brief"]["prompt"]
    kept = json.loads((run / "revisions" / "0" / "manifest.json").read_text())
    assert kept["revision"]["number"] == 0  # the run as it was, kept
    assert main(["verify", str(run)]) == 0

    assert main(["revise", str(run), "--undo"]) == 0
    assert hashes(run) == before and sha256_file(run / "mix.wav") == mix_before
    m = manifest(run)
    assert m["revision"]["notes"] == {} and m["revision"]["history"][-1]["undo"] == 1
    assert sorted(p.name for p in (run / "revisions").iterdir()) == ["0", "1"]
    assert main(["verify", str(run)]) == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["revise", "{run}", "--scene", "9", "--note", "calm"], "(got '9')"),
        (["revise", "{run}", "--scene", "1"], "give --scene and --note, or --undo alone"),
        (["revise", "{run}", "--scene", "1", "--note", "  "], "a note is needed"),
        (["revise", "{run}", "--undo"], "nothing to undo"),
        (["revise", "{run}", "--undo", "--note", "x"], "give --scene and --note"),
        (["pick", "{run}", "--scene", "2", "--take", "7"], "scene 2 has takes 1 to 3"),
        (["pick", "{run}", "--scene", "1", "--take", "0"], "field '--take'"),
        (["revise", "{empty}", "--scene", "1", "--note", "x"], "no manifest.json"),
    ],
)
def test_bad_revisions_exit_2_and_change_nothing(run, tmp_path, capsys, args, expected):
    (tmp_path / "empty").mkdir()
    before = {p: sha256_file(p) for p in run.rglob("*") if p.is_file()}
    argv = [a.format(run=run, empty=tmp_path / "empty") for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err, err
    assert {p: sha256_file(p) for p in run.rglob("*") if p.is_file()} == before


def test_a_run_on_s3_is_revised_into_a_new_run_beside_it(prefect_server, aws, tmp_path, video_25):
    """Inputs local, output on a real S3 server (moto): the revision is a new run folder
    under the same prefix, its manifest with the history; the revised run is untouched."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="studio")
    shots = tmp_path / "shots.csv"
    shots.write_text(SHOTS.split("3,")[0])  # scenes 1 and 2
    assert main(["score", str(video_25), "--shots", str(shots), "--out", "s3://studio/runs"]) == 0

    def runs() -> dict[str, dict[str, str]]:
        got: dict[str, dict[str, str]] = {}
        for o in s3.list_objects_v2(Bucket="studio", Prefix="runs/")["Contents"]:
            run_id, _, name = o["Key"].removeprefix("runs/").partition("/")
            got.setdefault(run_id, {})[name] = o["ETag"]
        return got

    (first,) = runs()
    before = runs()[first]
    note = ["--scene", "2", "--note", "no drums", "--by", "director"]
    assert main(["revise", f"s3://studio/runs/{first}/", *note]) == 0
    after = runs()
    assert after[first] == before  # nothing of the first run rewritten
    (second,) = set(after) - {first}
    body = s3.get_object(Bucket="studio", Key=f"runs/{second}/manifest.json")["Body"].read()
    m = json.loads(body)
    assert m["revision"]["history"][-1]["note"] == "no drums"
    assert "drums: True -> False" in m["revision"]["history"][-1]["changed"]
    same = f"runs/{second}/cues/1.wav"
    assert after[second]["cues/1.wav"] == before["cues/1.wav"], same  # scene 1 untouched
    assert after[second]["cues/2.wav"] != before["cues/2.wav"]


def test_explain_shows_each_cue_s_measured_quality(scored, capsys):
    shots = scored.parent / "shots.csv"
    assert main(["explain", "--shots", str(shots), "--fps", "25", "--out", str(scored)]) == 0
    out = capsys.readouterr().out
    m = manifest(scored)
    for s in m["scenes"]:
        q = s["cue"]["quality"]
        assert f"quality {q['overall']:.2f}" in out
        assert f"measured {q['adherence']['tempo_bpm']} bpm" in out
