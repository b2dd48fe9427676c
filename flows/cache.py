"""The cue cache: where generated cues are kept, how long, and its housekeeping.

Cues are Prefect task results, persisted under ``config.cache_dir`` (or a Prefect storage
block named in ``cache.storage``) with the cache record named by `cue_cache_key`. Records
expire after ``cache.expire_days`` (Prefect then generates the cue again); `prune` deletes
the expired files, which Prefect never does.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from scoreflow import __version__, config
from scoreflow.tasks.cloud.storage import S3Uri
from scoreflow.tasks.errors import InputError

KEY_PREFIX = "scoreflow-cue-"


@cache
def code_digest(backend: str) -> str:
    """A digest of the installed scoreflow version and the source of the backend's modules:
    another checkout or an edited composer never reuses this one's cues."""
    from scoreflow.tasks import engines

    root = Path(engines.__file__).parent
    files = sorted(root.glob("composer/*.py")) if backend == "composer" else []
    files += [*sorted(root.glob(f"{backend.replace('-', '_')}.py")), root / "__init__.py"]
    digest = hashlib.sha256(__version__.encode())
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@cache
def quality_digest() -> str:
    """A digest of the measuring code (`tasks.quality`, `analysis`, `originality`,
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
    """A digest of the picture reader's code (`tasks.frames`, `shots`, `spotting`,
    `picture`): an edited reader reads the video again."""
    from scoreflow.tasks.picture import frames, shots, spotting
    from scoreflow.tasks.picture import reading as picture

    digest = hashlib.sha256(__version__.encode())
    for module in (frames, shots, spotting, picture):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()[:16]


def cue_key(payload: dict[str, Any], cfg: dict[str, Any]) -> str:
    """The cache key of a cue: what defines its music (`payload`), namespaced by the project
    (client and name) and by `code_digest`, so projects and checkouts never collide."""
    backend = cfg["pipeline"]["backend"]
    scope = {
        "client": cfg["project"]["client"],
        "project": cfg["project"]["name"],
        "code": code_digest(backend),
    }
    blob = json.dumps({**payload, "scope": scope}, sort_keys=True, default=str).encode()
    return KEY_PREFIX + hashlib.sha256(blob).hexdigest()


def task_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """``with_options`` for the cue task: its result storage and expiry from ``[cache]``."""
    return {
        "result_storage": result_storage(cfg["cache"]["storage"]) or config.cache_dir(cfg),
        "cache_expiration": timedelta(days=cfg["cache"]["expire_days"]),
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
