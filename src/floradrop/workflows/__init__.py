"""Workflows: folders chained into flows, schedule windows, actions when outputs land.

* :mod:`~floradrop.workflows.chains`: a folder's ``outputs`` may be another folder's inbox;
  the flows that makes (pure), refusing loops, and the small file work a chain needs (outputs
  staged outside the next inbox, provenance carried along);
* :mod:`~floradrop.workflows.schedule_window`: ``schedule = "22:00-07:00"`` (pure, with an
  injected clock) and :mod:`~floradrop.workflows.schedule` applying it to the journal;
* :mod:`~floradrop.workflows.actions`: ``[[folders.on_done]]`` / ``on_failed`` commands,
  webhooks and notifications, worked from the durable :mod:`~floradrop.workflows.outbox`.
"""
