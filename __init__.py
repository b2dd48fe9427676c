"""scoreflow: batch soundtrack pipeline for media production.

The checkout's root is the ``scoreflow`` package: ``flows/``, ``tasks/`` and ``config/`` are
installed and imported as ``scoreflow.flows``, ``scoreflow.tasks`` and ``scoreflow.config``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scoreflow")
except PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0+unknown"
