"""Uploads to score: S3 event notifications, pairing a video with its shot list, and a
ledger of what was scored or failed, kept beside the uploads.

Plain functions, no Prefect: `flows/watch.py` runs them as flows. A pair is a video and a
shot list (or cut) with the same stem in the same folder; it is identified by both URIs
and ETags, so the same upload twice is scored once and a changed file is scored again.
What counts as a shot list (its suffixes) is the caller's to say: the shot-list reader
lives above this package (`tasks.interchange.shotlist.SUFFIXES`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
import urllib.parse
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from scoreflow.tasks.cloud import storage
from scoreflow.tasks.errors import InputError, MalformedEvent

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".mxf")


@dataclass(frozen=True)
class Upload:
    """One object that arrived: its URI and what identifies its content."""

    uri: str
    etag: str


@dataclass(frozen=True)
class Pair:
    video: Upload
    shots: Upload

    @property
    def key(self) -> str:
        """Stable id of this pair of contents (URIs and ETags)."""
        blob = "\0".join((self.video.uri, self.video.etag, self.shots.uri, self.shots.etag))
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    @property
    def name(self) -> str:
        return PurePosixPath(self.video.uri).stem


def kind_of(uri: str, *, shot_suffixes: Collection[str]) -> str | None:
    """``"video"``, ``"shots"`` or None for other files.

    Parameters
    ----------
    uri : str
        An object's URI or a file's path.
    shot_suffixes : collection of str
        The lower-case suffixes (with the dot) of the shot lists and cuts that are read.
    """
    suffix = PurePosixPath(uri).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return "shots" if suffix in shot_suffixes else None


def s3_events(body: str) -> list[Upload]:
    """The created objects an SQS message announces (S3 events, also wrapped by SNS).

    Test events and other event names give nothing; keys are URL-decoded. A body that is
    not such a notification at all raises `MalformedEvent` (it will never become one).
    """
    try:
        message = json.loads(body)
    except (json.JSONDecodeError, TypeError):
        raise MalformedEvent("not JSON") from None
    if isinstance(message, dict) and isinstance(message.get("Message"), str):  # via SNS
        return s3_events(message["Message"])
    if not isinstance(message, dict):
        raise MalformedEvent(f"a JSON {type(message).__name__}, not an event object")
    if message.get("Event") == "s3:TestEvent":
        return []
    records = message.get("Records")
    if not isinstance(records, list):
        raise MalformedEvent("no Records list")
    uploads = []
    for record in records:
        if not isinstance(record, dict):
            raise MalformedEvent("a record that is not an object")
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = _table(record, "s3")
        where, obj = _table(s3, "bucket"), _table(s3, "object")
        bucket, key = where.get("name"), obj.get("key")
        if not (isinstance(bucket, str) and _BUCKET.match(bucket) and isinstance(key, str) and key):
            raise MalformedEvent("an ObjectCreated record without a valid bucket name and key")
        key = storage.key_from_event(key)
        uploads.append(Upload(f"s3://{bucket}/{key}", str(obj.get("eTag", "")).strip('"')))
    return uploads


def _table(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def siblings(uri: str) -> list[Upload]:
    """Objects (or files) with the same folder and stem as `uri`, any suffix."""
    stem = PurePosixPath(uri).stem
    if storage.is_remote(uri):
        folder = uri.rsplit("/", 1)[0]
        found = storage.list_objects(f"{folder}/{stem}.")
        return [Upload(u, e) for u, e in found if PurePosixPath(u).stem == stem]
    path = Path(uri)
    return [Upload(str(p), storage.etag(p)) for p in sorted(path.parent.glob(f"{stem}.*"))]


def pair_of(objects: list[Upload], *, shot_suffixes: Collection[str]) -> Pair | None:
    """The video and the shot list among same-stem objects (the first of each, by name);
    `shot_suffixes` as for `kind_of`."""
    kinds = {o.uri: kind_of(o.uri, shot_suffixes=shot_suffixes) for o in objects}
    videos = sorted((o for o in objects if kinds[o.uri] == "video"), key=lambda o: o.uri)
    shots = sorted((o for o in objects if kinds[o.uri] == "shots"), key=lambda o: o.uri)
    return Pair(videos[0], shots[0]) if videos and shots else None


def pairs_in(folder: str, *, shot_suffixes: Collection[str]) -> list[Pair]:
    """Every complete pair under a folder or prefix (polling mode); `shot_suffixes` as for
    `kind_of`."""
    if storage.is_remote(folder):
        objects = [Upload(u, e) for u, e in storage.list_objects(folder)]
    else:
        root = Path(folder)
        objects = [Upload(str(p), storage.etag(p)) for p in sorted(root.rglob("*")) if p.is_file()]
    groups: dict[str, list[Upload]] = {}
    for o in objects:
        if kind_of(o.uri, shot_suffixes=shot_suffixes):
            p = PurePosixPath(o.uri)
            groups.setdefault(f"{p.parent}/{p.stem}", []).append(o)
    found = (pair_of(group, shot_suffixes=shot_suffixes) for group in groups.values())
    return [p for p in found if p is not None]


class Ledger:
    """What happened to each pair, as JSON records under `root` (an S3 prefix or a folder):
    ``done/<pair key>.json`` once scored, ``tries/<pair key>.json`` while failing."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")

    def _uri(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def done(self, pair: Pair) -> Any:
        return _read_json(self._uri("done", f"{pair.key}.json"))

    def mark_done(self, pair: Pair, location: str) -> None:
        record = {**asdict(pair), "location": location, "at": _now()}
        _write_json(self._uri("done", f"{pair.key}.json"), record)

    def tries(self, pair: Pair) -> int:
        return int((_read_json(self._uri("tries", f"{pair.key}.json")) or {}).get("tries", 0))

    def failed(self, pair: Pair, error: str, *, at_least: int = 0) -> int:
        """Count one more failed try (at least `at_least`); returns the count."""
        count = max(self.tries(pair) + 1, at_least)
        record = {**asdict(pair), "tries": count, "error": error, "at": _now()}
        _write_json(self._uri("tries", f"{pair.key}.json"), record)
        return count


def claim(root: str, pair: Pair, *, stale_after_s: float) -> bool:
    """Claim a pair for this watcher with an atomic create of ``claims/<pair key>.json``
    under the ledger `root` (S3 ``If-None-Match: *``, or O_EXCL for a folder). False when
    another watcher holds it; a claim older than `stale_after_s` (its watcher died) is
    taken over."""
    uri = f"{root.rstrip('/')}/claims/{pair.key}.json"
    record = json.dumps({"owner": f"{socket.gethostname()}:{os.getpid()}", "at": time.time()})
    for _ in range(2):
        if _create(uri, record.encode()):
            return True
        held = _read_json(uri) or {}
        if time.time() - float(held.get("at", 0)) < stale_after_s:
            return False
        _delete(uri)  # its watcher is gone
    return False


def release(root: str, pair: Pair) -> None:
    _delete(f"{root.rstrip('/')}/claims/{pair.key}.json")


def published(out: str, pair: Pair) -> str | None:
    """Where a finished run of this very pair (same objects, same ETags) was published
    under ``out/<stem>/``, if one was: a watcher that died between publishing and writing
    its ledger does not make the pair scored twice."""
    prefix = f"{out.rstrip('/')}/{pair.name}/"
    if storage.is_remote(prefix):
        try:
            listed = storage.list_objects(prefix)
        except InputError:  # no output bucket yet: nothing was published
            return None
        manifests = [u for u, _ in listed if u.endswith("/manifest.json")]
    else:
        manifests = [str(p) for p in Path(prefix).glob("*manifest.json")]
        manifests += [str(p) for p in Path(prefix).glob("*/manifest.json")]
    for uri in sorted(manifests, reverse=True):
        inputs = (_read_json(uri) or {}).get("inputs", {})
        video, shots = inputs.get("video", {}), inputs.get("shots", {})
        if (video.get("path"), video.get("etag"), shots.get("path"), shots.get("etag")) == (
            pair.video.uri,
            pair.video.etag,
            pair.shots.uri,
            pair.shots.etag,
        ):
            return uri.rsplit("/", 1)[0] + "/"
    return None


def _create(uri: str, data: bytes) -> bool:
    """Create `uri` only if it does not exist; False if it does."""
    if storage.is_remote(uri):
        return storage.put_new(uri, data)
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return True


def _delete(uri: str) -> None:
    if storage.is_remote(uri):
        storage.delete(uri)
    else:
        Path(uri).unlink(missing_ok=True)


def dead_letter(prefix: str, name: str, record: dict[str, Any]) -> str:
    """Write a failure record (what arrived, the error, how often it was tried) under
    `prefix`; returns its URI."""
    safe = urllib.parse.quote(name, safe="")[:120]
    uri = f"{prefix.rstrip('/')}/{_now().replace(':', '')}-{os.urandom(3).hex()}-{safe}.json"
    _write_json(uri, {**record, "at": _now()})
    return uri


def _read_json(uri: str) -> Any:
    """The JSON at `uri` (S3 or a file), or None when there is none."""
    if storage.is_remote(uri):
        return storage.get_json(uri)
    path = Path(uri)
    return json.loads(path.read_text()) if path.is_file() else None


def _write_json(uri: str, data: Any) -> None:
    if storage.is_remote(uri):
        storage.put_json(uri, data)
    else:
        storage.write_bytes(Path(uri), json.dumps(data, indent=2, default=str).encode())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
