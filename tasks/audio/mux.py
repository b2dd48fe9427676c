"""Put the soundtrack into the video with ffmpeg: the picture is copied, never re-encoded."""

from __future__ import annotations

import re
from pathlib import Path

import ffmpeg

from scoreflow.tasks.audio.media import ffmpeg_exe
from scoreflow.tasks.errors import DeliveryError, InputError
from scoreflow.tasks.timeline.model import MediaInfo

AUTO_CODECS = {"mp4": "aac", "m4v": "aac", "mov": "pcm_s24le", "mkv": "pcm_s24le"}
FORMATS = {"mp4": "mp4", "m4v": "mp4", "mov": "mov", "mkv": "matroska"}


# What each container takes (what ffmpeg muxes without experimental flags).
CONTAINER_CODECS = {
    "mp4": {"aac", "alac", "ac3", "eac3", "mp3", "opus"},
    "mov": {"aac", "alac", "pcm_s16le", "pcm_s24le", "pcm_s32le"},
    "mkv": {"aac", "alac", "ac3", "eac3", "mp3", "opus", "flac", "pcm_s16le", "pcm_s24le",
            "pcm_s32le"},
}  # fmt: skip
CONTAINER_CODECS["m4v"] = CONTAINER_CODECS["mp4"]
CODECS = set().union(*CONTAINER_CODECS.values())
_BITRATE = re.compile(r"^(\d+)([kK]?)$")


def check_audio_options(container: str | None, codec: str, bitrate: str) -> None:
    """Refuse, before any work, an audio codec ffmpeg cannot put in the video's container,
    or a bitrate it would not take (`InputError` naming the config key)."""
    if codec != "auto" and codec not in CODECS:
        raise InputError(
            "unknown audio codec",
            field="output.audio_codec",
            value=codec,
            fix=f"Use auto or one of {', '.join(sorted(CODECS))}",
        )
    if (
        container in CONTAINER_CODECS
        and audio_codec_for(container, codec) not in CONTAINER_CODECS[container]
    ):
        raise InputError(
            f"a .{container} video cannot carry {codec} audio",
            field="output.audio_codec",
            value=codec,
            fix=f"Use auto or one of {', '.join(sorted(CONTAINER_CODECS[container]))}",
        )
    m = _BITRATE.match(bitrate)
    kbps = (int(m.group(1)) if m.group(2) else int(m.group(1)) / 1000) if m else 0
    if not 32 <= kbps <= 1536:
        raise InputError(
            "not an audio bitrate",
            field="output.audio_bitrate",
            value=bitrate,
            fix="Write it as e.g. 256k (32k to 1536k)",
        )


def audio_codec_for(container: str, choice: str = "auto") -> str:
    """The soundtrack's codec: `choice`, or by container (AAC for mp4, PCM for mov/mkv)."""
    return AUTO_CODECS.get(container, "aac") if choice == "auto" else choice


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
