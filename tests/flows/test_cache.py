"""The cue cache: keys scoped by project and code, expiry, and pruning by the CLI."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scoreflow import config
from scoreflow.flows import cache
from scoreflow.flows.cli import main

PAYLOAD = {"brief": {"scene_id": "1", "prompt": "calm"}, "samples": 48000, "seed": 3}


def settings(**project):
    return config.load_settings(None, {"project": project})


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({}, {}, True),
        ({"name": "spot12"}, {"name": "spot12"}, True),
        ({"name": "spot12"}, {"name": "spot13"}, False),
        ({"client": "acme", "name": "x"}, {"client": "globex", "name": "x"}, False),
    ],
)
def test_keys_are_scoped_by_project(a, b, same):
    assert (cache.cue_key(PAYLOAD, settings(**a)) == cache.cue_key(PAYLOAD, settings(**b))) is same


def test_keys_change_with_the_code(monkeypatch):
    before = cache.cue_key(PAYLOAD, settings())
    cache.code_digest.cache_clear()
    monkeypatch.setattr(cache, "__version__", "9.9.9")
    assert cache.cue_key(PAYLOAD, settings()) != before
    cache.code_digest.cache_clear()


def cue_inputs(**changes):
    """A cue task's inputs: a real brief, length, seed and the run's settings."""
    from fractions import Fraction

    from scoreflow.tasks.music.brief import make_brief
    from scoreflow.tasks.timeline.model import Scene

    scene = Scene("1", 0, 50, Fraction(25), description=changes.pop("description", "calm piano"))
    cfg = config.load_settings(None, changes.pop("cfg", {}))
    inputs = {"brief": make_brief(scene, vocab=config.styles()), "samples": 96000, "seed": 3,
              "settings": cfg}  # fmt: skip
    return {**inputs, **changes}


def measure_inputs(**changes):
    import numpy as np

    from scoreflow.tasks.timeline.model import Cue

    audio = np.full((2, 4800), changes.pop("level", 0.1), np.float32)
    cue = Cue("1", audio, 48000, "composer", "test", changes.pop("prompt", "a prompt"), 7, "x",
              bpm=changes.pop("bpm", 120.0), midi=changes.pop("midi", None))  # fmt: skip
    quality = config.load_settings(None, changes.pop("cfg", {})).quality
    inputs = {"cue": cue, "brief": cue_inputs()["brief"], "settings": quality}
    return {**inputs, **changes}


def picture_inputs(**changes):
    cfg = config.load_settings(None, changes.pop("cfg", {}))
    return {"video": changes.pop("video", "/a/v.mp4"), "cfg": cfg, "video_sha256": "ab", **changes}


KEY_CASES = [  # (policy, inputs, other inputs, same key)
    ("CUE_POLICY", cue_inputs, {}, True),
    ("CUE_POLICY", cue_inputs, {"seed": 4}, False),
    ("CUE_POLICY", cue_inputs, {"samples": 96001}, False),
    ("CUE_POLICY", cue_inputs, {"description": "tense rock"}, False),
    ("CUE_POLICY", cue_inputs, {"cfg": {"project": {"name": "spot13"}}}, False),
    ("CUE_POLICY", cue_inputs, {"cfg": {"composer": {"gain_db": -3.0}}}, False),
    ("CUE_POLICY", cue_inputs, {"cfg": {"pipeline": {"sample_rate": 44100}}}, False),
    ("CUE_POLICY", cue_inputs, {"cfg": {"musicgen": {"top_k": 50}}}, True),  # another engine's
    ("CUE_POLICY", cue_inputs, {"cfg": {"pipeline": {"seed": 9, "takes": 3}}}, True),  # seed given
    ("CUE_POLICY", cue_inputs, {"cfg": {"mix": {"duck_db": 3.0}}}, True),  # not the music
    ("MEASURE_POLICY", measure_inputs, {}, True),
    ("MEASURE_POLICY", measure_inputs, {"prompt": "another"}, True),  # not what is measured
    ("MEASURE_POLICY", measure_inputs, {"level": 0.2}, False),
    ("MEASURE_POLICY", measure_inputs, {"midi": b"MThd"}, False),
    ("MEASURE_POLICY", measure_inputs, {"bpm": 90.0}, False),
    ("MEASURE_POLICY", measure_inputs, {"cfg": {"quality": {"tail_s": 2.5}}}, False),
    ("MEASURE_POLICY", measure_inputs, {"cfg": {"quality": {"weights": {"sync": 2.0}}}}, False),
    ("MEASURE_POLICY", measure_inputs, {"cfg": {"mix": {"duck_db": 3.0}}}, True),  # unread
    ("PICTURE_POLICY", picture_inputs, {"video": "/elsewhere/copy.mp4"}, True),  # content
    ("PICTURE_POLICY", picture_inputs, {"cfg": {"mix": {"duck_db": 3.0}}}, True),  # unread
    ("PICTURE_POLICY", picture_inputs, {"video_sha256": "cd"}, False),
    ("PICTURE_POLICY", picture_inputs, {"cfg": {"mix": {"speech_margin_db": 3.0}}}, False),
    ("PICTURE_POLICY", picture_inputs, {"cfg": {"picture": {"genre": "thriller"}}}, False),
]


@pytest.mark.parametrize(("policy", "inputs", "other", "same"), KEY_CASES)
def test_a_cache_key_follows_what_makes_the_result(policy, inputs, other, same):
    prefix = {"CUE_POLICY": "scoreflow-cue-", "MEASURE_POLICY": "scoreflow-quality-",
              "PICTURE_POLICY": "scoreflow-picture-"}[policy]  # fmt: skip
    policy = getattr(cache, policy)
    key = policy.compute_key(None, inputs(), {})
    assert (policy.compute_key(None, inputs(**other), {}) == key) is same
    assert key.startswith(prefix)


@pytest.mark.parametrize(
    ("policy", "inputs", "digest"),
    [
        ("CUE_POLICY", cue_inputs, "code_digest"),
        ("MEASURE_POLICY", measure_inputs, "quality_digest"),
        ("PICTURE_POLICY", picture_inputs, "picture_digest"),
    ],
)
def test_a_cache_key_changes_with_the_code(monkeypatch, policy, inputs, digest):
    policy = getattr(cache, policy)
    before = policy.compute_key(None, inputs(), {})
    getattr(cache, digest).cache_clear()
    monkeypatch.setattr(cache, "__version__", "9.9.9")
    assert policy.compute_key(None, inputs(), {}) != before
    getattr(cache, digest).cache_clear()


def test_a_cache_key_is_the_same_in_another_process():
    """Another worker finds the cue: its key does not depend on the process."""
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_cache import cue_inputs, measure_inputs, picture_inputs\n"
        "from scoreflow.flows import cache\n"
        "print(cache.CUE_POLICY.compute_key(None, cue_inputs(), {}))\n"
        "print(cache.MEASURE_POLICY.compute_key(None, measure_inputs(), {}))\n"
        "print(cache.PICTURE_POLICY.compute_key(None, picture_inputs(), {}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)  # fmt: skip
    here = [
        cache.CUE_POLICY.compute_key(None, cue_inputs(), {}),
        cache.MEASURE_POLICY.compute_key(None, measure_inputs(), {}),
        cache.PICTURE_POLICY.compute_key(None, picture_inputs(), {}),
    ]
    assert proc.stdout.split() == here


def test_task_options_follow_the_config(tmp_path):
    cfg = config.load_settings(None, {"cache": {"dir": str(tmp_path), "expire_days": 2.5}})
    options = cache.task_options(cfg)
    assert options["result_storage"] == tmp_path
    assert options["cache_expiration"].total_seconds() == 2.5 * 86400
    cfg = config.load_settings(None, {"cache": {"storage": "s3-bucket/cues"}})
    assert cache.task_options(cfg)["result_storage"] == "s3-bucket/cues"


def test_cache_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("SCOREFLOW_CACHE_DIR", str(tmp_path / "env"))
    assert config.cache_dir(config.load_settings()) == tmp_path / "env"
    cfg = config.load_settings(None, {"cache": {"dir": str(tmp_path / "cfg")}})
    assert config.cache_dir(cfg) == tmp_path / "cfg"
    monkeypatch.delenv("SCOREFLOW_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.cache_dir(config.load_settings()) == tmp_path / "xdg" / "scoreflow"


def test_prune_removes_only_what_expired(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCOREFLOW_CACHE_DIR", str(tmp_path))
    old, new = tmp_path / "scoreflow-cue-old", tmp_path / "sub" / "scoreflow-cue-new"
    new.parent.mkdir()
    old.write_bytes(b"x" * 1000)
    new.write_bytes(b"y" * 500)
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old, (ten_days_ago, ten_days_ago))
    assert main(["cache", "info"]) == 0
    assert "2 files" in capsys.readouterr().out
    assert main(["cache", "prune", "--older-than", "5", "--dry-run"]) == 0
    assert "would remove 1 files" in capsys.readouterr().out and old.exists()
    assert main(["cache", "prune", "--older-than", "5"]) == 0
    assert "removed 1 files (0.0 MB) older than 5 days" in capsys.readouterr().out
    assert not old.exists() and new.exists()
    assert main(["cache", "prune"]) == 0  # default: cache.expire_days (30)
    assert new.exists()
    assert main(["cache", "prune", "--older-than", "-1"]) == 2


def test_a_relative_cache_dir_is_relative_to_the_project_file(tmp_path, monkeypatch):
    project = tmp_path / "job" / "project.toml"
    project.parent.mkdir()
    project.write_text('[cache]\ndir = "cues"\n')
    monkeypatch.chdir(tmp_path)
    assert config.cache_dir(config.load_settings(project)) == tmp_path / "job" / "cues"


def test_an_s3_cue_cache_is_shared_by_another_machine(prefect_server, aws, tmp_path):
    """Cues cached in an s3:// store by one process are taken from it by another with an
    empty local cache (another worker), not made again."""
    import boto3
    from prefect.settings import PREFECT_API_URL

    from scoreflow.flows.score import score_video
    from scoreflow.tasks.audio.media import generate_video

    boto3.client("s3").create_bucket(Bucket="cues")
    video = generate_video(tmp_path / "v.mp4", seconds=4, rate="25", size="64x36")
    shots = tmp_path / "shots.csv"
    shots.write_text("scene,tc_in,tc_out,description\n1,0,2,calm piano\n2,2,4,tense rock\n")
    project = tmp_path / "project.toml"
    project.write_text('[cache]\nstorage = "s3://cues/scoreflow/"\n')
    first = score_video(video=str(video), shots=str(shots), out=str(tmp_path / "a"),
                        config_file=str(project))  # fmt: skip
    assert [s["cue"]["cached"] for s in first["scenes"]] == [False, False]
    stored = boto3.client("s3").list_objects_v2(Bucket="cues", Prefix="scoreflow/")
    assert len(stored.get("Contents", [])) >= 2  # the cues (and their measures) are in S3

    other = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()),
             "SCOREFLOW_CACHE_DIR": str(tmp_path / "empty"),
             "PREFECT_LOCAL_STORAGE_PATH": str(tmp_path / "other-storage")}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "scoreflow", "score", str(video), "--shots", str(shots),
         "--out", str(tmp_path / "b"), "--config", str(project)],
        env=other, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    second = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [s["cue"]["cached"] for s in second["scenes"]] == [True, True]
    assert not (tmp_path / "empty").exists() or not any((tmp_path / "empty").rglob("*"))
