"""Library files with their metadata where library software reads it.

- WAV (48 kHz, 24-bit) with a Broadcast Wave ``bext`` chunk (EBU Tech 3285 version 2:
  description, originator, date and time, and the loudness fields) and an ``iXML`` chunk
  (project, track id, version, BPM, key, genre, mood, keywords, stems);
- MP3 (libmp3lame through ffmpeg) with an ID3v2.4 tag: title, artist, album (the
  library), genre, TBPM, TKEY, TMOO, and the mood and keywords in a COMM comment.

The chunks and the tag are written here: soundfile writes the audio but no metadata,
ffmpeg's WAV muxer writes bext v0/v1 without the loudness fields and its ID3 muxer puts a
comment in a TXXX frame that library software does not read as the comment; mutagen
would write ID3 but is GPL-2. Reading them back is left to other code (the tests use
wavinfo and mutagen).
"""

from __future__ import annotations

import io
import struct
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import soundfile

from scoreflow.tasks.audio.media import run_ffmpeg
from scoreflow.tasks.cloud.storage import atomic_path, write_failure
from scoreflow.tasks.errors import InputError

BEXT_VERSION = 2


def _field(text: str, size: int) -> bytes:
    return text.encode("ascii", "replace")[:size].ljust(size, b"\0")


def bext_chunk(
    *,
    description: str,
    originator: str,
    reference: str,
    loudness: dict[str, float],
    when: float | None = None,
) -> bytes:
    """A ``bext`` chunk's payload (EBU Tech 3285 v2).

    Parameters
    ----------
    loudness : dict
        ``integrated_lufs``, ``lra_lu``, ``true_peak_dbtp``, and where known
        ``max_momentary_lufs`` and ``max_short_term_lufs`` (stored in hundredths).
    """
    stamp = time.gmtime(when)

    body = b"".join(
        [
            _field(description, 256),
            _field(originator, 32),
            _field(reference, 32),
            _field(time.strftime("%Y-%m-%d", stamp), 10),
            _field(time.strftime("%H-%M-%S", stamp), 8),
            struct.pack("<IIH", 0, 0, BEXT_VERSION),
            b"\0" * 64,  # UMID: none
            _loudness_fields(loudness),
            b"\0" * 180,
            b"A=PCM,F=48000,W=24,M=stereo,T=scoreflow\r\n",
        ]
    )
    return body


def _loudness_fields(loudness: dict[str, float]) -> bytes:
    def hundredths(key: str) -> int:
        value = loudness.get(key)
        if value is None or not np.isfinite(value):
            return 0x7FFF  # "not set" (Tech 3285: values out of range mean unknown)
        return int(np.clip(round(value * 100), -32768, 32767))

    keys = (
        "integrated_lufs",
        "lra_lu",
        "true_peak_dbtp",
        "max_momentary_lufs",
        "max_short_term_lufs",
    )
    return struct.pack("<hhhhh", *(hundredths(k) for k in keys))


