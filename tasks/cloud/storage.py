"""Where inputs come from and outputs go: local paths and ``s3://bucket/key`` URIs.

Local outputs appear atomically: written under a temporary name in the same folder, then
renamed. Nothing the user gave is ever overwritten.

S3 goes through boto3. Endpoint, region and credentials come from the standard AWS chain
(``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_PROFILE``, ``~/.aws/config`` ...), or from a
Prefect ``AwsCredentials`` block named in ``SCOREFLOW_AWS_BLOCK``; never from code. Large
files go up and down in parts (boto3's managed transfers). Errors are sorted: a missing
object or bucket is an `InputError`, a refused permission a `StorageError`, both final; a
throttled, failing or unreachable service a `TransientStorageError`, worth retrying.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import shutil
import stat
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoreflow.tasks.errors import InputError, StorageError, TransientStorageError

MiB = 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchUpload"}
_DENIED = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AllAccessDisabled",
}
_TRANSIENT = {
    "500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown",
    "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
}  # fmt: skip


_UMASK = os.umask(0)
os.umask(_UMASK)


def work_dir() -> Path:
    """Where fetched inputs and remote runs are staged: ``$SCOREFLOW_WORK`` or a temp dir
    (not named ``scoreflow``: a folder of the package's name in the working directory would
    shadow an editable install when run from the temp dir)."""
    staged = os.environ.get("SCOREFLOW_WORK") or Path(tempfile.gettempdir()) / "scoreflow-work"
    return Path(staged)


def is_remote(uri: str | Path) -> bool:
    return str(uri).startswith("s3://")


def local_path(uri: str | Path, *, what: str) -> Path:
    """A local path for `uri`; an ``s3://`` URI here must be fetched first (`fetch`)."""
    text = str(uri)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise InputError(
            f"{what}: {scheme}:// is not readable here",
            value=text,
            fix="Give a local path or an s3://bucket/key URI to `scoreflow score`",
        )
    return Path(text).expanduser()


@dataclass(frozen=True)
class S3Uri:
    """``s3://bucket/key``; `key` may be a prefix (ending in ``/``) or empty."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str | Path) -> S3Uri:
        text = str(uri)
        bucket, _, key = text.removeprefix("s3://").partition("/")
        if not text.startswith("s3://") or not 3 <= len(bucket) <= 63 or "/" in bucket:
            raise InputError(
                "not an S3 URI", value=text, fix="Write s3://bucket/key (bucket: 3-63 characters)"
            )
        return cls(bucket, key)

    def join(self, *parts: str) -> S3Uri:
        key = self.key
        for part in parts:
            key = f"{key.rstrip('/')}/{part.lstrip('/')}" if key else part.lstrip("/")
        return S3Uri(self.bucket, key)

    @property
    def name(self) -> str:
        return self.key.rstrip("/").rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def s3_client() -> Any:
    return aws_client("s3")


@functools.cache
def aws_client(service: str) -> Any:
    """One client per service and process (boto3 clients are thread-safe).

    Retries follow botocore's standard mode (5 attempts with backoff) unless
    ``AWS_RETRY_MODE`` / ``AWS_MAX_ATTEMPTS`` say otherwise. The region is ``AWS_REGION``
    when set (botocore itself reads only ``AWS_DEFAULT_REGION`` and profiles for SQS).
    """
    from botocore.exceptions import NoRegionError

    try:
        return _new_client(service)
    except NoRegionError:
        raise InputError(
            f"no AWS region for {service.upper()}",
            fix="Set AWS_REGION (or AWS_DEFAULT_REGION, or a region in your AWS profile)",
        ) from None


def _new_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    retries: dict[str, Any] = {"mode": os.environ.get("AWS_RETRY_MODE", "standard")}
    retries["max_attempts"] = int(os.environ.get("AWS_MAX_ATTEMPTS", "5"))
    config = Config(retries=retries)
    block = os.environ.get("SCOREFLOW_AWS_BLOCK")
    if block:
        try:
            from prefect_aws import AwsCredentials
        except ImportError:
            raise InputError(
                "SCOREFLOW_AWS_BLOCK names a Prefect block but prefect-aws is not installed",
                value=block,
                fix="pip install 'scoreflow[aws]'",
            ) from None
        creds: Any = AwsCredentials.load(block)  # sync in sync code
        endpoint = creds.aws_client_parameters.endpoint_url
        return creds.get_boto3_session().client(service, endpoint_url=endpoint, config=config)
    region = os.environ.get("AWS_REGION") or None
    return boto3.session.Session(region_name=region).client(service, config=config)


def _transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    chunk = int(float(os.environ.get("SCOREFLOW_MULTIPART_MB", "8")) * MiB)
    return TransferConfig(multipart_threshold=chunk, multipart_chunksize=chunk)


def storage_error(exc: Exception, uri: str, action: str) -> Exception:
    """Our error for a boto3/botocore failure: missing, denied (final) or transient."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        detail = error.get("Message") or code
        if code in _MISSING or status == "404":
            return InputError(f"cannot {action}: not found ({code or status})", source=uri)
        if code in _DENIED or status == "403":
            return StorageError(
                f"{uri}: cannot {action}: permission denied ({code or status}). Check the "
                "credentials and the bucket policy"
            )
        if code in _TRANSIENT or status.startswith("5"):
            return TransientStorageError(f"{uri}: cannot {action} ({code}): {detail}")
        return StorageError(f"{uri}: cannot {action} ({code}): {detail}")
    if isinstance(exc, BotoCoreError):  # connection, timeout, credentials chain
        from botocore.exceptions import NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            return StorageError(
                f"{uri}: cannot {action}: no AWS credentials (environment, ~/.aws, or a "
                "Prefect block in SCOREFLOW_AWS_BLOCK)"
            )
        return TransientStorageError(f"{uri}: cannot {action}: {exc}")
    return exc


