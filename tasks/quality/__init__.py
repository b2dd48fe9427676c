"""Measuring a cue from its audio (and MIDI where there is one), whatever engine made it:
adherence to its brief, technical faults, musical figures, one overall score, and
originality against a library's other tracks.
"""
