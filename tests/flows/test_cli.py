import io
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile

from scoreflow.flows.cli import main
from scoreflow.tasks.engines.composer import Composer
from scoreflow.tasks.music.brief import make_brief
from scoreflow.tasks.timeline.model import Scene


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "scoreflow", *args], capture_output=True, text=True, check=False
    )


def test_check_prints_scenes(tmp_path, video_25, capsys):
    shots = tmp_path / "s.csv"
    shots.write_text("scene,tc_in,tc_out,description\n1,0,4,rock\n2,4,6,calm piano\n")
    assert main(["check", "--shots", str(shots), "--video", str(video_25)]) == 0
    out = capsys.readouterr().out
    assert "OK: 2 scenes, 2 with music" in out and "rock/" in out and "25 fps" in out


def test_check_reads_the_example_edl(capsys):
    edl = Path(__file__).resolve().parents[2] / "examples" / "cut.edl"
    assert main(["check", "--shots", str(edl), "--fps", "23.976"]) == 0
    out = capsys.readouterr().out
    assert "OK: 6 scenes, 5 with music" in out
    assert "004  01:00:26:00 - 01:00:40:00" in out and "cinematic/tense" in out


def test_explain_shows_reading_and_plan(tmp_path, capsys):
    shots = tmp_path / "s.csv"
    shots.write_text(
        "scene,tc_in,tc_out,description,curve\n"
        '1,0,20,"tense chase, builds to a crash at 00:12",\n'
        "2,20,30,corporate upbeat ukulele 120 bpm,falls\n"
    )
    assert main(["explain", "--shots", str(shots), "--fps", "25"]) == 0
    out = capsys.readouterr().out
    assert "'chase' -> mood tense" in out and "'builds' -> energy rises" in out
    assert "'at 00:12' -> hit at 12.00 s" in out and "hits 12.00 s" in out
    assert "'ukulele' -> instrument ukulele" in out and "'120 bpm' -> tempo 120 bpm" in out
    assert "energy falls" in out  # the explicit column wins
    assert "120 bpm from 0.00 s" in out and "from 12.00 s" in out and "ending" in out


def test_user_styles_extend_the_vocabulary(tmp_path, capsys):
    styles = tmp_path / "styles.toml"
    styles.write_text(
        '[genres.polka]\nwords = ["polka", "oompah"]\ntempo_bpm = [110, 130]\n'
        'instruments = ["trumpet", "acoustic bass"]\ndrums = "folk"\nchords_per_bar = 1\n'
        'bass = "root-fifth"\nmajor = ["I V7 V7 I"]\nminor = ["i V7 V7 i"]\n'
    )
    cfg = tmp_path / "project.toml"
    cfg.write_text('[composer]\nstyles = "styles.toml"\n')  # relative to the config file
    shots = tmp_path / "s.csv"
    shots.write_text("scene,tc_in,tc_out,description\n1,0,8,an oompah band\n")
    args = ["--shots", str(shots), "--fps", "25", "--config", str(cfg)]
    assert main(["explain", *args]) == 0
    assert "'oompah' -> genre polka" in capsys.readouterr().out
    styles.write_text('[genres.polka]\ntempo_bpm = [110, 130]\ndrums = "march"\n')
    proc = run("explain", *args)
    assert proc.returncode == 2 and "genres.polka" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "content", "expected"),
    [
        (
            ["check", "--fps", "25"],
            "scene,tc_in,tc_out,description\n1,0,4,a\n2,3,6,b\n",
            "overlaps scene '1'",
        ),
        (
            ["check", "--fps", "26"],
            "scene,tc_in,tc_out,description\n1,0,4,a\n",
            "unknown frame rate",
        ),
        (
            ["score", "VIDEO", "--out", "OUT"],
            "scene,tc_in,tc_out,description\n1,0,40,a\n",
            "past the end of the video",
        ),
        (
            ["score", "VIDEO", "--out", "OUT", "--preset", "loud"],
            "scene,tc_in,tc_out,description\n1,0,4,a\n",
            "argument --preset: invalid choice: 'loud'",
        ),
        (
            ["check", "--fps", "25", "--config", "TMP"],  # a folder given as the config
            "scene,tc_in,tc_out,description\n1,0,4,a\n",
            "a folder, not a config file",
        ),
        (
            ["check", "--fps", "25", "--model", "SHOTS"],  # a CSV given as the SoundFont
            "scene,tc_in,tc_out,description\n1,0,4,a\n",
            "not a SoundFont (no RIFF sfbk header)",
        ),
    ],
)
def test_bad_input_exits_2_without_traceback(tmp_path, video_25, args, content, expected):
    shots = tmp_path / "s.csv"
    shots.write_text(content)
    names = {"VIDEO": str(video_25), "OUT": str(tmp_path / "o"), "SHOTS": str(shots)}
    names["TMP"] = str(tmp_path)
    args = [names.get(a, a) for a in args]
    proc = run(*args, "--shots", str(shots))
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr and "Traceback" not in proc.stderr
    assert (
        str(shots) in proc.stderr
        or "frame rate" in proc.stderr
        or "preset" in proc.stderr
        or (str(tmp_path) in proc.stderr)
    )
    assert not (tmp_path / "o").exists()