@contextlib.contextmanager
def _s3(uri: str, action: str) -> Iterator[Any]:
    try:
        yield s3_client()
    except Exception as exc:
        raise storage_error(exc, uri, action) from None


def check_writable(out: str | Path) -> None:
    """Before any work: an output folder we can create and write in, or an ``s3://``
    prefix whose bucket exists (an `InputError` naming it otherwise)."""
    if is_remote(out):
        u = S3Uri.parse(out)
        with _s3(f"s3://{u.bucket}", "find the output bucket") as s3:
            s3.head_bucket(Bucket=u.bucket)
        return
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError("the output folder is a file", source=str(path), fix="Give a folder")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            "cannot write the output folder here: permission denied",
            source=str(existing),
            fix="Choose an --out folder you may write to",
        )


def etag(uri: str | Path) -> str:
    """What identifies the content: the S3 ETag, or size and mtime of a local file."""
    if is_remote(uri):
        u = S3Uri.parse(uri)
        with _s3(str(uri), "read") as s3:
            return str(s3.head_object(Bucket=u.bucket, Key=u.key)["ETag"]).strip('"')
    try:
        st = Path(uri).stat()
    except FileNotFoundError:
        raise InputError("not found", source=str(uri)) from None
    return f"{st.st_size}-{st.st_mtime_ns}"


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))  # fmt: skip


