"""consent: check school photos against the consent register before publication.

Importing this package is cheap: the face models load on first use inside
:mod:`consent.vision.faces`, once per process.
"""

__version__ = "0.1.0"