def ixml_chunk(fields: dict[str, Any]) -> bytes:
    """An ``iXML`` chunk's payload: project, scene (track id), take (version), note, and
    the rest as USER fields (``KEY=value`` lines, as iXML 2 allows)."""
    lines = [
        f"{k.upper()}={v}"
        for k, v in fields.items()
        if k not in ("project", "track", "version", "note")
    ]
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<BWFXML>\n'
        "<IXML_VERSION>2.10</IXML_VERSION>\n"
        f"<PROJECT>{escape(str(fields.get('project', '')))}</PROJECT>\n"
        f"<SCENE>{escape(str(fields.get('track', '')))}</SCENE>\n"
        f"<TAKE>{escape(str(fields.get('version', '')))}</TAKE>\n"
        f"<NOTE>{escape(str(fields.get('note', '')))}</NOTE>\n"
        f"<USER>{escape(chr(10).join(lines))}</USER>\n"
        "</BWFXML>\n"
    )
    return xml.encode("utf-8")


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The chunks of a RIFF/WAVE file: (id, payload)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    out, pos = [], 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        out.append((cid, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


def _riff(chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(
        cid + struct.pack("<I", len(p)) + p + (b"\0" if len(p) & 1 else b"") for cid, p in chunks
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def write_bwf(
    path: Path,
    audio: np.ndarray,
    sample_rate: int,
    *,
    bext: bytes,
    ixml: bytes,
    subtype: str = "PCM_24",
) -> None:
    """Write (channels, samples) audio as a Broadcast Wave file with `bext` and `ixml`
    chunks before the audio, atomically."""
    buf = io.BytesIO()
    soundfile.write(buf, np.ascontiguousarray(audio.T), sample_rate, subtype=subtype, format="WAV")
    chunks = [c for c in _chunks(buf.getvalue()) if c[0] not in (b"bext", b"iXML")]
    data = [c for c in chunks if c[0] == b"data"]
    others = [c for c in chunks if c[0] != b"data"]
    out = _riff([(b"bext", bext), *others, (b"iXML", ixml), *data])
    with atomic_path(path) as tmp:
        try:
            tmp.write_bytes(out)
        except OSError as exc:
            raise write_failure(path, exc, need_bytes=len(out)) from None


def _syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def id3v2_tag(frames: dict[str, str], *, comment: str = "", lang: str = "eng") -> bytes:
    """An ID3v2.4 tag: text frames (``TIT2``, ``TPE1``, ``TALB``, ``TCON``, ``TBPM``,
    ``TKEY``, ``TMOO`` ...) in UTF-8, and a ``COMM`` frame with `comment`."""

    def frame(fid: str, data: bytes) -> bytes:
        return fid.encode("ascii") + _syncsafe(len(data)) + b"\0\0" + data

    body = b"".join(
        frame(fid, b"\x03" + text.encode("utf-8")) for fid, text in frames.items() if text
    )
    if comment:
        body += frame("COMM", b"\x03" + lang.encode("ascii")[:3] + b"\0" + comment.encode("utf-8"))
    return b"ID3\x04\x00\x00" + _syncsafe(len(body)) + body


def encode_mp3(wav: Path, mp3: Path, *, kbps: int, tag: bytes, gain_db: float = 0.0) -> None:
    """Encode a WAV to MP3 (CBR `kbps`, libmp3lame through ffmpeg, with its Xing/LAME
    header) and put the ID3v2.4 `tag` (`id3v2_tag`) in front, atomically. `gain_db`
    lowers the level first (to keep the encoded true peak under a ceiling)."""
    if not 32 <= kbps <= 320:
        raise InputError("MP3 bitrate out of range", field="delivery.mp3_kbps", value=kbps)
    with atomic_path(mp3) as tmp:
        raw = tmp.with_name(tmp.name + ".raw.mp3")
        try:
            run_ffmpeg(
                [
                    "-y",
                    "-i",
                    str(wav),
                    *(["-af", f"volume={gain_db:.2f}dB"] if gain_db else []),
                    "-map",
                    "0:a",
                    "-map_metadata",
                    "-1",
                    "-c:a",
                    "libmp3lame",
                    "-b:a",
                    f"{kbps}k",
                    "-id3v2_version",
                    "0",
                    "-write_xing",
                    "1",
                    "-f",
                    "mp3",
                    str(raw),
                ]
            )
            tmp.write_bytes(tag + raw.read_bytes())
        finally:
            raw.unlink(missing_ok=True)


LOUDNESS_OFFSET = 256 + 32 + 32 + 10 + 8 + 4 + 4 + 2 + 64  # in the bext payload


def set_bext_loudness(path: Path, loudness: dict[str, float]) -> None:
    """Write measured loudness into the bext chunk of a file `write_bwf` wrote (its first
    chunk), in place."""
    with open(path, "r+b") as fh:
        head = fh.read(20)
        if head[12:16] != b"bext":
            raise ValueError(f"{path}: no bext chunk first")
        fh.seek(20 + LOUDNESS_OFFSET)
        fh.write(_loudness_fields(loudness))
