"""Batch jobs (comms, ``/batch``): a folder or a zip checked in the background.

- ``views.py``: the ``batch`` blueprint: the upload, the progress, the gallery, the reports and
  the zip of safe copies. It only creates jobs and shows them; the engine that checks the photos
  is ``consent.jobs`` (``consent worker``).
- ``templates/batch/``: its pages
"""
