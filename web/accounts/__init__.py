"""Accounts and users: who may sign in, with which roles.

- ``accounts.py``: accounts, roles, sign-in sessions, API tokens, setup links and sign-in
  throttling (plain functions over their tables; ``web.core.security`` uses them for every request)
- ``auth.py``: the ``auth`` blueprint: sign in, sign out, your own password, the first-admin setup link
- ``users.py``: the ``users`` blueprint (``/admin/users``): accounts, roles and API tokens
- ``templates/accounts/``: their pages

The blueprints are imported by the app factory, not here, so that ``web.core`` can use
``accounts.py`` without loading any page.
"""
