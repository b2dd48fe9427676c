"""The output folder never replaces an input and never lies about its contents."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scoreflow.tasks.cloud.storage import sha256_file
from scoreflow.tasks.delivery.outdir import LOCK, RunFolder, refuse_inputs_in_the_way, verify
from scoreflow.tasks.errors import InputError, StorageError


def manifest_of(folder: Path, names: list[str]) -> None:
    outputs = {n: {"sha256": sha256_file(folder / n), "bytes": (folder / n).stat().st_size}
               for n in names}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps({"outputs": outputs}))


def run(out: Path, run_id: str, files: dict[str, str]) -> None:
    """A run that writes `files` (name -> text) and commits them with their manifest."""
    folder = RunFolder(out, run_id)
    with folder as stage:
        for name, text in files.items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).write_text(text)
        manifest_of(stage, list(files))
        folder.commit([*files, "manifest.json"])


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("music.edl", True),
        ("cuesheet.csv", True),
        ("score.xml", True),
        ("cues/1.wav", True),
        ("v.scored.mp4", True),
        ("shots.csv", False),
        ("cues/notes.txt", False),
    ],
)
def test_an_input_where_an_output_goes_is_refused(tmp_path, name, refused):
    given = tmp_path / name
    given.parent.mkdir(parents=True, exist_ok=True)
    given.write_text("scene,tc_in,tc_out,description\n")
    inputs = {"shot list": given}
    if refused:
        with pytest.raises(InputError, match="would be replaced by the output") as err:
            refuse_inputs_in_the_way(tmp_path, inputs)
        assert str(given) in str(err.value) and str(tmp_path.resolve() / name) in str(err.value)
    else:
        refuse_inputs_in_the_way(tmp_path, inputs)


def test_the_cli_refuses_before_any_work(tmp_path):
    shots = tmp_path / "music.edl"
    shots.write_text("TITLE: x\nFCM: NON-DROP FRAME\n")
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    proc = subprocess.run(
        [sys.executable, "-m", "scoreflow", "score", str(video), "--shots", str(shots),
         "--out", str(tmp_path), "--fps", "25"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert shots.read_text() == "TITLE: x\nFCM: NON-DROP FRAME\n"


def test_a_rerun_replaces_the_old_run_and_its_stale_files(tmp_path):
    out = tmp_path / "out"
    run(out, "r1", {"soundtrack.wav": "one", "cues/a.wav": "a1", "cues/b.wav": "b1",
                    "cues/b.mid": "m"})  # fmt: skip
    (out / "notes.txt").write_text("the user's own")  # not ours: never touched
    assert verify(out) == []
    run(out, "r2", {"soundtrack.wav": "two", "cues/a.wav": "a2"})
    assert verify(out) == []
    assert sorted(p.name for p in (out / "cues").iterdir()) == ["a.wav"]
    assert (out / "soundtrack.wav").read_text() == "two" and (out / "notes.txt").exists()
    assert not list(out.glob(".scoreflow-run-*")) and not (out / LOCK).exists()


def test_a_run_that_fails_half_way_leaves_the_folder_as_it_was(tmp_path):
    out = tmp_path / "out"
    run(out, "r1", {"soundtrack.wav": "one", "cues/a.wav": "a1"})
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError), RunFolder(out, "r2") as stage:
        (stage / "soundtrack.wav").write_text("half")
        raise RuntimeError("the mix failed")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert verify(out) == []


def test_one_run_at_a_time_and_a_dead_runs_lock_is_taken_over(tmp_path):
    out = tmp_path / "out"
    with (
        RunFolder(out, "r1"),
        pytest.raises(StorageError, match=r"in use by another run \(pid \d+"),
        RunFolder(out, "r2"),
    ):
        pass
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    import socket

    (out / LOCK).write_text(f"{dead} {socket.gethostname()} 2026-01-01T00:00:00Z\n")
    (out / ".scoreflow-run-old").mkdir()  # what a killed run left
    (out / ".soundtrack.x.partial.wav").write_text("")
    with RunFolder(out, "r3") as stage:
        assert stage.is_dir() and (out / LOCK).read_text().split()[0] == str(os.getpid())
    assert not (out / ".scoreflow-run-old").exists()
    assert not (out / ".soundtrack.x.partial.wav").exists()


def test_verify_names_what_does_not_match(tmp_path):
    out = tmp_path / "out"
    run(out, "r1", {"soundtrack.wav": "one", "cues/a.wav": "a1", "mix.wav": "m"})
    (out / "cues" / "a.wav").write_text("A1")  # same size, other content
    (out / "mix.wav").unlink()
    (out / "cues" / "z.wav").write_text("stale")
    problems = verify(out)
    assert problems == [
        "cues/a.wav: content differs from the manifest (SHA-256)",
        "mix.wav: missing",
        "cues/z.wav: not in the manifest (from another run?)",
    ]
    proc = subprocess.run([sys.executable, "-m", "scoreflow", "verify", str(out)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 1 and "does NOT match" in proc.stdout
    (out / "manifest.json").unlink()
    assert verify(out) == [f"{out / 'manifest.json'}: missing (the folder claims no run)"]


def test_write_failures_say_what_happened(tmp_path):
    import errno

    from scoreflow.tasks.cloud.storage import write_failure
    from scoreflow.tasks.delivery.deliver import write_wav

    full = write_failure(tmp_path / "mix.wav", OSError(errno.ENOSPC, "No space left on device"))
    assert str(full).startswith(f"no space left on the device writing {tmp_path / 'mix.wav'}")
    assert "MB free" in str(full)
    huge = write_failure(tmp_path / "mix.wav", RuntimeError("System error."), need_bytes=1 << 60)
    assert "no space left on the device" in str(huge)  # libsndfile's own words say nothing
    denied = write_failure(tmp_path / "x.wav", OSError(errno.EROFS, "Read-only file system"))
    assert str(denied) == f"cannot write {tmp_path / 'x.wav'}: Read-only file system"
    with pytest.raises(StorageError, match=r"cannot write .*not_a_folder"):
        import numpy as np

        (tmp_path / "not_a_folder").write_text("")
        write_wav(tmp_path / "not_a_folder" / "a.wav", np.zeros((2, 10), np.float32), 48000)
