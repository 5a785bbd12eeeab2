"""The consent register (admin, ``/register``): people, consent, MIS import, enrolment,
never-publish, withdrawals and the leavers' purge.

- ``views.py``: the ``register`` blueprint; every change goes through ``consent.register``
- ``templates/register/``: its pages and the partials only they use
"""
