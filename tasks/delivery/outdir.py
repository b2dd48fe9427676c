"""A run's output folder: claimed, staged, then switched into place, so it never lies.

- **Inputs are never replaced.** Before any work, an input (video, shot list, config,
  styles, SoundFont) that sits where an output of the same name goes is refused, with both
  paths named.
- **One run at a time.** A run claims the folder with a lock file holding its pid. A second
  run gets a clear "in use" error. A lock left by a process that is gone is taken over.
- **All or nothing.** Everything is written into a hidden stage folder beside the outputs.
  Only at the end is the switch made: the old manifest is removed first (so a folder caught
  half-way claims nothing), then the old run's outputs that this run does not make, and
  stale files of our kinds in cues/ and stems/. Then the new files are moved in, and the
  manifest goes last. Its hashes are those of the files this run wrote in its own stage.
- **Crashed runs leave nothing behind.** A run killed half-way leaves only its stage folder,
  and the next run removes it.

`verify` checks a folder against its manifest.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from scoreflow.tasks.cloud.storage import sha256_file
from scoreflow.tasks.errors import InputError, StorageError

LOCK = ".scoreflow.lock"
STAGE_PREFIX = ".scoreflow-run-"
OWN_FILES = ("manifest.json", "soundtrack.wav", "mix.wav", "cuesheet.csv", "report.html",
             "score.otio", "score.xml", "score.fcpxml", "music.edl", "RELINK.txt")  # fmt: skip
OWN_DIRS = {"cues": (".wav", ".mid"), "stems": (".wav",)}


def is_ours(relative: Path) -> bool:
    """Whether a path inside an output folder is one of the kinds a run writes: a file of
    `OWN_FILES`, a scored video (``<stem>.scored.<ext>``), a cue or stem file."""
    parts = relative.parts
    if ".." in parts:
        return False
    if len(parts) == 1:
        return parts[0] in OWN_FILES or ".scored." in parts[0]
    if len(parts) == 3 and parts[0] == "takes":  # takes/<scene>/take-<k>.wav|.mid
        return parts[2].startswith("take-") and relative.suffix in (".wav", ".mid")
    if len(parts) == 3 and parts[0] == "revisions":  # revisions/<n>/manifest.json
        return parts[1].isdigit() and parts[2] == "manifest.json"
    return len(parts) == 2 and relative.suffix in OWN_DIRS.get(parts[0], ())


def refuse_inputs_in_the_way(out: Path, inputs: dict[str, Path]) -> None:
    """Raise `InputError` if writing the outputs into `out` would replace an input.

    Parameters
    ----------
    inputs : dict
        What each input is ("shot list", "config" ...) -> its local path.
    """
    root = out.resolve()
    for what, given in inputs.items():
        path = Path(given).resolve()
        try:
            relative = path.relative_to(root)
        except ValueError:
            continue
        if relative.parts and is_ours(relative):
            raise InputError(
                f"the {what} would be replaced by the output {root / relative}",
                source=str(given),
                fix="Choose another --out folder, or move or rename the input",
            )


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (ours to signal or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunFolder:
    """The output folder of one run: ``with RunFolder(out, run_id) as stage: ...``, write
    everything into `stage`, then `commit` the names written. Leaving the block without a
    commit leaves the folder as it was (the stage is removed, the lock released)."""

    def __init__(self, out: Path, run_id: str) -> None:
        self.out, self.run_id = out, run_id
        self.stage = out / f"{STAGE_PREFIX}{run_id}"
        self.lock = out / LOCK
        self._claimed = False

    def __enter__(self) -> Path:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._claim()
            self._sweep()
            self.stage.mkdir()
        except PermissionError as exc:
            raise StorageError(
                f"cannot write to the output folder {self.out}: {exc.strerror}"
            ) from None
        return self.stage

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)
        if self._claimed:
            self.lock.unlink(missing_ok=True)

    def _claim(self) -> None:
        """Take the lock (atomic create); take over one whose process is gone."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        me = f"{os.getpid()} {socket.gethostname()} {now}"
        for _ in range(3):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                held = self.lock.read_text(errors="replace").split()
                pid = int(held[0]) if held and held[0].isdigit() else 0
                host = held[1] if len(held) > 1 else ""
                if pid and host == socket.gethostname() and not pid_alive(pid):
                    self.lock.unlink(missing_ok=True)  # its run died: take over
                    continue
                since = held[2] if len(held) > 2 else "?"
                raise StorageError(
                    f"the output folder {self.out} is in use by another run "
                    f"(pid {pid or '?'} on {host or '?'}, since {since}); wait for it or "
                    f"choose another --out (remove {self.lock} only if no run is alive)"
                ) from None
            with os.fdopen(fd, "w") as fh:
                fh.write(me + "\n")
            self._claimed = True
            return
        raise StorageError(f"could not claim the output folder {self.out}")

    def _sweep(self) -> None:
        """Remove what dead runs left: their stage folders and partial files."""
        for leftover in self.out.glob(f"{STAGE_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for folder in (self.out, *(self.out / d for d in OWN_DIRS)):
            for partial in folder.glob(".*.partial*"):
                partial.unlink(missing_ok=True)

    def commit(self, names: list[str]) -> None:
        """Switch the staged run into place. `names` are the staged outputs (paths relative
        to the stage); ``manifest.json`` must be among them and goes in last."""
        if "manifest.json" not in names:
            raise ValueError("a run commits its manifest")
        old = self.out / "manifest.json"
        before = _listed(old)
        old.unlink(missing_ok=True)  # from here the folder claims nothing until the end
        keep = set(names)
        for name in before - keep:
            if is_ours(Path(name)):  # never anything a manifest names outside our kinds
                (self.out / name).unlink(missing_ok=True)
        for sub, kinds in OWN_DIRS.items():
            for stale in (self.out / sub).glob("*"):
                rel = f"{sub}/{stale.name}"
                if stale.is_file() and stale.suffix in kinds and rel not in keep:
                    stale.unlink()
        for name in sorted(keep - {"manifest.json"}):
            target = self.out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.stage / name, target)
        os.replace(self.stage / "manifest.json", old)


def _listed(manifest: Path) -> set[str]:
    """The outputs a manifest lists (none if it is missing or unreadable)."""
    try:
        return set(json.loads(manifest.read_text())["outputs"])
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def verify(out: Path) -> list[str]:
    """Problems with a folder against its manifest: outputs missing, changed (size or
    SHA-256) or unlisted (files of our kinds the manifest does not name). Empty: it holds
    what its manifest says."""
    manifest = out / "manifest.json"
    if not out.is_dir():
        raise InputError("not a folder", source=str(out), fix="Give a run's output folder")
    try:
        data: dict[str, Any] = json.loads(manifest.read_text())
        outputs = data["outputs"]
    except FileNotFoundError:
        return [f"{manifest}: missing (the folder claims no run)"]
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{manifest}: unreadable ({type(exc).__name__})"]
    problems = []
    for name, entry in sorted(outputs.items()):
        path = out / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != entry.get("bytes"):
            problems.append(
                f"{name}: {path.stat().st_size} bytes, the manifest says {entry.get('bytes')}"
            )
        elif sha256_file(path) != entry.get("sha256"):
            problems.append(f"{name}: content differs from the manifest (SHA-256)")
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        listed = rel.as_posix() in outputs or rel.as_posix() == "manifest.json"
        hidden = any(p.startswith(".") for p in rel.parts)
        if path.is_file() and is_ours(rel) and not listed and not hidden:
            problems.append(f"{rel.as_posix()}: not in the manifest (from another run?)")
    return problems
