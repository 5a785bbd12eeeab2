"""Checking one photo (office, ``/check``; scripts: ``/api/check``).

- ``views.py``: the ``check`` blueprint: upload, the result page, preview, downloads, "published"
- ``api.py``: the ``api`` blueprint: ``POST /api/check`` with an API token, JSON out
- ``checked_photos.py``: a checked photo as the web app keeps it (a ``web_checks`` row and a
  private folder); ``get`` judges any stored check again, for every area that shows one
- ``result_cards.py``: a stored check as a page shows it, filtered by the viewer's role, and
  ``status``, the one headline and badge every page and list shows
- ``caption_probes.py``: captions tried by roles that may not see names, limited and audited
- ``templates/check/``: its pages (the result card itself, ``_result.html``, is shared:
  ``web/templates/``)
"""
