"""Shared test fixtures: the real photos in CONSENT_FIXTURES (default ../shared/fixtures)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("CONSENT_FIXTURES") or ROOT.parent / "shared" / "fixtures")


def fixture_dir(*parts: str) -> Path:
    """A folder of the shared fixtures, or skip the test with a clear message when absent."""
    path = FIXTURES.joinpath(*parts)
    if not path.is_dir():
        pytest.skip(f"shared fixtures not found at {path} (set CONSENT_FIXTURES)")
    return path


def far_away_group(path: Path, side: int = 220) -> Path:
    """The 24-face group photo (faces/bald_guys.jpg) shrunk to ``side`` px, saved at ``path``:
    at 220 px its faces are about 15-37 px, brow to chin, too small for anyone to recognise."""
    from PIL import Image

    with Image.open(fixture_dir("faces") / "bald_guys.jpg") as im:
        im.thumbnail((side, side), Image.Resampling.LANCZOS)
        im.save(path)
    return path


@pytest.fixture
def fixtures() -> Path:
    return fixture_dir()


def copy_register(src: Path, folder: Path) -> Path:
    """A private copy of the register ``src`` in ``folder``, so a test can change it freely."""
    from consent.register import Register

    copy = folder / "consent.db"
    with Register(src) as reg:
        reg.db.conn.execute(f"VACUUM INTO '{copy}'")
    return copy


@pytest.fixture
def no_models_loaded():
    """Every check model dropped from this process, before and after the test."""
    from consent.vision import centerface, encoder, faces, scene, sface, text

    loaders = {"detector": centerface.session, "recogniser": sface.session, "landmarks": faces._landmarks,
               "encoder": encoder.session, "text": text._engine, "scene": scene.session}

    def forget():
        for loader in loaders.values():
            loader.forget()

    forget()
    yield loaders
    forget()


def models_loaded(loaders) -> set[str]:
    """The names of :func:`no_models_loaded`'s loaders whose model is loaded now."""
    return {name for name, loader in loaders.items() if loader.is_loaded()}


def model_file_error(monkeypatch, module, loader, path: Path, data: bytes) -> str:
    """The one error (``ModelUnavailable``) ``loader``, a model of ``module`` loaded once per
    process, raises when its file is ``data`` (e.g. a damaged copy), written at ``path``."""
    from consent.errors import ModelUnavailable

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)

    monkeypatch.setattr(module, "package_file", lambda package, relpath, what: path)
    loader.forget()
    try:
        with pytest.raises(ModelUnavailable) as err:
            loader()
    finally:
        loader.forget()
    return str(err.value)
