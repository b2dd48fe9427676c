"""Sound as signal: ffmpeg probing and decoding, analysis (key, tempo, loudness), the beat
tracker, speech detection, fitting a cue to its span, the mix in memory and in blocks
(BS.1770 meter, ducking, look-ahead limiter), spooling cues to disk, and the mux.
"""
