"""Put the soundtrack into the video with ffmpeg: the picture is copied, never re-encoded."""

from __future__ import annotations

from pathlib import Path

import ffmpeg

from scoreflow.config.audio import (  # the tables the config is checked against too
    CONTAINER_CODECS,
    audio_codec_for,
    check_audio_options,
)
from scoreflow.tasks.audio.media import ffmpeg_exe
from scoreflow.tasks.errors import DeliveryError
from scoreflow.tasks.timeline.model import MediaInfo

__all__ = [
    "CONTAINER_CODECS",
    "FORMATS",
    "audio_codec_for",
    "check_audio_options",
    "mux",
]

FORMATS = {"mp4": "mp4", "m4v": "mp4", "mov": "mov", "mkv": "matroska"}


def mux(
    video: Path,
    soundtrack: Path,
    out: Path,
    *,
    media: MediaInfo,
    audio_codec: str = "auto",
    audio_bitrate: str = "256k",
    keep_original_audio: bool = False,
) -> list[str]:
    """Write `out`: the video stream of `video` copied, `soundtrack` as the first audio track.

    With `keep_original_audio`, the video's own first audio track follows, copied as it is.

    Returns
    -------
    list of str
        The ffmpeg command line that ran, with file names for paths (for the manifest).
    """
    codec = audio_codec_for(media.container, audio_codec)
    src = ffmpeg.input(str(video))
    music = ffmpeg.input(str(soundtrack))
    streams = [src["v:0"], music["a:0"]]
    opts: dict[str, str | int] = {
        "c:v": "copy",
        "c:a:0": codec,
        "metadata:s:a:0": "title=scoreflow soundtrack",
        "disposition:a:0": "default",
        "map_metadata": 0,
        "f": FORMATS.get(media.container, "mp4"),
    }
    if codec == "aac":
        opts["b:a:0"] = audio_bitrate
    if media.start_tc:  # keep the source's start timecode (a tmcd track)
        opts["timecode"] = media.start_tc
    if opts["f"] in ("mp4", "mov"):
        opts["movflags"] = "+faststart"
    if keep_original_audio and media.audio_streams:
        streams.append(src["a:0"])
        opts.update({"c:a:1": "copy", "metadata:s:a:1": "title=original", "disposition:a:1": "0"})
    stream = ffmpeg.output(*streams, str(out), **opts).overwrite_output()
    try:
        stream.run(cmd=ffmpeg_exe(), capture_stdout=True, capture_stderr=True, quiet=True)
    except ffmpeg.Error as exc:
        tail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-6:]
        raise DeliveryError(f"muxing {out.name} failed:\n" + "\n".join(tail)) from None
    # the command as a record: file names only, no paths of this machine
    names = {ffmpeg_exe(): "ffmpeg", str(video): video.name, str(soundtrack): soundtrack.name}
    return [
        names.get(a, Path(a).name if a == str(out) else a) for a in stream.compile(cmd=ffmpeg_exe())
    ]
