"""The cue cache: keys scoped by project and code, expiry, and pruning by the CLI."""

import os
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
