"""Where files live: local paths and ``s3://`` objects behind one interface (fetch, atomic
writes, uploads, listings), and the upload inboxes (S3 event notifications, ledgers) that
``watch`` and ``batch`` read. The lowest package: it knows nothing of music or cuts.
"""
