"""Settings: data/settings.toml over the defaults, every key and type checked."""

from __future__ import annotations

import pytest

from consent import settings
from consent.errors import SettingsError


def test_a_file_overrides_the_defaults_and_whole_numbers_count_as_decimals(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("kit_scene_threshold = 1\nkit_context_words = ['Gala']\n")
    loaded = settings.load(path)
    assert loaded.kit_scene_threshold == 1.0
    assert loaded.kit_context_words == ("gala",)


def test_an_unknown_key_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("kit_scene_treshold = 0.3\n")
    with pytest.raises(SettingsError, match=r"settings\.toml: unknown setting 'kit_scene_treshold'"):
        settings.load(path)


def test_a_setting_an_earlier_version_used_is_ignored_with_a_warning(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("kit_surface_share = 0.3\nkit_scene_threshold = 0.25\n")
    with pytest.warns(settings.RetiredSetting, match="kit_surface_share is no longer used"):
        loaded = settings.load(path)
    assert loaded.kit_scene_threshold == 0.25
