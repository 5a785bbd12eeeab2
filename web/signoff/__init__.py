"""Sign-off (``/review``): photos sent for a senior's decision, and what came back.

- ``views.py``: the ``review`` blueprint: the senior's queue, approve, not approve, answers about
  look-alike faces, and the sender's own list (``/review/mine``)
- ``queue.py``: ``waiting_for``: how many photos wait for a senior (the header, the glance)
- ``email_notice.py``: optional emails about sign-offs (off until a mail server is configured)
- ``templates/signoff/``: its pages
"""
