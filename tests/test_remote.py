"""consent.remote: what travels to a machine without the register, and what the main machine
accepts back. Real models on a small synthetic photo (no fixtures needed); the whole path with
real processes and fixture faces is in test_remote_worker.py."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from consent.check import Checker
from consent.images import file_hash
from consent.register import Register
from consent.remote import PixelChecker, RemoteResultRefused, analyse_bytes, config, remember, sign_result
from consent.settings import DEFAULTS, from_mapping

from tests.test_web_check import landscape_jpeg


@pytest.fixture
def register(tmp_path):
    """A register with one person and one (made-up) face template."""
    db = tmp_path / "consent.db"
    rng = np.random.default_rng(15)
    with Register(db, user="test", create=True) as reg:
        person = reg.add_person("Z001", "Zebedee", "Quibble", year_group="6", form="6A")
        reg.record_consent(person, "biometric", "granted")
        reg.add_template(person, rng.normal(0, 0.1, 128), "0" * 64, 1.0)
    return db


def test_what_travels_carries_the_settings_but_nothing_of_the_register(register):
    checker = Checker(register, DEFAULTS, kit_check=False, text_check=False)
    assert checker.view().gallery is not None and len(checker.view().gallery) == 1
    sent = json.dumps(config(checker))
    assert "Zebedee" not in sent and "Quibble" not in sent and "Z001" not in sent
    template = checker.view().gallery.matrix[0]
    assert not any(repr(float(v)) in sent for v in template[:8]), "a face template travels"
    assert from_mapping(json.loads(sent)["settings"]) == DEFAULTS  # the settings arrive whole


def test_a_remote_analysis_is_used_only_for_the_same_bytes_settings_and_version(register, tmp_path):
    photo = tmp_path / "lines.jpg"
    photo.write_bytes(landscape_jpeg())
    main = Checker(register, DEFAULTS, kit_check=False, text_check=False)
    cfg = config(main)
    key = b"k" * 32
    result = sign_result(key, file_hash(photo), analyse_bytes(photo.read_bytes(), ".jpg", cfg))
    assert result["analysis"]["sha256"] == file_hash(photo)
    remember(main, photo, result, key=key)
    assert main.check(photo).timings.get("cached") == 1.0  # the check used the remote analysis

    other = tmp_path / "other.jpg"
    other.write_bytes(landscape_jpeg(with_exif=False))
    # a worker that signs what it analysed: other bytes than the photo's are found out
    with pytest.raises(RemoteResultRefused, match="other bytes"):
        remember(main, other, sign_result(key, file_hash(other), result), key=key)
    with pytest.raises(RemoteResultRefused, match="not signed with this machine's worker key"):
        remember(main, other, result, key=key)  # signed for the photo's own bytes
    stricter = Checker(register, dataclasses.replace(DEFAULTS, match_threshold=0.4), kit_check=False, text_check=False)
    with pytest.raises(RemoteResultRefused, match="other settings or another version"):
        remember(stricter, photo, result, key=key)
    with pytest.raises(RemoteResultRefused, match="other settings or another version"):
        remember(main, photo, sign_result(key, file_hash(photo), {**result, "config": "0" * 20}), key=key)


def test_a_remote_worker_refuses_work_in_a_format_it_cannot_read(register):
    cfg = config(Checker(register, DEFAULTS, kit_check=False, text_check=False))
    with pytest.raises(RemoteResultRefused, match="install the same consent version on both"):
        PixelChecker({**cfg, "wire": 99})
