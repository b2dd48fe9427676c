"""Scene description -> `Brief`: genre, mood, tempo, key, instruments, energy, hit points.

The vocabulary lives in config/styles.toml (and a user's styles file merged on top).
Explicit shot-list fields win over the text; words the vocabulary does not know are ignored;
``no drums`` style negations are honoured; an empty description gets a quiet, steady
underscore. Hit points come from the shot list's ``hits`` and from the text: ``at 00:42``,
``at 1:02:03``, ``at 00:00:42:12``, ``at 42 s`` (programme time when it falls inside the
scene, else time from the scene start) and ``on the cut`` (the first frame of the scene).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from typing import Any

import numpy as np

from scoreflow import config
from scoreflow.tasks.errors import InputError
from scoreflow.tasks.timeline.model import Brief, Scene
from scoreflow.tasks.timeline.timecode import frame_to_seconds, parse_timecode

_BPM = re.compile(r"\b(\d{2,3})\s*bpm\b")
_KEY_TEXT = re.compile(
    r"\b(?:in|key of)\s+([a-g])([#b]?)(?:\s+(major|minor|dorian|mixolydian|lydian|phrygian))?\b"
)
_KEY_FIELD = re.compile(
    r"^([A-Ga-g])([#b♯♭]?)\s*(m|min|minor|maj|major|dorian|mixolydian|lydian|phrygian)?$"
)
_MODES = {"m": "minor", "min": "minor", "maj": "major", None: None, "": None}
_HIT_CLOCK = re.compile(r"\b(?:at|@)\s+(\d{1,2}(?:[:;]\d{1,2}){1,3}(?:\.\d+)?)")
_HIT_SECONDS = re.compile(r"\b(?:at|@)\s+(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\b")
_ON_THE_CUT = re.compile(r"\b(?:on|hits?|at) the cut\b")


def _seed_pick(options: list[str], token: str) -> str:
    digest = hashlib.sha256(token.encode()).digest()
    return options[digest[0] % len(options)]


_INDEX: dict[int, tuple[dict[str, Any], list[tuple[str, str, str]]]] = {}


def _phrase_index(vocab: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(phrase, category, name) for every word of every genre, mood and instrument,
    longest first; built once per vocabulary object."""
    cached = _INDEX.get(id(vocab))
    if cached is not None and cached[0] is vocab:
        return cached[1]
    index = _build_index(vocab)
    _INDEX[id(vocab)] = (vocab, index)
    return index


