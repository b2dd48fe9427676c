"""Library files with their metadata where library software reads it.

- WAV (48 kHz, 24-bit) with a Broadcast Wave ``bext`` chunk (EBU Tech 3285 version 2:
  description, originator, date and time, and the loudness fields) and an ``iXML`` chunk
  (project, track id, version, BPM, key, genre, mood, keywords, stems);
- MP3 (libmp3lame through ffmpeg) with ID3v2.4 tags: title, artist, album (the library),
  genre, TBPM, TKEY, TMOO, and the mood and keywords in a comment.

The chunks are written here (soundfile writes the audio; no library writes bext v2 with its
loudness fields, and ffmpeg's WAV muxer writes bext v0/v1 without them); reading them back
is left to other code (the tests use wavinfo and mutagen).
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

from scoreflow.tasks.errors import InputError
from scoreflow.tasks.media import run_ffmpeg
from scoreflow.tasks.storage import atomic_path, write_failure

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

    def hundredths(key: str) -> int:
        value = loudness.get(key)
        if value is None or not np.isfinite(value):
            return 0x7FFF  # "not set" (Tech 3285: values out of range mean unknown)
        return int(np.clip(round(value * 100), -32768, 32767))

    body = b"".join([
        _field(description, 256),
        _field(originator, 32),
        _field(reference, 32),
        _field(time.strftime("%Y-%m-%d", stamp), 10),
        _field(time.strftime("%H-%M-%S", stamp), 8),
        struct.pack("<IIH", 0, 0, BEXT_VERSION),
        b"\0" * 64,  # UMID: none
        struct.pack(
            "<hhhhh",
            hundredths("integrated_lufs"),
            hundredths("lra_lu"),
            hundredths("true_peak_dbtp"),
            hundredths("max_momentary_lufs"),
            hundredths("max_short_term_lufs"),
        ),
        b"\0" * 180,
        b"A=PCM,F=48000,W=24,M=stereo,T=scoreflow\r\n",
    ])  # fmt: skip
    return body


def ixml_chunk(fields: dict[str, Any]) -> bytes:
    """An ``iXML`` chunk's payload: project, scene (track id), take (version), note, and
    the rest as USER fields (``KEY=value`` lines, as iXML 2 allows)."""
    lines = [f"{k.upper()}={v}" for k, v in fields.items() if k not in ("project", "track", "version", "note")]
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
    body = b"".join(cid + struct.pack("<I", len(p)) + p + (b"\0" if len(p) & 1 else b"")
                    for cid, p in chunks)  # fmt: skip
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


def encode_mp3(
    wav: Path, mp3: Path, *, kbps: int, tags: dict[str, str], gain_db: float = 0.0
) -> None:
    """Encode a WAV to MP3 (CBR `kbps`) with ID3v2.4 `tags` (ffmpeg metadata keys:
    title, artist, album, genre, comment, and ID3 frame ids such as TBPM, TKEY, TMOO),
    atomically. `gain_db` lowers the level first (to keep the encoded true peak under a
    ceiling)."""
    if not 32 <= kbps <= 320:
        raise InputError("MP3 bitrate out of range", field="delivery.mp3_kbps", value=kbps)
    meta = [arg for k, v in tags.items() for arg in ("-metadata", f"{k}={v}")]
    with atomic_path(mp3) as tmp:
        run_ffmpeg([
            "-y", "-i", str(wav), *(["-af", f"volume={gain_db:.2f}dB"] if gain_db else []),
            "-map", "0:a", "-c:a", "libmp3lame", "-b:a", f"{kbps}k", "-id3v2_version", "4",
            "-write_xing", "1", *meta, "-f", "mp3", str(tmp),
        ])  # fmt: skip
