"""Reports in the words of the pages: the CSV keeps its stable codes in their own columns for
scripts and says the same beside them in words; the HTML report says why in a few words."""

from __future__ import annotations

import csv
import io

from consent import reports, settings
from consent.results import ChannelVerdict, PhotoCheck, Reason
from consent.rules import REASON_CODES


def held_back() -> PhotoCheck:
    reasons = [Reason("unrecognised_face", "review", "1 face is not recognised: check who it is", faces=[0]),
               Reason("unrecognised_face", "review", "1 face is not recognised: check who it is", faces=[1]),
               Reason("close_up", "review", "a close-up of a pupil", faces=[0])]
    return PhotoCheck(path="trip.jpg", name="trip.jpg", channels=["website", "press"], reasons=reasons,
                      verdicts={"website": ChannelVerdict("website", "review", "check who it is"),
                                "press": ChannelVerdict("press", "block", "no consent")}, pupil_count=1)


def rows(results) -> list[dict]:
    return list(csv.DictReader(io.StringIO(reports.render_csv(results, settings.DEFAULTS))))


def test_the_csv_says_each_code_in_words_beside_it():
    row = rows([held_back()])[0]
    assert row["verdict"] == "block" and row["decision"] == "do not publish"
    assert row["website"] == "review" and row["press"] == "block"  # the channels' codes, as before
    assert row["reasons"] == "unrecognised_face | unrecognised_face | close_up"  # stable codes for scripts
    assert row["why"] == "a face not recognised; close-up"  # each said once, in words
    assert "needs sign-off for website" in row["summary"]
    review = PhotoCheck(path="a.jpg", name="a.jpg", reasons=[Reason("small_group", "review", "2 pupils")],
                        verdicts={"website": ChannelVerdict("website", "review")})
    assert rows([review])[0]["decision"] == "needs sign-off"
    failed = rows([PhotoCheck(path="b.jpg", name="b.jpg", error="b.jpg: the file is damaged")])[0]
    assert failed["decision"] == "could not check" and failed["why"] == "" and failed["error"].startswith("b.jpg")


def test_every_reason_code_has_words_for_reports():
    assert set(reports.REASON_WORDS) == set(REASON_CODES)
    assert all("_" not in words for words in reports.REASON_WORDS.values())


def test_the_html_report_says_why_in_words_and_counts_in_plain_plurals():
    page = reports.render_html([held_back()], settings=settings.DEFAULTS)
    assert "Why: a face not recognised; close-up" in page
    assert "1 pupil, 0 faces" in page and "(s)" not in page