def _build_index(vocab: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for category in ("genres", "moods", "instruments"):
        for name, entry in vocab[category].items():
            for phrase in {name, *entry.get("words", [])}:
                out.append((phrase.lower().replace("-", " "), category, name))
    return sorted(out, key=lambda t: -len(t[0]))


@functools.cache
def _word_pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(rf"\b{re.escape(phrase)}\b")


def read_words(text: str, vocab: dict[str, Any]) -> dict[str, list[tuple[str, bool, str]]]:
    """Find vocabulary phrases in `text`, longest first, each with a negated flag.

    Returns
    -------
    dict
        category -> [(name, negated, phrase), ...] in order of appearance.
    """
    # Clause punctuation becomes "|", so a negation never reaches across it.
    clauses = re.sub(r"[,;:.!?()]+", " | ", text.lower().replace("-", " "))
    clean = re.sub(r"[^a-z0-9#'| ]+", " ", clauses)
    taken = [False] * len(clean)
    negations = set(vocab["negations"]["words"])
    hits: list[tuple[int, str, str, bool, str]] = []
    for phrase, category, name in _phrase_index(vocab):
        if phrase not in clean:  # most phrases are absent: skip the regex
            continue
        for m in _word_pattern(phrase).finditer(clean):
            if any(taken[m.start() : m.end()]):
                continue
            taken[m.start() : m.end()] = [True] * (m.end() - m.start())
            before = clean[: m.start()].split("|")[-1].split()[-2:]
            hits.append((m.start(), category, name, bool(negations & set(before)), phrase))
    found: dict[str, list[tuple[str, bool, str]]] = {"genres": [], "moods": [], "instruments": []}
    for _, category, name, negated, phrase in sorted(hits):
        found[category].append((name, negated, phrase))
    return found


def _most_common(names: list[str]) -> str | None:
    return max(names, key=lambda n: (names.count(n), -names.index(n))) if names else None


def _explicit(scene: Scene, field: str, value: str, known: dict[str, Any]) -> str:
    if value not in known:
        source, line = scene.where()
        raise InputError(
            f"unknown {field}",
            source=source,
            line=line,
            scene=scene.id,
            field=field,
            value=value,
            fix=f"Use one of {', '.join(known)} (or add it to config/styles.toml)",
        )
    return value


def _clock_seconds(text: str, scene: Scene) -> float:
    """``mm:ss``, ``h:mm:ss`` (decimals allowed) or a full ``hh:mm:ss:ff`` timecode."""
    parts = re.split(r"[:;]", text)
    if len(parts) == 4:
        frame = parse_timecode(text, scene.rate, drop_frame=(";" in text) or None)
        return frame_to_seconds(frame, scene.rate)
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


def text_hits(scene: Scene) -> tuple[list[float], list[tuple[str, str]]]:
    """Hit points written in the description, in seconds from the scene start.

    A time inside the scene's programme span is read as programme time; otherwise, when it
    is shorter than the scene, as time from the scene start; otherwise it is ignored (and
    said so in the reading).
    """
    text = scene.description.lower()
    start = frame_to_seconds(scene.start_frame + scene.tc_start, scene.rate)
    hits: list[float] = []
    reading: list[tuple[str, str]] = []
    found = [(m[0], m[1], True) for m in _HIT_CLOCK.finditer(text)]
    found += [(m[0], m[1], False) for m in _HIT_SECONDS.finditer(text)]
    for words, value, clock in found:
        try:
            t = _clock_seconds(value, scene) if clock else float(value)
        except (InputError, ValueError):
            reading.append((words, "not a time (ignored)"))
            continue
        if start <= t < start + scene.duration_s:
            hits.append(t - start)
            reading.append((words, f"hit at {t - start:.2f} s (programme time {t:.2f} s)"))
        elif t < scene.duration_s:
            hits.append(t)
            reading.append((words, f"hit at {t:.2f} s from the scene start"))
        else:
            reading.append((words, "outside the scene (ignored)"))
    if m := _ON_THE_CUT.search(text):
        hits.append(0.0)
        reading.append((m[0], "hit on the cut (scene start)"))
    return hits, reading


def _curve(text: str, vocab: dict[str, Any]) -> tuple[str | None, str]:
    """The energy curve whose words appear first in `text` (longest phrase wins a tie)."""
    best: tuple[int, int, str, str] | None = None
    for name, entry in vocab["energy"].items():
        for phrase in entry.get("words", []):
            m = _word_pattern(phrase).search(text) if phrase in text else None
            if m and (best is None or (m.start(), -len(phrase)) < (best[0], best[1])):
                best = (m.start(), -len(phrase), name, phrase)
    return (best[2], best[3]) if best else (None, "")


def curve_words(text: str, vocab: dict[str, Any]) -> str | None:
    """The energy curve a description's words ask for, or None."""
    return _curve(text.lower(), vocab)[0]


def _brightness(text: str, valence: float, vocab: dict[str, Any]) -> tuple[float, list[str]]:
    found = {
        side: [w for w in vocab["brightness"][side] if w in text and _word_pattern(w).search(text)]
        for side in ("bright", "dark")
    }
    n_bright, n_dark = len(found["bright"]), len(found["dark"])
    words = 0.0 if not n_bright + n_dark else (n_bright - n_dark) / (n_bright + n_dark)
    return max(-1.0, min(1.0, 0.4 * valence + 0.6 * words)), found["bright"] + found["dark"]


_Reading = list[tuple[str, str]]  # (words of the text, what they were read as)
_Words = dict[str, list[tuple[str, bool, str]]]  # as `read_words` returns them


def make_brief(scene: Scene, *, vocab: dict[str, Any] | None = None) -> Brief:
    """Read a scene's description and explicit fields into the musical plan for its cue."""
    vocab = vocab or config.styles()
    text = scene.description
    lower = text.lower()
    words = read_words(text, vocab)
    reading: _Reading = [
        (phrase, f"{category[:-1]} {name}" + (" (negated)" if neg else ""))
        for category in ("genres", "moods", "instruments")
        for name, neg, phrase in words[category]
    ]
    genre = _named(scene, "genre", words["genres"], vocab["genres"], vocab)
    mood = _named(scene, "mood", words["moods"], vocab["moods"], vocab)
    g = vocab["genres"][genre]
    valence, arousal = _affect(scene, mood, words, vocab)
    tempo, tempo_range, read = _tempo(scene, lower, g, arousal)
    reading += read
    tonic, mode, read = _key(scene, lower, valence, f"{scene.id}:{genre}:{mood}", vocab)
    reading += read
    instruments = _instruments(scene, words, g, vocab)
    no_drums, read = _no_drums(lower, vocab)
    reading += read
    curve, read = _energy(scene, lower, vocab)
    reading += read
    brightness, bright_words = _brightness(lower, valence, vocab)
    reading += [(w, "brightness") for w in bright_words]
    hits = [frame_to_seconds(h - scene.start_frame, scene.rate) for h in scene.hits]
    found_hits, hit_reading = text_hits(scene)
    reading += hit_reading
    return Brief(
        scene_id=scene.id,
        prompt=text,
        genre=genre,
        mood=mood,
        valence=round(valence, 3),
        arousal=round(arousal, 3),
        tempo_bpm=tempo,
        tempo_range=tempo_range,
        key=tonic,
        mode=mode,
        instruments=tuple(instruments),
        intensity=float(_intensity(scene, arousal, vocab)),
        drums=g["drums"] != "none" and not no_drums,
        hits_s=tuple(sorted({round(h, 4) for h in hits + found_hits})),
        curve=curve,
        brightness=round(brightness, 3),
        reading=tuple(reading),
    )


def _named(
    scene: Scene,
    field: str,
    found: list[tuple[str, bool, str]],
    known: dict[str, Any],
    vocab: dict[str, Any],
) -> str:
    """The scene's genre or mood (`field`): the explicit one, else the one its words name
    most often (not negated), else the vocabulary's default."""
    explicit = getattr(scene, field)
    if explicit:
        return _explicit(scene, field, explicit, known)
    return _most_common([n for n, neg, _ in found if not neg]) or str(vocab["defaults"][field])


def _affect(scene: Scene, mood: str, words: _Words, vocab: dict[str, Any]) -> tuple[float, float]:
    """Valence and arousal: the mood's, or with the mood read from the text the mean over
    every matched mood word ("warm ... tense" is darker than "warm")."""
    moods = vocab["moods"]
    valence, arousal = float(moods[mood]["valence"]), float(moods[mood]["arousal"])
    matched = [moods[n] for n, neg, _ in words["moods"] if not neg]
    if matched and not scene.mood:
        valence = sum(float(m["valence"]) for m in matched) / len(matched)
        arousal = sum(float(m["arousal"]) for m in matched) / len(matched)
    return valence, arousal


def _tempo(
    scene: Scene, lower: str, genre: dict[str, Any], arousal: float
) -> tuple[float, tuple[float, float], _Reading]:
    """The tempo and its allowed range: the explicit one, a ``NN bpm`` in the text, else
    the genre's range at the arousal."""
    lo, hi = (float(x) for x in genre["tempo_bpm"])
    if scene.tempo_bpm:
        return float(scene.tempo_bpm), (float(scene.tempo_bpm),) * 2, []
    if m := _BPM.search(lower):
        tempo = float(m[1])
        return tempo, (tempo, tempo), [(m[0], f"tempo {tempo:g} bpm")]
    return round(lo + (hi - lo) * arousal, 1), (lo, hi), []


def _key(
    scene: Scene, lower: str, valence: float, token: str, vocab: dict[str, Any]
) -> tuple[str, str, _Reading]:
    """Tonic and mode: the explicit key, a key named in the text, else a mode from the
    valence and a tonic picked from the vocabulary's defaults by `token`."""
    mode: str | None = None
    reading: _Reading = []
    if scene.key:
        km = _KEY_FIELD.match(scene.key)
        if km is None:  # the reader checks keys; a Scene built by hand may not be
            raise InputError("not a key", scene=scene.id, field="key", value=scene.key)
        tonic = km[1].upper() + km[2].replace("♯", "#").replace("♭", "b")
        mode = _MODES.get(km[3], km[3])
    elif km := _KEY_TEXT.search(lower):
        tonic, mode = km[1].upper() + km[2], km[3]
        reading.append((km[0], f"key {tonic} {mode or ''}".strip()))
    else:
        tonic = ""
    mode = mode or ("minor" if valence < 0 else "major")
    if not tonic:
        tonic = _seed_pick(
            vocab["defaults"][f"key_{'minor' if mode == 'minor' else 'major'}"], token
        )
    return tonic, mode, reading


def _instruments(
    scene: Scene, words: _Words, genre: dict[str, Any], vocab: dict[str, Any]
) -> list[str]:
    """The explicit instruments, else those the text names (not negated) and the genre's
    for each role still missing (unless negated)."""
    known_inst = vocab["instruments"]
    if scene.instruments:
        instruments = [_explicit(scene, "instruments", i, known_inst) for i in scene.instruments]
    else:
        unwanted = {n for n, neg, _ in words["instruments"] if neg}
        instruments = [n for n, neg, _ in words["instruments"] if not neg]
        roles = {known_inst[n]["role"] for n in instruments}
        for n in genre["instruments"]:
            if n not in unwanted and known_inst[n]["role"] not in roles:
                instruments.append(n)
                roles.add(known_inst[n]["role"])
    return list(dict.fromkeys(instruments))


def _no_drums(lower: str, vocab: dict[str, Any]) -> tuple[re.Match[str] | None, _Reading]:
    """A negated drum word ("no drums") in the text, if any."""
    drum_words = set(vocab["negations"]["drum_words"])
    no_drums = re.search(
        rf"\b(?:{'|'.join(vocab['negations']['words'])})\s+(?:{'|'.join(drum_words)})\b", lower
    )
    return no_drums, [(no_drums[0], "no drums")] if no_drums else []


def _energy(scene: Scene, lower: str, vocab: dict[str, Any]) -> tuple[str, _Reading]:
    """The energy curve: the explicit one, else the text's, else the default."""
    if scene.curve:
        return _explicit(scene, "curve", scene.curve, vocab["energy"]), []
    found_curve, phrase = _curve(lower, vocab)
    curve = found_curve or str(vocab["defaults"]["energy"])
    return curve, [(phrase, f"energy {curve}")] if found_curve else []


def _intensity(scene: Scene, arousal: float, vocab: dict[str, Any]) -> float:
    """The explicit intensity, else a quiet underscore for an empty description, else the
    arousal."""
    if scene.intensity is not None:
        return scene.intensity
    if not scene.description.strip():
        return float(vocab["defaults"]["underscore_intensity"])
    return round(arousal, 2)


def explain(scene: Scene, brief: Brief | None) -> list[str]:
    """How a scene's words were read, as lines for `scoreflow explain`."""
    lines = [f"scene {scene.id}  {scene.tc_in} - {scene.tc_out}  ({scene.duration_s:.2f} s)"]
    lines.append(f"  text:   {scene.description!r}")
    if brief is None:
        return [*lines, "  music:  off"]
    read = ", ".join(f"{w!r} -> {what}" for w, what in brief.reading) or "nothing known"
    lo, hi = brief.tempo_range
    tempo = f"{lo:g} bpm" if lo == hi else f"{brief.tempo_bpm:g} bpm (range {lo:g}-{hi:g})"
    hits = ", ".join(f"{h:.2f} s" for h in brief.hits_s) or "none"
    lines += [
        f"  read:   {read}",
        f"  brief:  {brief.genre} / {brief.mood} (valence {brief.valence:+.2f}, "
        f"arousal {brief.arousal:.2f}), {tempo}, {brief.key} {brief.mode}",
        f"          instruments {', '.join(brief.instruments)}; drums "
        f"{'yes' if brief.drums else 'no'}; intensity {brief.intensity:.2f}; energy "
        f"{brief.curve}; brightness {brief.brightness:+.2f}; hits {hits}",
    ]
    return lines


def link_briefs(scenes: list[Scene], briefs: list[Brief]) -> list[Brief]:
    """Briefs of scenes that start where another music scene ends (no fade between them)
    get ``entry="matched"``: the new cue opens at its full strength rather than with a quiet
    intro, so a music-to-music cut has no hole. Such a cue also sits in a key related to
    the one before (`related_key`) and at a compatible tempo (`compatible_tempo`), unless
    its scene names its own key or tempo (a clash asked for). `scenes` and `briefs` are
    parallel lists of the scenes with music, in programme order."""
    out = list(briefs)
    for k in range(1, len(scenes)):
        prev, scene = scenes[k - 1], scenes[k]
        if prev.end_frame == scene.start_frame and scene.transition != "fade":
            b, before = out[k], out[k - 1]
            said = {what.split(" ")[0] for _, what in b.reading}
            changes: dict[str, Any] = {"entry": "matched"}
            if not scene.key and "key" not in said:
                changes["key"] = related_key(before, b)
            if not scene.tempo_bpm and "tempo" not in said:
                changes["tempo_bpm"] = compatible_tempo(before.tempo_bpm, b.tempo_range)
            out[k] = dataclasses.replace(b, **changes)
    return out


def _scale(tonic: int, mode: str) -> set[int]:
    from scoreflow.tasks.music.theory import DARK_MODES, scale_pcs

    return scale_pcs(tonic, "minor" if mode in DARK_MODES else "major")


def related_key(before: Brief, brief: Brief) -> str:
    """The tonic for `brief` (in its own mode) whose scale shares the most notes with the
    cue before's: its own where that is already closest, else the nearest on the circle
    of fifths (for a mode change, the relative or a neighbour of it)."""
    from scoreflow.tasks.music.theory import NAMES, pitch_class

    prev = _scale(pitch_class(before.key), before.mode)
    own = pitch_class(brief.key)
    best = max(range(12), key=lambda t: (len(_scale(t, brief.mode) & prev), t == own))
    return (
        brief.key
        if len(_scale(own, brief.mode) & prev) >= len(_scale(best, brief.mode) & prev)
        else NAMES[best]
    )


def compatible_tempo(before_bpm: float, tempo_range: tuple[float, float]) -> float:
    """The tempo in `tempo_range` nearest to the cue before's, its half or its double (a
    crossfade between them keeps one pulse)."""
    lo, hi = tempo_range
    options = [float(np.clip(before_bpm * f, lo, hi)) for f in (1.0, 0.5, 2.0)]

    def off(bpm: float) -> float:
        return min(abs(bpm / (before_bpm * f) - 1) for f in (1.0, 0.5, 2.0))

    best: float = min(options, key=off)
    return round(best, 1)


def apply_note(brief: Brief, scene: Scene, note: str, *, vocab: dict[str, Any]) -> Brief:
    """`brief` revised by a director's note ("more tension, no drums, hit at 00:42"): the
    note is read like a description (`make_brief`) and what it says wins; what it does not
    mention stays as it was. Instruments it names are added, those it negates dropped;
    hit points it gives are added; the prompt carries the note."""
    plain = dataclasses.replace(
        scene, description=note, genre=None, mood=None, tempo_bpm=None, key=None,
        instruments=(), intensity=None, curve=None, hits=(),
    )  # fmt: skip
    said = make_brief(plain, vocab=vocab)
    kinds = {what.split(" ")[0] for _, what in said.reading}
    changes: dict[str, Any] = {}
    if "genre" in kinds:
        changes["genre"] = said.genre
    if "mood" in kinds:
        changes |= {
            "mood": said.mood, "valence": said.valence, "arousal": said.arousal,
            "intensity": said.intensity,
        }  # fmt: skip
    if "tempo" in kinds:
        changes |= {"tempo_bpm": said.tempo_bpm, "tempo_range": said.tempo_range}
    if "key" in kinds:
        changes |= {"key": said.key, "mode": said.mode}
    if "energy" in kinds:
        changes["curve"] = said.curve
    if "brightness" in kinds:
        changes["brightness"] = said.brightness
    words = read_words(note, vocab)
    dropped = {n for n, neg, _ in words["instruments"] if neg}
    added = [n for n, neg, _ in words["instruments"] if not neg]
    if dropped or added:
        kept = [i for i in brief.instruments if i not in dropped]
        changes["instruments"] = tuple(dict.fromkeys([*kept, *added]))
    if "no" in kinds:  # "no drums"
        changes["drums"] = False
    if said.hits_s:
        changes["hits_s"] = tuple(sorted({*brief.hits_s, *said.hits_s}))
    reading = tuple((w, f"note: {what}") for w, what in said.reading)
    return dataclasses.replace(
        brief,
        **changes,
        prompt=f"{brief.prompt}; note: {note}" if brief.prompt else note,
        reading=brief.reading + reading,
    )


def brief_changes(before: Brief, after: Brief) -> list[str]:
    """What differs between two briefs of one scene, one "field: old -> new" each (the
    prompt and the reading left out)."""
    out = []
    for name in Brief.__dataclass_fields__:
        old, new = getattr(before, name), getattr(after, name)
        if name not in ("prompt", "reading") and old != new:
            out.append(f"{name}: {old} -> {new}")
    return out
