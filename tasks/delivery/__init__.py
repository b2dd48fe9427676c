"""What a run leaves for the editor: the run folder it owns (lock, ownership, verify),
the deliverables (WAVs, stems, scored video), the manifest built from typed records,
the report and the cue sheet.
"""
