"""The start page (``/``): what each role can do, and the counts waiting for them.

- ``views.py``: the ``home`` blueprint
- ``templates/home/``: its page
"""
