"""The one seed rule: every seed scoreflow draws (a scene's, a take's, a library track's
and its retries') is derived from a base seed and names, never from a counter or a clock.

The same base seed and names always give the same seed, in any process or machine, and a
seed drawn for one name says nothing about its neighbours'.
"""

from __future__ import annotations

import hashlib


def derive_seed(base_seed: int, *names: object) -> int:
    """A seed for `names` under `base_seed`.

    Parameters
    ----------
    base_seed : int
        The run's (or the library's, or a scene's) seed.
    *names : object
        What the seed is for, e.g. a scene id, or ``"take3"``; written with ``str``.

    Returns
    -------
    int
        The first four bytes (big-endian) of SHA-256 over ``"base:name1:name2..."``,
        in ``[0, 2**32)``.
    """
    text = ":".join([str(base_seed), *(str(n) for n in names)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def take_seed(seed: int, take: int) -> int:
    """Take 1 keeps `seed` (a run without takes makes the same cue); take ``k`` > 1, and a
    library track's ``k``-th try, draws ``derive_seed(seed, f"take{k}")``."""
    return seed if take == 1 else derive_seed(seed, f"take{take}")
