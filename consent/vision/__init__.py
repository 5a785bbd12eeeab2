"""Models over pixels: faces (detection, landmarks, encodings), PE kit signals, blurring.

Each model lives in one module and is loaded lazily, once per process, through
:mod:`consent.vision.models`; importing this package loads nothing heavy.

onnxruntime's wheels (1.2x and later) collect usage telemetry on Linux too: on first use they
write a device identifier and a queue of events (the program's path, the machine, each model
session) under ``~/.cache/Microsoft`` to send to Microsoft. A school's photo checker sends
nothing anywhere, so it is switched off here, before any model module can load onnxruntime
(``ORT_DISABLE_TELEMETRY``, read once when onnxruntime starts; an administrator who sets it
to 0 keeps onnxruntime's default).
"""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
