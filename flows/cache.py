"""The cue cache: where generated cues are kept, how long, its keys and its housekeeping.

Cues (and their measures, and a video's picture reading) are Prefect task results,
persisted under ``config.cache_dir`` (or a Prefect storage block named in
``cache.storage``) with their cache records keyed by Prefect cache policies: `CUE_POLICY`,
`MEASURE_POLICY`, `PICTURE_POLICY`, each the task's inputs plus the digests of the code
and settings that make the result (`Digest`), named by what it holds (`Named`). Records
expire after ``cache.expire_days`` (Prefect then generates the cue again); `prune` deletes
the expired files, which Prefect never does.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from prefect.cache_policies import CachePolicy, Inputs
from prefect.context import TaskRunContext
from prefect.utilities.hashing import hash_objects

from scoreflow import __version__, config
from scoreflow.config.settings import Settings
from scoreflow.tasks.cloud.storage import S3Uri
from scoreflow.tasks.errors import InputError

KEY_PREFIX = "scoreflow-cue-"


@cache
def code_digest(backend: str) -> str:
    """A digest of the installed scoreflow version and the source of the backend's modules:
    another checkout or an edited composer never reuses this one's cues."""
    from scoreflow.tasks import engines

    root = Path(engines.__file__).parent
    if backend == "composer":  # its plan reads music theory, which the measures share
        files = [*sorted(root.glob("composer/*.py")), root.parent / "music" / "theory.py"]
    else:  # a neural engine's own module on the shared base
        files = [*sorted(root.glob(f"{backend.replace('-', '_')}.py")), root / "base.py",
                 root / "batching.py"]  # fmt: skip
    files.append(root / "__init__.py")
    digest = hashlib.sha256(__version__.encode())
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@cache
def quality_digest() -> str:
    """A digest of the measuring code (`tasks.quality.measures`, `analysis`, `originality`,
    `beats`): edited measures are computed again, not read from the cache."""
    from scoreflow.tasks.audio import analysis, beats
    from scoreflow.tasks.quality import measures as quality
    from scoreflow.tasks.quality import originality

    digest = hashlib.sha256(__version__.encode())
    for module in (quality, analysis, originality, beats):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()[:16]


@cache
def picture_digest() -> str:
    """A digest of the picture reader's code (`tasks.picture.frames`, `shots`, `spotting`,
    `picture`): an edited reader reads the video again."""
    from scoreflow.tasks.picture import frames, shots, spotting
    from scoreflow.tasks.picture import reading as picture

    digest = hashlib.sha256(__version__.encode())
    for module in (frames, shots, spotting, picture):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()[:16]


def music_settings(settings: Settings) -> dict[str, Any]:
    """The settings that define the music a backend makes, as plain data for cache keys:
    its backend, model and sample rate, the project, the composer's table (its vocabulary
    also shapes every brief) and the backend's own table (audiocraft reads musicgen's)."""
    dumped = settings.model_dump(mode="json")
    pipeline = dumped["pipeline"]
    table = "musicgen" if pipeline["backend"] == "audiocraft" else pipeline["backend"]
    return {
        "pipeline": {k: pipeline[k] for k in ("backend", "model", "sample_rate")},
        **{t: dumped[t] for t in ("project", "composer", table) if t in dumped},
    }


def cue_key(payload: dict[str, Any], settings: Settings) -> str:
    """The cache key of a cue: what defines its music (`payload`), namespaced by the project
    (client and name) and by `code_digest`, so projects and checkouts never collide."""
    scope = {
        "client": settings.project.client,
        "project": settings.project.name,
        "code": code_digest(settings.pipeline.backend),
    }
    blob = json.dumps({**payload, "scope": scope}, sort_keys=True, default=str).encode()
    return KEY_PREFIX + hashlib.sha256(blob).hexdigest()


def _nothing(inputs: dict[str, Any]) -> None:
    return None


@dataclass(kw_only=True)
class Digest(CachePolicy):
    """A key part that `Inputs` cannot give: what `of` derives from the task's inputs (a
    digest of the code that makes the result, the part of a settings input it reads)."""

    of: Callable[[dict[str, Any]], Any] = _nothing

    def compute_key(self, task_ctx: TaskRunContext, inputs: dict[str, Any], *args: Any,
                    **kwargs: Any) -> str | None:  # fmt: skip
        return hash_objects(self.of(inputs), raise_on_failure=True)


@dataclass(kw_only=True)
class Named(CachePolicy):
    """`policy`'s key after `prefix`: the cache's records say what they hold."""

    prefix: str = ""
    policy: CachePolicy | None = None

    def compute_key(self, task_ctx: TaskRunContext, inputs: dict[str, Any], *args: Any,
                    **kwargs: Any) -> str | None:  # fmt: skip
        if self.policy is None:
            return None
        key = self.policy.compute_key(task_ctx, inputs, *args, **kwargs)
        return None if key is None else self.prefix + key


