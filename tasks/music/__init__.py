"""Music shared by the composer and the measures: theory (keys, scales, chords, tempo
names) and the reading of a scene's free-text description into a musical ``Brief``.
"""
