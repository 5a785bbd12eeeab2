"""The settings page (admin, ``/admin/settings``).

- ``views.py``: the ``settings`` blueprint; ``reload_if_changed`` picks up a changed
  ``settings.toml`` on each request
- ``templates/settings/``: its page
"""
