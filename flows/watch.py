"""Upload-triggered and scheduled scoring: Prefect flows over `tasks.cloud.inbox`.

- `score_uploads`: one pass over an SQS queue fed by S3 event notifications. Each
  ObjectCreated event under the prefix is paired with its partner (same stem, a video and a
  shot list), the pair is scored, and the message is deleted only once the run's outputs
  (manifest last) are complete. A pair already scored (same ETags) is not scored again. A
  failed run leaves the message for another try, a little later each time; after
  `max_tries`, or at once for bad input, the message goes to the dead-letter prefix as a
  JSON record with the error.
- `score_new`: the polling mode, for buckets without notifications and for folders: every
  complete pair under a folder or prefix that the ledger has not seen is scored.
(`flows.schedule.serve` serves both as Prefect deployments on a schedule.)
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import traceback
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from prefect import flow, get_run_logger

from scoreflow.flows.score import score_video
from scoreflow.tasks.cloud import inbox, storage
from scoreflow.tasks.errors import InputError, MalformedEvent, TransientStorageError
from scoreflow.tasks.interchange.shotlist import SUFFIXES as SHOT_SUFFIXES


def _defaults(
    watched: str, out: str | None, state: str | None, dead: str | None
) -> tuple[str, str, str]:
    """Output, ledger and dead-letter locations; by default ``scored/``, ``.scoreflow/`` and
    ``failed/`` beside the watched folder or prefix (in the bucket root for a bucket)."""
    w = watched.rstrip("/")
    if storage.is_remote(w):
        u = storage.S3Uri.parse(w + "/")
        parent = u.key.rstrip("/").rpartition("/")[0]
        base = f"s3://{u.bucket}/{parent + '/' if parent else ''}"
    else:
        base = str(Path(w).resolve().parent) + "/"
    return out or f"{base}scored/", state or f"{base}.scoreflow/", dead or f"{base}failed/"


def _score(pair: inbox.Pair, out: str, options: dict[str, Any]) -> dict[str, Any]:
    """Score a pair into ``out/<video stem>/`` (a remote run adds ``<run id>/`` below)."""
    target = f"{out.rstrip('/')}/{pair.name}/"
    return score_video(video=pair.video.uri, shots=pair.shots.uri, out=target, **options)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, InputError | storage.StorageError):
        return str(exc)
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


@flow(name="score-uploads")
def score_uploads(
    queue_url: str,
    out: str | None = None,
    prefix: str = "",
    max_tries: int = 3,
    dead_letter: str | None = None,
    state: str | None = None,
    wait_s: int = 10,
    max_messages: int = 10,
    visibility_s: int = 900,
    retry_delay_s: int = 5,
    options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One pass over the queue; returns what happened to each message.

    Parameters
    ----------
    queue_url : str
        The SQS queue the bucket's ObjectCreated notifications go to.
    out, state, dead_letter : str, optional
        Where runs go, where the ledger is, where failures are recorded; by default
        ``scored/``, ``.scoreflow/`` and ``failed/`` in the uploads' bucket.
    prefix : str
        Only keys under it are scored (e.g. ``incoming/``).
    retry_delay_s : int
        A failed message shows again after ``retry_delay_s * 2**tries`` seconds.
    options : dict, optional
        Passed to `score_video` (config_file, preset, backend ...).
    """
    log = get_run_logger()
    sqs = storage.aws_client("sqs")
    received = _receive(sqs, queue_url, max_messages=max_messages, wait_s=wait_s,
                        visibility_s=visibility_s)  # fmt: skip
    if isinstance(received, dict):  # the queue unreachable: the caller waits and retries
        log.warning("%s", received["what"])
        return [received]
    how = _Pass(prefix=prefix, out=out, state=state, dead_letter=dead_letter,
                max_tries=max_tries, options=options or {}, visibility_s=visibility_s)  # fmt: skip
    report: list[dict[str, Any]] = []
    seen: set[str] = set()  # pairs handled in this pass: a second event for one is a duplicate
    for message in received:
        outcome = _handle_kept(sqs, queue_url, message, seen=seen, how=how,
                               pending=received[len(report) + 1 :])  # fmt: skip
        log.info("%s: %s", outcome["what"], outcome.get("pair") or outcome.get("uploads"))
        tries = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
        delay = min(retry_delay_s * 2**tries, 900)  # try again a little later each time
        _settle(sqs, queue_url, message, delete=outcome["delete"], delay_s=delay)
        report.append(outcome)
    return report


@dataclass(frozen=True)
class _Pass:
    """What one pass over the queue scores (keys under `prefix`) and where its runs,
    ledger and failures go (`score_uploads`'s parameters)."""

    prefix: str
    out: str | None
    state: str | None
    dead_letter: str | None
    max_tries: int
    options: dict[str, Any]
    visibility_s: int


