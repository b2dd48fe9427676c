"""scoreflow's pipeline stages: plain typed functions, no Prefect required.

Topic packages, from the bottom layer up (a package imports only from those before it):

- ``errors``, ``seeds``: the one exception tree and the one seed rule;
- ``cloud``: local and ``s3://`` storage, upload inboxes;
- ``timeline``: timecode and the domain model (scenes, briefs, cues, media);
- ``music``: theory, and descriptions read into briefs;
- ``audio``: probing, analysis, beats, speech, fitting, mixing, spooling, mux;
- ``picture``: frames, shots, spotting, the picture's reading;
- ``interchange``: shot lists and editing systems' files in and out;
- ``engines``: the composer and the neural engines behind one registry;
- ``quality``: the measures and originality;
- ``delivery``: the run folder, deliverables, manifest, report;
- ``library``: stock-music libraries: briefs, tags, catalogue.
"""
