"""The audio options a delivery may ask for: codecs by container, and bitrates.

`output.audio_codec` and `output.audio_bitrate` are checked against these on load, and
again against the video's container before muxing (`tasks.audio.mux`).
"""

from __future__ import annotations

import re

from scoreflow.tasks.errors import InputError

AUTO_CODECS = {"mp4": "aac", "m4v": "aac", "mov": "pcm_s24le", "mkv": "pcm_s24le"}

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
