"""The takedown list (admin, comms, ``/takedowns``): photos that went out on a channel and
are no longer ok there.

- ``views.py``: the ``takedowns`` blueprint
- ``listing.py``: ``open_takedowns`` (today's list, also counted on the start page and the
  register's person page)
- ``templates/takedowns/``: its page
"""
