"""The audit log (admin, ``/audit``).

- ``audit_log.py``: the web app's own events (``log_event``, used by every area) and reading them
- ``views.py``: the ``audit`` blueprint: register changes and the web app's events, newest first
- ``templates/audit/``: its page
"""