def music_scope(inputs: dict[str, Any]) -> dict[str, Any]:
    """What shapes a cue besides its other inputs: the settings that define its music (with
    the project: `music_settings`), the backend's version, the style vocabulary and the
    code (`code_digest`)."""
    from scoreflow.tasks.engines import get_backend

    settings: Settings = inputs["settings"]
    return {
        "settings": music_settings(settings),
        "backend_version": get_backend(settings).version,
        "styles": config.styles_digest(settings.composer.styles),
        "code": code_digest(settings.pipeline.backend),
    }


def cue_content(inputs: dict[str, Any]) -> str:
    """A digest of the measured cue: its audio, MIDI and tempo (not its other metadata)."""
    cue = inputs["cue"]
    digest = hashlib.sha256(np.ascontiguousarray(cue.audio).tobytes())
    digest.update(cue.midi or b"")
    digest.update(json.dumps({"bpm": cue.bpm}).encode())
    return digest.hexdigest()


def measuring_code(inputs: dict[str, Any]) -> str:
    return quality_digest()


def picture_settings(inputs: dict[str, Any]) -> dict[str, object]:
    """What the picture reader reads of the settings: ``[picture]``, the vocabulary and the
    dialogue margin."""
    settings: Settings = inputs["cfg"]
    return {
        "picture": settings.picture,
        "styles": config.styles_digest(settings.composer.styles),
        "speech_margin_db": settings.mix.speech_margin_db,
    }


def reading_code(inputs: dict[str, Any]) -> str:
    return picture_digest()


#: a cue: its brief, length and seed, and `music_scope` (the settings that define its music)
CUE_POLICY = Named(prefix=KEY_PREFIX, policy=Inputs(exclude=["settings"]) + Digest(of=music_scope))
#: a cue's measures: its content, brief and thresholds, and the measuring code
MEASURE_POLICY = Named(
    prefix="scoreflow-quality-",
    policy=Inputs(exclude=["cue"]) + Digest(of=cue_content) + Digest(of=measuring_code),
)
#: a video's reading: its content (not where it was fetched to), the settings the reader
#: reads and its code (a revision does not read the picture again)
PICTURE_POLICY = Named(
    prefix="scoreflow-picture-",
    policy=Inputs(exclude=["video", "cfg"]) + Digest(of=picture_settings) + Digest(of=reading_code),
)


def task_options(settings: Settings) -> dict[str, Any]:
    """``with_options`` for the cue task: its result storage and expiry from ``[cache]``."""
    return {
        "result_storage": result_storage(settings.cache.storage) or config.cache_dir(settings),
        "cache_expiration": timedelta(days=settings.cache.expire_days),
    }


def result_storage(chosen: str) -> Any:
    """Where cue results go for ``cache.storage``: an ``s3://bucket/prefix`` (an S3 store
    shared by every machine, credentials and endpoint from the environment, as for inputs),
    a Prefect storage block's slug (``s3-bucket/cue-cache``), or "" (None: the local
    folder)."""
    if not chosen:
        return None
    if chosen.startswith("s3://"):
        return _s3_bucket(chosen.rstrip("/") + "/")
    return chosen


@cache
def _s3_bucket(uri: str) -> str:
    """A Prefect S3Bucket block for `uri` (Prefect keeps result storage server-side), saved
    under a name from the URI; its slug. Credentials are left to the environment."""
    try:
        from prefect_aws import AwsCredentials, S3Bucket
    except ImportError:
        raise InputError(
            "an s3:// cue cache needs prefect-aws", field="cache.storage", value=uri,
            fix="pip install 'scoreflow[aws]'",
        ) from None  # fmt: skip
    target = S3Uri.parse(uri)
    name = "scoreflow-cues-" + hashlib.sha256(uri.encode()).hexdigest()[:12]
    block = S3Bucket(
        bucket_name=target.bucket, bucket_folder=target.key.rstrip("/"),
        credentials=AwsCredentials(),
    )  # fmt: skip
    block.save(name, overwrite=True)
    return f"s3-bucket/{name}"


def entries(folder: Path) -> list[Path]:
    """The cache's files (cue results and their records)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.rglob("*") if p.is_file()]


def prune(folder: Path, *, older_than_days: float, dry_run: bool = False) -> tuple[int, int]:
    """Delete cache files last written more than `older_than_days` ago.

    Returns
    -------
    (files, bytes) removed (or that would be, with `dry_run`).
    """
    cutoff = time.time() - older_than_days * 86400
    count = size = 0
    for path in entries(folder):
        st = path.stat()
        if st.st_mtime < cutoff:
            count, size = count + 1, size + st.st_size
            if not dry_run:
                path.unlink(missing_ok=True)
    return count, size


def usage(folder: Path) -> tuple[int, int]:
    """(files, bytes) in the cache folder."""
    files = entries(folder)
    return len(files), sum(p.stat().st_size for p in files)