def _receive(
    sqs: Any, queue_url: str, *, max_messages: int, wait_s: int, visibility_s: int
) -> list[dict[str, Any]] | dict[str, Any]:
    """The messages of one long poll, or (the queue unreachable for now) an outcome that
    says so; any other failure is raised as the storage error it is."""
    try:
        return list(
            sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=wait_s,
                VisibilityTimeout=visibility_s,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
        )
    except Exception as exc:
        error = storage.storage_error(exc, queue_url, "receive messages")
        if isinstance(error, TransientStorageError):
            return {"what": f"queue unreachable ({error})", "transient": True, "delete": False}
        raise error from None


def _handle_kept(
    sqs: Any,
    queue_url: str,
    message: dict[str, Any],
    *,
    seen: set[str],
    how: _Pass,
    pending: list[dict[str, Any]],
) -> dict[str, Any]:
    """`_handle` a message while a heartbeat keeps it invisible; stopped (SIGTERM,
    Ctrl-C), the `pending` messages are let go at once."""
    keep = _Heartbeat(sqs, queue_url, message["ReceiptHandle"], how.visibility_s)
    try:
        return _handle(message, seen=seen, how=how)
    except Exception as exc:  # e.g. the ledger unreachable: leave it for a later pass
        return {"what": f"not handled ({_error_text(exc)})", "delete": False}
    except BaseException:
        keep.stop()
        for other in [message, *pending]:
            _settle(sqs, queue_url, other, delete=False, delay_s=0)
        raise
    finally:
        keep.stop()


def _settle(
    sqs: Any, queue_url: str, message: dict[str, Any], *, delete: bool, delay_s: int
) -> None:
    """Delete a handled message, or make it visible again after `delay_s`. A failure here
    (SQS unreachable) only means the message comes back, where the ledger knows it."""
    receipt = message["ReceiptHandle"]
    with contextlib.suppress(Exception):
        if delete:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
        else:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=delay_s
            )


class _Heartbeat:
    """Keeps a message invisible to other consumers while its run goes on: every third of
    the visibility timeout, the timeout is extended again."""

    def __init__(self, sqs: Any, queue_url: str, receipt: str, visibility_s: int) -> None:
        self._stop = threading.Event()
        args = (sqs, queue_url, receipt, visibility_s)
        self._thread = threading.Thread(target=self._beat, args=args, daemon=True)
        self._thread.start()

    def _beat(self, sqs: Any, queue_url: str, receipt: str, visibility_s: int) -> None:
        while not self._stop.wait(max(visibility_s / 3, 0.2)):
            with contextlib.suppress(Exception):  # a missed beat only risks a duplicate
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=visibility_s
                )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _handle(message: dict[str, Any], *, seen: set[str], how: _Pass) -> dict[str, Any]:
    """What became of one message: malformed (dead-lettered), nothing to score, a pair
    scored (or already scored, claimed by another watcher, waiting for its partner)."""
    prefix, dead_letter, max_tries = how.prefix, how.dead_letter, how.max_tries
    try:
        events = inbox.s3_events(message.get("Body", ""))
    except MalformedEvent as exc:  # it will never be anything else: out of the queue now
        body = str(message.get("Body", ""))[:10_000]
        record = {"error": f"malformed message: {exc}", "body": body}
        where = inbox.dead_letter(dead_letter, "malformed-message", record) if dead_letter else None
        what = f"malformed message ({exc}), " + ("dead-lettered" if where else "dropped")
        return {"what": what, "delete": True, "uploads": [], **({"to": where} if where else {})}
    uploads = [
        u
        for u in events
        if storage.S3Uri.parse(u.uri).key.startswith(prefix)
        and inbox.kind_of(u.uri, shot_suffixes=SHOT_SUFFIXES)
    ]
    if not uploads:
        return {"what": "nothing to score", "delete": True, "uploads": []}
    for upload in uploads:
        pair = inbox.pair_of(inbox.siblings(upload.uri), shot_suffixes=SHOT_SUFFIXES)
        if pair is None:  # the partner's own event will start the run
            continue
        if pair.key in seen:
            return {"what": "duplicate event", "delete": True, "pair": pair.name}
        seen.add(pair.key)
        watched = f"s3://{storage.S3Uri.parse(upload.uri).bucket}/{prefix}"
        out_uri, state_uri, dead_uri = _defaults(watched, how.out, how.state, dead_letter)
        ledger = inbox.Ledger(state_uri)
        done = ledger.done(pair)
        if done:
            return {"what": "already scored", "delete": True, "pair": pair.name, **done}
        if ledger.tries(pair) >= max_tries:
            return {"what": "already dead-lettered", "delete": True, "pair": pair.name}
        if not inbox.claim(state_uri, pair, stale_after_s=2 * how.visibility_s):
            return {"what": "being scored by another watcher", "delete": False, "pair": pair.name}
        try:
            found = inbox.published(out_uri, pair)
            if found:  # its watcher died after publishing, before its ledger
                ledger.mark_done(pair, found)
                return {"what": "already scored", "delete": True, "pair": pair.name, "to": found}
            outcome = _attempt(
                pair,
                ledger,
                out=out_uri,
                dead_letter=dead_uri,
                max_tries=max_tries,
                options=how.options,
                context={"message": message.get("Body")},
            )
        finally:
            inbox.release(state_uri, pair)
        return {**outcome, "delete": not outcome["what"].startswith("failed")}
    return {"what": "waiting for its partner", "delete": True, "uploads": [u.uri for u in uploads]}


