"""Cuts in and out: shot lists (CSV/TSV, JSON, YAML), editing systems' files (EDL,
FCP 7 XML, FCPXML, OTIO) read into scenes, the NLE files written for the editor, and
proposed cut lists.
"""