def test_render_an_edited_cue_midi(tmp_path, capsys):
    composer = Composer()
    b = make_brief(Scene("c", 0, 150, Fraction(25), "calm acoustic"))
    cue = composer.generate([b], seconds=[6.0], seed=2)[0]
    midi = tmp_path / "cue.mid"
    midi.write_bytes(cue.midi)
    out = tmp_path / "cue.wav"
    assert main(["render", str(midi), "--out", str(out), "--seconds", "6"]) == 0
    rendered, sr = soundfile.read(out, always_2d=True)
    assert sr == 48000 and rendered.shape == (6 * 48000, 2)
    # The exported file renders back to the cue (note times move by under a MIDI tick).
    body = cue.audio.T / np.abs(cue.audio).max()
    corr = np.corrcoef(rendered[:, 0], body[:, 0])[0, 1]
    assert corr > 0.9, corr
    # An edit is heard: everything up a fifth.
    pm = pretty_midi.PrettyMIDI(io.BytesIO(cue.midi))
    for inst in pm.instruments:
        for n in inst.notes:
            n.pitch += 0 if inst.is_drum else 7
    pm.write(str(midi))
    assert main(["render", str(midi), "--out", str(out), "--seconds", "6"]) == 0
    edited, _ = soundfile.read(out, always_2d=True)
    assert abs(np.corrcoef(edited[:, 0], rendered[:, 0])[0, 1]) < 0.3
    capsys.readouterr()
    midi.write_text("not midi")
    proc = run("render", str(midi), "--out", str(out))
    assert proc.returncode == 2 and "not a readable MIDI file" in proc.stderr
    assert str(midi) in proc.stderr and "Traceback" not in proc.stderr
    proc = run("render", str(out), "--out", str(out))
    assert proc.returncode == 2 and "refusing to overwrite" in proc.stderr


def test_version_and_module_entry_point():
    from scoreflow import __version__

    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"scoreflow {__version__}"
    assert __version__ != "0+unknown"  # read from the installed metadata


def _options(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {opt}", a) for opt, a in _options(sub))
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield (action.option_strings or [action.dest])[0], action


def test_every_option_has_help_and_closed_sets_have_choices():
    from scoreflow import config
    from scoreflow.flows.cli import BACKENDS, PRESETS, _parser
    from scoreflow.tasks.engines import BACKENDS as REGISTERED

    options = list(_options(_parser()))
    assert len(options) > 60
    assert [name for name, a in options if not a.help] == []
    for name, action in options:
        if name.endswith(("--backend", "--preset")):
            assert action.choices, name
    assert set(BACKENDS) == set(REGISTERED)
    assert set(PRESETS) == set(config.loudness_presets())


def test_an_unexpected_failure_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    from scoreflow.flows import cli

    def broken(args):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(cli.COMMANDS, "check", broken)
    assert main(["check", "--shots", "x.csv"]) == 1
    err = capsys.readouterr().err
    assert "scoreflow: failed: RuntimeError: disk on fire" in err and "--debug" in err
    assert "Traceback" not in err
    for debug in (["check", "--shots", "x.csv", "--debug"], ["--debug", "check", "--shots", "x"]):
        with pytest.raises(RuntimeError, match="disk on fire"):
            main(debug)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["watch", "--queue", ""], "field '--queue': not an SQS queue URL (got '')"),
        (["watch", "--queue", "uploads"], "not an SQS queue URL (got 'uploads')"),
    ],
)
def test_watch_options_are_checked_before_anything_starts(args, expected):
    proc = run(*args, "--once")
    assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr


def test_a_missing_aws_region_is_an_input_error(monkeypatch):
    from scoreflow.tasks.cloud import storage
    from scoreflow.tasks.errors import InputError

    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    storage.aws_client.cache_clear()
    with pytest.raises(InputError, match="no AWS region for SQS") as info:
        storage.aws_client("sqs")
    assert "AWS_REGION" in str(info.value)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")  # AWS_REGION alone is enough
    storage.aws_client.cache_clear()
    assert storage.aws_client("sqs").meta.region_name == "eu-west-3"
    storage.aws_client.cache_clear()


@pytest.mark.parametrize(
    ("item", "line"),
    [
        ({"what": "scored", "pair": "spot 12", "to": "s3://b/scored/spot 12/r/"},
         "scored: spot 12 -> s3://b/scored/spot 12/r/"),
        ({"what": "waiting for its partner", "uploads": ["s3://b/in/a.mp4"]},
         "waiting for its partner: s3://b/in/a.mp4"),
        ({"what": "nothing to score", "uploads": []}, "nothing to score: -"),
        ({"what": "failed (try 1)", "pair": "promo", "error": "x"}, "failed (try 1): promo"),
    ],
)  # fmt: skip
def test_watch_prints_one_line_per_outcome_as_the_readme_shows(item, line):
    from scoreflow.flows.cli import watch_line

    assert watch_line(item) == line
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert line.split(":")[0] + ":" in readme
