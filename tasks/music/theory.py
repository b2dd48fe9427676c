"""Music theory the composer needs: scales, Roman-numeral chords, pitch names.

Pitch classes are integers 0-11 (C = 0); MIDI pitches are integers (middle C = 60).
"""

from __future__ import annotations

import re

from scoreflow.tasks.errors import InputError

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
DARK_MODES = ("minor", "dorian", "phrygian")
NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ROMAN = re.compile(r"^([b#]?)(vii|iii|vi|iv|ii|v|i)(o|maj7|7)?$", re.I)
_DEGREE = {"i": 0, "ii": 2, "iii": 4, "iv": 5, "v": 7, "vi": 9, "vii": 11}


def scale_pcs(tonic: int, mode: str) -> set[int]:
    """The pitch classes of `mode`'s scale on `tonic`."""
    return {(tonic + step) % 12 for step in SCALES[mode]}


def key_relation(a: tuple[int, str], b: tuple[int, str]) -> str:
    """How key `b` (tonic pitch class, mode) stands to key `a`: ``same``, ``relative``
    (the same scale), ``related`` (scales sharing six of seven notes: the neighbours on
    the circle of fifths and their relatives) or ``other``."""
    if a == b:
        return "same"
    shared = len(scale_pcs(*a) & scale_pcs(*b))
    return "relative" if shared == 7 else "related" if shared == 6 else "other"


def pitch_class(name: str) -> int:
    """``"F#"`` -> 6, ``"Bb"`` -> 10."""
    if not name or name[0].upper() not in _LETTER:
        raise InputError("not a note name", field="key", value=name, fix="Write e.g. C, F#, Bb")
    pc = _LETTER[name[0].upper()]
    return (pc + name[1:].count("#") - name[1:].count("b")) % 12


def chord(numeral: str, tonic: int) -> tuple[int, tuple[int, ...]]:
    """Roman numeral -> (root pitch class, intervals above the root).

    Upper case is major, lower case minor, ``o`` diminished; ``7``/``maj7`` add sevenths
    (``V7`` is a dominant seventh); a ``b``/``#`` before the numeral shifts the root
    (``bVII`` in C is Bb major); ``V7/vi`` is the dominant of the chord on ``vi``.
    """
    if "/" in numeral:
        upper, target = numeral.split("/", 1)
        return chord(upper, chord(target, tonic)[0])
    m = _ROMAN.match(numeral)
    if not m:
        raise InputError(
            "not a Roman-numeral chord",
            field="progression",
            value=numeral,
            fix="Write e.g. I, vi, bVII, V7, ii7, Imaj7, viio, V7/vi",
        )
    accidental, roman, suffix = m[1], m[2], (m[3] or "").lower()
    root = (tonic + _DEGREE[roman.lower()] + {"b": -1, "#": 1, "": 0}[accidental]) % 12
    upper_case = roman.isupper()
    third, fifth = (4 if upper_case else 3), (6 if suffix == "o" else 7)
    intervals = [0, third, fifth]
    if suffix == "7":
        intervals.append(10)
    elif suffix == "maj7":
        intervals.append(11)
    return root, tuple(intervals)


def chord_tones(numeral: str, tonic: int) -> set[int]:
    root, intervals = chord(numeral, tonic)
    return {(root + i) % 12 for i in intervals}
