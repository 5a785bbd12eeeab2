"""Models over pixels: faces (detection, landmarks, encodings), PE kit signals, blurring.

Each model lives in one module and is loaded lazily, once per process, through
:mod:`consent.vision.models`; importing this package loads nothing heavy.
"""