@dataclass
class Scored:
    """How scoring a pair went, as one process tells another: the run's location, or the
    error (and whether it was the input's fault, which is not retried)."""

    location: str = ""
    error: str = ""
    bad_input: bool = False


def _score_here(pair: inbox.Pair, out: str, options: dict[str, Any]) -> Scored:
    try:
        return Scored(location=_score(pair, out, options)["location"])
    except Exception as exc:
        return Scored(error=_error_text(exc), bad_input=isinstance(exc, InputError))


def _attempt(
    pair: inbox.Pair,
    ledger: inbox.Ledger,
    *,
    out: str,
    dead_letter: str,
    max_tries: int,
    options: dict[str, Any],
    context: dict[str, Any] | None = None,
    scored: Scored | None = None,
) -> dict[str, Any]:
    """Score a pair (unless `scored` says how it went elsewhere) and record how it went:
    done, one more failed try, or (after `max_tries`, or at once for bad input) a
    dead-letter record with the error."""
    result = scored or _score_here(pair, out, options)
    if result.error:
        final = max_tries if result.bad_input else 0
        tries = ledger.failed(pair, result.error, at_least=final)
        if tries < max_tries:
            return {"what": f"failed (try {tries})", "pair": pair.name, "error": result.error}
        record = {"pair": asdict(pair), "error": result.error, "tries": tries, **(context or {})}
        where = inbox.dead_letter(dead_letter, PurePosixPath(pair.video.uri).name, record)
        return {"what": "dead-lettered", "pair": pair.name, "to": where, "error": result.error}
    ledger.mark_done(pair, result.location)
    return {"what": "scored", "pair": pair.name, "to": result.location}


@flow(name="score-new")
def score_new(
    folder: str,
    out: str | None = None,
    max_tries: int = 3,
    dead_letter: str | None = None,
    state: str | None = None,
    options: dict[str, Any] | None = None,
    concurrency: int = 1,
) -> list[dict[str, Any]]:
    """Score every pair under `folder` (a folder or an s3:// prefix) not scored yet.

    A pair that keeps failing is tried at most `max_tries` times (bad input once), then
    recorded under the dead-letter prefix. With `concurrency` above 1, that many pairs are
    scored at once, each in a worker process of its own (its own `score_video` flow run
    on the same Prefect server; a process scores pair after pair, its SoundFont loaded
    once); the ledger is kept by this flow alone.
    """
    log = get_run_logger()
    out_uri, state_uri, dead_uri = _defaults(folder, out, state, dead_letter)
    ledger = inbox.Ledger(state_uri)
    found = inbox.pairs_in(folder, shot_suffixes=SHOT_SUFFIXES)
    todo = [p for p in found if not (ledger.done(p) or ledger.tries(p) >= max_tries)]
    report = []
    for pair, scored in _scored(todo, out_uri, options or {}, concurrency=concurrency):
        outcome = _attempt(
            pair, ledger, out=out_uri, dead_letter=dead_uri, max_tries=max_tries,
            options=options or {}, scored=scored,
        )  # fmt: skip
        log.info("%s: %s %s", outcome["what"], pair.name, outcome.get("to", ""))
        report.append(outcome)
    return report


def _scored(
    pairs: list[inbox.Pair], out: str, options: dict[str, Any], *, concurrency: int
) -> Iterator[tuple[inbox.Pair, Scored | None]]:
    """Each pair with how scoring it went, as runs finish; None: score it here, now."""
    if concurrency <= 1 or len(pairs) < 2:
        yield from ((p, None) for p in pairs)
        return
    from prefect.settings import PREFECT_API_URL

    spawn = multiprocessing.get_context("spawn")  # no copy of this process's threads
    with ProcessPoolExecutor(
        max_workers=min(concurrency, len(pairs)), mp_context=spawn,
        initializer=_worker_start, initargs=(PREFECT_API_URL.value(),),
    ) as pool:  # fmt: skip
        futures = {pool.submit(_score_here, p, out, options): p for p in pairs}
        for done in as_completed(futures):
            yield futures[done], done.result()


def _worker_start(api_url: str | None) -> None:
    """A batch worker process reports to the batch's Prefect server."""
    if api_url:
        from scoreflow.flows import server

        server.point_prefect_at(api_url)
