"""Where inputs come from and outputs go: local paths (s3:// arrives with cloud storage).

Outputs appear atomically: written under a temporary name in the same folder, then renamed.
Nothing the user gave is ever overwritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tasks.errors import InputError, StorageError

_UMASK = os.umask(0)
os.umask(_UMASK)


def local_path(uri: str | Path, *, what: str) -> Path:
    """A local path for `uri`; remote URIs are refused with a clear message for now."""
    text = str(uri)
    if "://" in text:
        raise InputError(
            f"{what}: remote storage is not supported yet",
            value=text,
            fix="Copy the file locally and pass its path",
        )
    return Path(text).expanduser()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prepare_out_dir(out: Path) -> Path:
    """Create the output folder and return its absolute path."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create output folder {out}: {exc.strerror}") from None
    return out.resolve()


def check_not_input(path: Path, inputs: list[Path]) -> None:
    """Raise if writing `path` would overwrite a file the user gave."""
    target = path.resolve()
    for given in inputs:
        if given.exists() and target.exists() and os.path.samefile(target, given):
            raise InputError(
                "refusing to overwrite an input file",
                source=str(given),
                fix="Choose another --out folder",
            )


@contextlib.contextmanager
def atomic_path(final: Path, *, inputs: list[Path] = ()) -> Iterator[Path]:  # type: ignore[assignment]
    """Yield a temporary path beside `final`; on success rename it onto `final`."""
    check_not_input(final, list(inputs))
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{final.stem}.", suffix=f".partial{final.suffix}", dir=final.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(final: Path, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
