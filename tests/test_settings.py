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


def test_every_setting_declares_its_range_and_reason_and_the_defaults_are_inside_and_weaken_nothing():
    for name, limit in settings.limits().items():
        assert limit.why, name
        default = getattr(settings.DEFAULTS, name)
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            assert limit.lo is not None and limit.lo <= default <= limit.hi, name
    assert settings.problems(settings.DEFAULTS) == []
    assert settings.weakened(settings.DEFAULTS) == []


@pytest.mark.parametrize("line, named, why", [
    ("min_identifiable_face_px = 100000", "min_identifiable_face_px", "between 10 and 80 px"),
    ("detect_side = 0", "detect_side", "between 1280 and 4096 px"),
    ("detect_threshold = 1.5", "detect_threshold", "between 0.1 and 0.6"),
    ("match_threshold = 0.95", "match_threshold", "between 0.3 and 0.85"),
    ("min_group_size = 0", "min_group_size", "between 1 and 10"),
])
def test_a_setting_outside_its_safe_range_is_refused_with_why(tmp_path, line, named, why):
    path = tmp_path / "settings.toml"
    path.write_text(line + "\n")
    with pytest.raises(SettingsError, match=rf"settings\.toml: {named} must be {why}.*: \w+"):
        settings.load(path)


def test_a_match_threshold_looser_than_the_look_alike_band_is_refused(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("match_threshold = 0.84\nmatch_lookalike_threshold = 0.82\n")
    with pytest.raises(SettingsError, match="match_threshold must be below match lookalike threshold"):
        settings.load(path)


def test_a_value_inside_the_range_that_weakens_a_check_is_allowed_and_said(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("min_identifiable_face_px = 60\ndetect_side = 1400\ntext_check = false\n"
                    "detect_coarse_side = 0\nmin_group_size = 4\ndetect_threshold = 0.30\n")
    loaded = settings.load(path)
    assert [w.name for w in settings.weakened(loaded)] == [
        "detect_side", "detect_coarse_side", "min_identifiable_face_px", "text_check"]  # stricter ones are not
    assert settings.weakened_words(loaded) == (
        "checks weakened: Size faces are looked for at: 1400 px (default 1600 px); Close-up pass size: off (default 640 px); "
        "Smallest face anyone could recognise: 60 px (default 40 px); Read names written in a photo: off (default on)")


def test_taking_default_sports_words_out_weakens_the_kit_check_adding_one_does_not():
    fewer = settings.from_mapping({"kit_context_words": ["pe", "gala"]})
    more = settings.from_mapping({"kit_context_words": list(settings.DEFAULTS.kit_context_words) + ["sack race"]})
    assert settings.weakened_words(fewer).startswith("checks weakened: PE and sport words: without p.e., sport,")
    assert settings.weakened(more) == []


def test_consent_settings_prints_what_is_weakened_and_refuses_a_file_out_of_range(tmp_path):
    from click.testing import CliRunner

    from consent.cli.misc import settings_command

    path = tmp_path / "settings.toml"
    path.write_text("min_identifiable_face_px = 60\n")
    out = CliRunner().invoke(settings_command, ["--file", str(path)]).output
    assert "checks weakened: Smallest face anyone could recognise: 60 px (default 40 px)" in out
    assert "min_identifiable_face_px" in out and "(changed; weakens a check)" in out
    path.write_text("min_identifiable_face_px = 100000\n")
    bad = CliRunner().invoke(settings_command, ["--file", str(path)])
    assert bad.exit_code != 0 and "must be between 10 and 80 px" in bad.output


def test_every_report_footer_says_which_checks_were_weakened(tmp_path, monkeypatch):
    import csv
    import io

    from consent import reports
    from consent.results import PhotoCheck

    results = [PhotoCheck(path="a.jpg", name="a.jpg", error="could not read")]
    weak = settings.from_mapping({"min_identifiable_face_px": 60, "text_check_batch": False})
    words = "Checks weakened: Smallest face anyone could recognise: 60 px (default 40 px); Read names in photos in command-line batches: off (default on)"
    rows = list(csv.reader(io.StringIO(reports.render_csv(results, weak))))
    assert rows[-2:] == [[], [words]]
    assert words in reports.render_html(results, settings=weak)
    assert "Checks weakened" not in reports.render_html(results, settings=settings.DEFAULTS)
    assert list(csv.reader(io.StringIO(reports.render_csv(results, settings.DEFAULTS))))[-1][0] == "a.jpg"
    (tmp_path / "settings.toml").write_text("min_identifiable_face_px = 60\n")  # by default, those in force
    monkeypatch.setenv("CONSENT_DATA", str(tmp_path))
    assert "Smallest face anyone could recognise: 60 px" in reports.write_csv(results, tmp_path / "r.csv").read_text("utf-8-sig")


def test_every_setting_has_a_group_a_title_and_one_plain_line_for_the_settings_page():
    import dataclasses

    names = [f.name for f in dataclasses.fields(settings.Settings)]
    assert set(settings.ABOUT) == set(names)  # a new setting is placed on the page when it is added
    for name in names:
        about = settings.about(name)
        assert about.group in settings.GROUPS, name
        for words in (about.title, about.help, about.figure):
            assert "_" not in words and "\n" not in words, (name, words)  # the page's words, not the code's
        assert len(about.help) <= 110, (name, about.help)  # one line
    # what a school decides is in view; how the models measure is folded away as Expert
    assert not settings.about("min_group_size").expert and settings.about("match_threshold").expert
    assert "270,000 pairs" in settings.about("match_threshold").figure
