"""The life of a dropped file: one stage per module, in the order a file travels.

=========  ===========================  ================================================
stage      module                       what it does
=========  ===========================  ================================================
watch      ``pipeline.watch``           observers and rescans report candidate paths
settle     ``pipeline.settle``          a candidate becomes ready once completely written
decide     ``pipeline.decide``          pure: junk or work? which rule? a sidecar?
admit      ``pipeline.admit``           hash, spot duplicates, journal the job
bind       ``pipeline.bind``            pure: which value goes to which technique input
upload     ``pipeline.upload``          bindings -> run inputs (assets uploaded, text read)
submit     ``pipeline.submit``          one run per job, exactly once (idempotency key)
poll       ``pipeline.poll``            batch or per-run polling until terminal
           ``pipeline.schedule``        pure: when each run is due; when creates may overlap
           ``pipeline.polling``         polls the runs that are due, hands back the ends
fetch      ``pipeline.fetch``           outputs written atomically, with provenance
file away  ``pipeline.fileaway``        the original to done/ or failed/ (+ report)
=========  ===========================  ================================================

In the upload stage, a folder with ``transfer = "host"`` puts media in the user's own bucket
instead (``floradrop.hosting``), and a dropped link in a ``links = true`` folder is checked
and passed on as it is (``pipeline.links``).

``floradrop.engine`` runs the stages on named threads (``floradrop.work`` on the worker pools,
``floradrop.admitting`` on the admit thread); errors are decided by ``floradrop.policy``. Every
stage moves a job along its own edges of the state machine (``floradrop.jobs``), each a
durable transition of ``floradrop.journal``. See ``ARCHITECTURE.md``.
"""
