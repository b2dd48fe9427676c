"""The cue cache: keys scoped by project and code, expiry, and pruning by the CLI."""

import json
import os
import subprocess
import sys
import time

import pytest

from scoreflow import config
from scoreflow.flows import cache
from scoreflow.flows.cli import main

PAYLOAD = {"brief": {"scene_id": "1", "prompt": "calm"}, "samples": 48000, "seed": 3}


def settings(**project):
    cfg = config.load_config(None, {"project": project})
    return {"pipeline": cfg["pipeline"], "project": cfg["project"]}


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


def test_task_options_follow_the_config(tmp_path):
    cfg = config.load_config(None, {"cache": {"dir": str(tmp_path), "expire_days": 2.5}})
    options = cache.task_options(cfg)
    assert options["result_storage"] == tmp_path
    assert options["cache_expiration"].total_seconds() == 2.5 * 86400
    cfg = config.load_config(None, {"cache": {"storage": "s3-bucket/cues"}})
    assert cache.task_options(cfg)["result_storage"] == "s3-bucket/cues"


def test_cache_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("SCOREFLOW_CACHE_DIR", str(tmp_path / "env"))
    assert config.cache_dir(config.load_config()) == tmp_path / "env"
    cfg = config.load_config(None, {"cache": {"dir": str(tmp_path / "cfg")}})
    assert config.cache_dir(cfg) == tmp_path / "cfg"
    monkeypatch.delenv("SCOREFLOW_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.cache_dir(config.load_config()) == tmp_path / "xdg" / "scoreflow"


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
    assert config.cache_dir(config.load_config(project)) == tmp_path / "job" / "cues"


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