def regular_file(path: Path, *, what: str, max_bytes: int | None = None) -> Path:
    """`path` if it is a readable regular file (not too big); else an `InputError` that
    says what it is instead: missing, a folder, a FIFO or device, unreadable, too large."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{what} not found", source=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read the {what}: {exc.strerror}", source=str(path)) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"the {what} is a folder, not a file", source=str(path))
    for test, kind in _KINDS:
        if test(st.st_mode):
            raise InputError(f"the {what} is {kind}, not a regular file", source=str(path))
    if not os.access(path, os.R_OK):
        raise InputError(f"cannot read the {what}: permission denied", source=str(path))
    if max_bytes is not None and st.st_size > max_bytes:
        raise InputError(
            f"the {what} is {st.st_size / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB accepted",
            source=str(path),
        )
    return path


def fetch(uri: str | Path, work: Path, *, what: str) -> Path:
    """A local copy of `uri` (the path itself when local), named as the object.

    Downloads are kept under ``work`` by ETag, so a restarted run does not fetch again.
    """
    if not is_remote(uri):
        return regular_file(local_path(uri, what=what), what=what)
    u = S3Uri.parse(uri)
    tag = etag(uri)
    target = work / "inputs" / hashlib.sha256(f"{uri}\0{tag}".encode()).hexdigest()[:16] / u.name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp, _s3(str(uri), "download"):
        s3_client().download_file(u.bucket, u.key, str(tmp), Config=_transfer_config())
    return target


def upload(path: Path, uri: str | S3Uri) -> None:
    """Put a local file at `uri` (in parts when large)."""
    u = uri if isinstance(uri, S3Uri) else S3Uri.parse(uri)
    with _s3(str(u), "upload"):
        s3_client().upload_file(str(path), u.bucket, u.key, Config=_transfer_config())


def list_objects(prefix: str | S3Uri) -> list[tuple[str, str]]:
    """``(uri, etag)`` of every object under an S3 prefix, in key order."""
    u = prefix if isinstance(prefix, S3Uri) else S3Uri.parse(prefix)
    found = []
    with _s3(str(u), "list") as s3:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=u.bucket, Prefix=u.key):
            for obj in page.get("Contents", []):
                found.append((f"s3://{u.bucket}/{obj['Key']}", str(obj["ETag"]).strip('"')))
    return found


def put_new(uri: str | S3Uri, data: bytes) -> bool:
    """Create an object only if none is there (``If-None-Match: *``): True if created,
    False if one exists (the claim is someone else's)."""
    from botocore.exceptions import ClientError

    u = uri if isinstance(uri, S3Uri) else S3Uri.parse(uri)
    try:
        s3_client().put_object(Bucket=u.bucket, Key=u.key, Body=data, IfNoneMatch="*")
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("PreconditionFailed", "ConditionalRequestConflict") or code == "412":
            return False
        raise storage_error(exc, str(u), "create") from None
    except Exception as exc:
        raise storage_error(exc, str(u), "create") from None
    return True


def delete(uri: str | S3Uri) -> None:
    u = uri if isinstance(uri, S3Uri) else S3Uri.parse(uri)
    with _s3(str(u), "delete") as s3:
        s3.delete_object(Bucket=u.bucket, Key=u.key)


def put_json(uri: str | S3Uri, data: Any) -> None:
    u = uri if isinstance(uri, S3Uri) else S3Uri.parse(uri)
    body = json.dumps(data, indent=2, default=str).encode()
    with _s3(str(u), "write") as s3:
        s3.put_object(Bucket=u.bucket, Key=u.key, Body=body, ContentType="application/json")


def get_json(uri: str | S3Uri) -> Any:
    """The JSON object at `uri`, or None when there is none."""
    u = uri if isinstance(uri, S3Uri) else S3Uri.parse(uri)
    try:
        with _s3(str(u), "read") as s3:
            body = s3.get_object(Bucket=u.bucket, Key=u.key)["Body"].read()
    except InputError:
        return None
    return json.loads(body)


def key_from_event(raw: str) -> str:
    """An object key as S3 event notifications write it (URL-encoded, ``+`` for space)."""
    return urllib.parse.unquote_plus(raw)


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


WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


def write_failure(path: Path, exc: BaseException, *, need_bytes: int = 0) -> StorageError:
    """Our error for a failed write of `path`: a full disk or quota, a read-only or
    forbidden folder named as such, with the path (and the free space)."""
    code = getattr(exc, "errno", None)
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    short = free is not None and free < need_bytes + (1 << 20)
    if code in (errno.ENOSPC, errno.EDQUOT) or short:
        room = "" if free is None else f" ({free / 1e6:.0f} MB free)"
        return StorageError(f"no space left on the device writing {path}{room}")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StorageError(f"cannot write {path}: {os.strerror(code)}")
    return StorageError(f"cannot write {path}: {exc}")


@contextlib.contextmanager
def atomic_path(final: Path, *, inputs: list[Path] = ()) -> Iterator[Path]:  # type: ignore[assignment]
    """Yield a temporary path beside `final`; on success rename it onto `final`."""
    check_not_input(final, list(inputs))
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            prefix=f".{final.stem}.", suffix=f".partial{final.suffix}", dir=final.parent
        )
    except OSError as exc:
        raise write_failure(final, exc) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, final)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno not in WRITE_ERRORS:
            raise
        raise write_failure(final, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(final: Path, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
