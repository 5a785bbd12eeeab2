"""What every area of the web app shares: the request's database connection (``db``) and
register (``request_register``), sessions, roles and CSRF (``security``), error pages
(``errors``), request body limits (``body_limits``) and dates and words in plain English
(``words``). Nothing here imports an area's package except ``web.accounts.accounts`` (who a
request's user is)."""
