"""Time and the domain model: exact frame/sample arithmetic and SMPTE timecode, and the
records every stage passes on (``Scene``, ``Brief``, ``Cue``, ``MediaInfo``).
"""
