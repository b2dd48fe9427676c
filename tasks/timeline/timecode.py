"""Exact frame rates and SMPTE timecodes (drop-frame included).

Rates are `fractions.Fraction` (30000/1001, never 29.97). A timecode is a frame count;
`HH:MM:SS;FF` (or `.`/`,` before the frames) marks drop-frame.
"""

from __future__ import annotations

import re
from fractions import Fraction

from scoreflow.tasks.errors import InputError

#: Rates scoreflow accepts, keyed by the names users type.
RATES: dict[str, Fraction] = {
    "23.976": Fraction(24000, 1001),
    "24": Fraction(24),
    "25": Fraction(25),
    "29.97": Fraction(30000, 1001),
    "30": Fraction(30),
    "47.952": Fraction(48000, 1001),
    "48": Fraction(48),
    "50": Fraction(50),
    "59.94": Fraction(60000, 1001),
    "60": Fraction(60),
}
_VALID_RATES = ", ".join(RATES)
_TC = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")
_SECONDS = re.compile(r"^\d+(\.\d+)?$")


def parse_rate(value: str | int | float | Fraction) -> Fraction:
    """Parse a frame rate as users write it: ``"29.97"``, ``"30000/1001"``, ``25``.

    Returns
    -------
    Fraction
        The exact rate, one of `RATES`.
    """
    if isinstance(value, Fraction):
        rate = value
    else:
        text = str(value).strip()
        if text in RATES:
            return RATES[text]
        try:
            rate = Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise InputError(
                "unknown frame rate", value=value, fix=f"Use one of {_VALID_RATES}"
            ) from None
        # 23.976 typed with more digits, e.g. 23.98 or 29.970
        for exact in RATES.values():
            if abs(rate - exact) < Fraction(1, 100) and rate.denominator != 1:
                rate = exact
    if rate not in RATES.values():
        raise InputError("unknown frame rate", value=value, fix=f"Use one of {_VALID_RATES}")
    return rate


def snap_rate(rate: float | Fraction) -> Fraction:
    """The exact rate a measured or floating-point one stands for (within 1/1000 fps):
    23.976023976... -> 24000/1001. Other rates come back unchanged, as fractions."""
    value = Fraction(rate)
    for exact in RATES.values():
        if abs(value - exact) < Fraction(1, 1000):
            return exact
    return value


def rate_name(rate: Fraction) -> str:
    """The usual name of an exact rate: ``Fraction(30000, 1001)`` -> ``"29.97"``."""
    for name, exact in RATES.items():
        if exact == rate:
            return name
    return str(rate)


def nominal_fps(rate: Fraction) -> int:
    """Frames per timecode second: 30 for 29.97, 24 for 23.976."""
    return round(rate)


def supports_drop_frame(rate: Fraction) -> bool:
    """Drop-frame exists for 29.97 and 59.94 only."""
    return rate.denominator == 1001 and nominal_fps(rate) in (30, 60)


def parse_timecode(text: str, rate: Fraction, *, drop_frame: bool | None = None) -> int:
    """Parse ``HH:MM:SS:FF``, ``HH:MM:SS;FF`` (drop-frame) or seconds (``"12.5"``) to frames.

    Parameters
    ----------
    text : str
        The timecode. Seconds are rounded to the nearest frame.
    rate : Fraction
        The exact frame rate.
    drop_frame : bool, optional
        Force drop-frame counting (e.g. from an EDL's ``FCM: DROP FRAME``); by default a
        ``;`` before the frames decides.

    Returns
    -------
    int
        Frame number counted from 00:00:00:00.
    """
    raw = str(text).strip()
    if _SECONDS.match(raw):
        return round(Fraction(raw) * rate)
    m = _TC.match(raw)
    if not m:
        raise InputError(
            "not a timecode",
            value=text,
            fix="Write HH:MM:SS:FF, HH:MM:SS;FF for drop-frame, or seconds such as 12.5",
        )
    hh, mm, ss, sep, ff = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    fps = nominal_fps(rate)
    drop = (sep in ";.,") if drop_frame is None else drop_frame
    if mm > 59 or ss > 59:
        raise InputError("minutes and seconds run 00-59", value=text)
    if ff >= fps:
        raise InputError(
            f"frame {ff:02d} does not exist at {rate_name(rate)} fps",
            value=text,
            fix=f"Frames run 00-{fps - 1:02d}",
        )
    if drop and not supports_drop_frame(rate):
        raise InputError(
            f"drop-frame timecode at {rate_name(rate)} fps",
            value=text,
            fix="Drop-frame exists only at 29.97 and 59.94; write ':' before the frames",
        )
    total = (hh * 3600 + mm * 60 + ss) * fps + ff
    if not drop:
        return total
    dropped = 2 * fps // 30  # 2 at 29.97, 4 at 59.94
    if ss == 0 and mm % 10 != 0 and ff < dropped:
        raise InputError(
            f"frames 00-{dropped - 1:02d} are skipped at the start of minute {mm:02d} "
            "in drop-frame",
            value=text,
            fix=f"The minute starts at {hh:02d}:{mm:02d}:00;{dropped:02d}",
        )
    minutes = hh * 60 + mm
    return total - dropped * (minutes - minutes // 10)


def format_timecode(frames: int, rate: Fraction, *, drop_frame: bool = False) -> str:
    """Format a frame number as SMPTE timecode (``;`` before the frames when drop-frame)."""
    if frames < 0:
        raise InputError("negative frame number", value=frames)
    fps = nominal_fps(rate)
    if drop_frame:
        if not supports_drop_frame(rate):
            raise InputError(f"drop-frame timecode at {rate_name(rate)} fps", value=frames)
        dropped = 2 * fps // 30
        per_min = fps * 60 - dropped
        per_10min = per_min * 10 + dropped
        tens, rem = divmod(frames, per_10min)
        extra = dropped * 9 * tens
        if rem > dropped:
            extra += dropped * ((rem - dropped) // per_min)
        frames += extra
    ff = frames % fps
    secs = frames // fps
    sep = ";" if drop_frame else ":"
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}{sep}{ff:02d}"


def frame_to_sample(frame: int, rate: Fraction, sample_rate: int) -> int:
    """Sample index of a frame boundary: ``round(frame * sample_rate / rate)``.

    Used at both ends of every scene, so adjacent scenes tile the timeline exactly.
    """
    return round(Fraction(frame) * sample_rate / rate)


def frame_to_seconds(frame: int, rate: Fraction) -> float:
    """Seconds at a frame boundary."""
    return float(Fraction(frame) / rate)
