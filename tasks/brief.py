"""Scene description -> `Brief`: genre, mood, tempo, key, instruments, energy.

The vocabulary lives in config/styles.toml. Explicit shot-list fields win over the text;
words the vocabulary does not know are ignored; ``no drums`` style negations are honoured.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import config
from tasks.errors import InputError
from tasks.model import Brief, Scene
from tasks.timecode import frame_to_seconds

_BPM = re.compile(r"\b(\d{2,3})\s*bpm\b")
_KEY_TEXT = re.compile(
    r"\b(?:in|key of)\s+([a-g])([#b]?)(?:\s+(major|minor|dorian|mixolydian|lydian|phrygian))?\b"
)
_KEY_FIELD = re.compile(
    r"^([A-Ga-g])([#b♯♭]?)\s*(m|min|minor|maj|major|dorian|mixolydian|lydian|phrygian)?$"
)
_MODES = {"m": "minor", "min": "minor", "maj": "major", None: None, "": None}


def _seed_pick(options: list[str], token: str) -> str:
    digest = hashlib.sha256(token.encode()).digest()
    return options[digest[0] % len(options)]


def _phrase_index(vocab: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(phrase, category, name) for every word of every genre, mood and instrument."""
    out = []
    for category in ("genres", "moods", "instruments"):
        for name, entry in vocab[category].items():
            for phrase in {name, *entry.get("words", [])}:
                out.append((phrase.lower().replace("-", " "), category, name))
    return sorted(out, key=lambda t: -len(t[0]))


def read_words(text: str, vocab: dict[str, Any]) -> dict[str, list[tuple[str, bool]]]:
    """Find vocabulary phrases in `text`, longest first, each with a negated flag.

    Returns
    -------
    dict
        category -> [(name, negated), ...] in order of appearance.
    """
    clean = re.sub(r"[^a-z0-9#' ]+", " ", text.lower().replace("-", " "))
    taken = [False] * len(clean)
    negations = set(vocab["negations"]["words"])
    hits: list[tuple[int, str, str, bool]] = []
    for phrase, category, name in _phrase_index(vocab):
        for m in re.finditer(rf"\b{re.escape(phrase)}\b", clean):
            if any(taken[m.start() : m.end()]):
                continue
            taken[m.start() : m.end()] = [True] * (m.end() - m.start())
            before = clean[: m.start()].split()[-2:]
            hits.append((m.start(), category, name, bool(negations & set(before))))
    found: dict[str, list[tuple[str, bool]]] = {"genres": [], "moods": [], "instruments": []}
    for _, category, name, negated in sorted(hits):
        found[category].append((name, negated))
    return found


def _most_common(names: list[str]) -> str | None:
    return max(names, key=lambda n: (names.count(n), -names.index(n))) if names else None


def _explicit(scene: Scene, field: str, value: str, known: dict[str, Any]) -> str:
    if value not in known:
        line = int(scene.origin.rsplit(":", 1)[1]) if ":" in scene.origin else None
        raise InputError(
            f"unknown {field}",
            source=scene.origin.rsplit(":", 1)[0] or None,
            line=line,
            scene=scene.id,
            field=field,
            value=value,
            fix=f"Use one of {', '.join(known)} (or add it to config/styles.toml)",
        )
    return value


def make_brief(scene: Scene, *, vocab: dict[str, Any] | None = None) -> Brief:
    """Read a scene's description and explicit fields into the musical plan for its cue."""
    vocab = vocab or config.styles()
    text = scene.description
    words = read_words(text, vocab)
    genres, moods = vocab["genres"], vocab["moods"]

    if scene.genre:
        genre = _explicit(scene, "genre", scene.genre, genres)
    else:
        genre = _most_common([n for n, neg in words["genres"] if not neg]) or str(
            vocab["defaults"]["genre"]
        )
    if scene.mood:
        mood = _explicit(scene, "mood", scene.mood, moods)
    else:
        mood = _most_common([n for n, neg in words["moods"] if not neg]) or str(
            vocab["defaults"]["mood"]
        )
    g, md = genres[genre], moods[mood]
    valence, arousal = float(md["valence"]), float(md["arousal"])
    # Every matched mood word nudges the reading: "warm ... tense" is darker than "warm".
    matched = [moods[n] for n, neg in words["moods"] if not neg]
    if matched and not scene.mood:
        valence = sum(float(m["valence"]) for m in matched) / len(matched)
        arousal = sum(float(m["arousal"]) for m in matched) / len(matched)

    lo, hi = (float(x) for x in g["tempo_bpm"])
    if scene.tempo_bpm:
        tempo, tempo_range = float(scene.tempo_bpm), (float(scene.tempo_bpm),) * 2
    elif m := _BPM.search(text.lower()):
        tempo = float(m[1])
        tempo_range = (tempo, tempo)
    else:
        tempo, tempo_range = round(lo + (hi - lo) * arousal, 1), (lo, hi)

    mode: str | None = None
    if scene.key:
        km = _KEY_FIELD.match(scene.key)
        if km is None:  # the reader checks keys; a Scene built by hand may not be
            raise InputError("not a key", scene=scene.id, field="key", value=scene.key)
        tonic = km[1].upper() + km[2].replace("♯", "#").replace("♭", "b")
        mode = _MODES.get(km[3], km[3])
    elif km := _KEY_TEXT.search(text.lower()):
        tonic, mode = km[1].upper() + km[2], km[3]
    else:
        tonic = ""
    mode = mode or ("minor" if valence < 0 else "major")
    if not tonic:
        tonic = _seed_pick(
            vocab["defaults"][f"key_{'minor' if mode == 'minor' else 'major'}"],
            f"{scene.id}:{genre}:{mood}",
        )

    known_inst = vocab["instruments"]
    if scene.instruments:
        instruments = [_explicit(scene, "instruments", i, known_inst) for i in scene.instruments]
    else:
        unwanted = {n for n, neg in words["instruments"] if neg}
        instruments = [n for n, neg in words["instruments"] if not neg]
        roles = {known_inst[n]["role"] for n in instruments}
        for n in g["instruments"]:
            if n not in unwanted and known_inst[n]["role"] not in roles:
                instruments.append(n)
                roles.add(known_inst[n]["role"])
    instruments = list(dict.fromkeys(instruments))

    drum_words = set(vocab["negations"]["drum_words"])
    no_drums = any(
        re.search(rf"\b(?:{'|'.join(vocab['negations']['words'])})\s+{w}\b", text.lower())
        for w in drum_words
    )
    intensity = scene.intensity if scene.intensity is not None else round(arousal, 2)
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
        intensity=float(intensity),
        drums=g["drums"] != "none" and not no_drums,
        hits_s=tuple(frame_to_seconds(h - scene.start_frame, scene.rate) for h in scene.hits),
    )
