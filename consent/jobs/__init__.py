"""Batch jobs: the engine that checks a folder or zip of photos in worker processes.

Below the web app, so that both shells use it without Flask: the web app creates jobs and
shows them (``web.batch``); ``consent worker`` (:func:`batch_queue.worker_command`) runs them.

- :mod:`.tables`: the tables in the register's file (jobs, checks, and the web app's own) and
  :func:`~.tables.connect`, which opens it and applies their migrations;
- :mod:`.photos`: where a checked photo's files are (:class:`~.photos.Place`), its row, the sweep;
- :mod:`.batch_jobs`: a job's upload, its rows, claim/check/store one photo, progress, recovery;
- :mod:`.batch_queue`: the Huey queue (SQLite in the data folder, or Redis) and the worker command;
- :mod:`.remote_queue`: (Redis) the analysis queue, for machines without the register;
- :mod:`.check_thread`: the process's one ``Checker``, on its own thread (the web server's
  single checks use it too);
- :mod:`.preview`: the annotated preview picture of a checked photo;
- :mod:`.clip_blur`: a clip's blurred copy asked for on the check page, made by a worker, with progress.

The work itself is the library's (``consent.batch.check_photo``); a task only calls it.
"""
