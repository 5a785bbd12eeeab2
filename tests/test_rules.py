"""Each policy rule on its own, over synthetic photo contexts (the pipeline tests use real photos)."""

from __future__ import annotations

from types import SimpleNamespace

from consent.results import Face
from consent.rules import PersonNames, RuleContext, evaluate
from consent.settings import Settings

ZOE = PersonNames(1, "Zoë", "O'Brien")
JACK = PersonNames(2, "Jack", "Smith")
WILL = PersonNames(3, "William", "Jones", preferred="Will")
SIAN = PersonNames(4, "Siân", "Hughes")
MRS_B = PersonNames(9, "Helen", "Brown", role="staff")
ROLL = [ZOE, JACK, WILL, SIAN]


def face(i, person=None, role="pupil", consent=None, height=100, identifiable=True, match=None,
         never_publish=False):
    return Face(
        index=i, box=(0, height, height, 0), height_px=height, identifiable=identifiable,
        match=match or ("matched" if person else ("unknown" if identifiable else "not_identifiable")),
        person_id=person.person_id if person else None, role=role if person else None,
        consent=consent or {}, never_publish=never_publish,
    )


def ctx(faces, channels=("website",), height=2000, pictured=(), **kw):
    return RuleContext(
        faces=list(faces), channels=list(channels), width=3000, height=height,
        pictured={p.person_id: p for p in pictured}, pupils_on_roll=ROLL, **kw,
    )


def codes(reasons):
    return [(r.code, r.severity) for r in reasons]


def granted(*channels):
    return {c: "granted" for c in channels}


def three_cleared():
    return [face(i, p, consent=granted("website")) for i, p in enumerate((ZOE, JACK, SIAN))]


def test_three_cleared_pupils_pass_every_rule():
    assert evaluate(ctx(three_cleared(), pictured=(ZOE, JACK, SIAN))) == []


def test_withdrawn_consent_blocks_only_that_channel():
    faces = three_cleared()
    faces[0].consent = {"website": "granted", "social_media": "withdrawn"}
    faces[1].consent = faces[2].consent = granted("website", "social_media")
    reasons = evaluate(ctx(faces, channels=("website", "social_media"), pictured=(ZOE, JACK, SIAN)))
    assert codes(reasons) == [("no_consent", "block")]
    assert reasons[0].channels == ["social_media"] and reasons[0].faces == [0]
    assert "consent withdrawn" in reasons[0].message


def test_missing_refused_and_expired_consent_are_named():
    faces = [face(0, ZOE, consent={}), face(1, JACK, consent={"website": "refused"}),
             face(2, SIAN, consent={"website": "expired"})]
    (reason,) = evaluate(ctx(faces, pictured=(ZOE, JACK, SIAN)))
    assert reason.message == (
        "3 pupils without consent for website (consent expired, consent refused, no consent recorded)"
    )


def test_staff_need_their_own_consent():
    faces = three_cleared() + [face(3, MRS_B, role="staff", consent={})]
    (reason,) = evaluate(ctx(faces, pictured=(ZOE, JACK, SIAN, MRS_B)))
    assert reason.code == "no_consent" and "1 staff member without consent" in reason.message


def test_never_publish_blocks_every_channel_and_hides_the_reason():
    faces = three_cleared()
    faces[0].never_publish = True
    reasons = evaluate(ctx(faces, pictured=(ZOE, JACK, SIAN), never_publish={1: "court order"}))
    (reason,) = [r for r in reasons if r.code == "never_publish"]
    assert reason.severity == "block" and reason.channels == []
    assert "court order" not in reason.message and "safeguarding lead" in reason.message
    assert "court order" in reason.to_json(admin=True)["admin_detail"]
    assert "admin_detail" not in reason.to_json(admin=False)
    assert "no_consent" not in [r.code for r in reasons]


def test_unknown_face_needs_review_never_cleared():
    faces = three_cleared() + [face(3)]
    assert codes(evaluate(ctx(faces, pictured=(ZOE, JACK, SIAN)))) == [("unrecognised_face", "review")]


def test_ambiguous_match_needs_review():
    faces = three_cleared() + [face(3, match="ambiguous")]
    assert ("ambiguous_match", "review") in codes(evaluate(ctx(faces, pictured=(ZOE, JACK, SIAN))))


def test_close_up_uses_the_configured_share_of_image_height():
    faces = three_cleared()
    faces[0].height_px = 400  # 20% of 2000
    assert ("close_up", "review") in codes(evaluate(ctx(faces, pictured=(ZOE, JACK, SIAN))))
    relaxed = Settings(close_up_face_ratio=0.25)
    assert evaluate(ctx(faces, pictured=(ZOE, JACK, SIAN), settings=relaxed)) == []


def test_a_face_nobody_could_recognise_is_no_close_up_however_much_of_the_frame_it_fills():
    # a 160-px thumbnail: three faces 38 px tall (too small for anyone to recognise) fill 24% of
    # its height; a fourth face, identifiable, 60 px
    faces = [face(i, identifiable=False, height=38) for i in range(3)]
    assert "close_up" not in [c for c, _ in codes(evaluate(ctx(faces, height=160)))]
    faces.append(face(3, height=60))  # identifiable and unknown: a close-up and a face to check
    (close_up,) = [r for r in evaluate(ctx(faces, height=160)) if r.code == "close_up"]
    assert close_up.faces == [3]


def test_one_or_two_pupils_need_review_and_staff_do_not_count():
    two = three_cleared()[:2] + [face(2, MRS_B, role="staff", consent=granted("website"))]
    reasons = evaluate(ctx(two, pictured=(ZOE, JACK, MRS_B)))
    assert codes(reasons) == [("small_group", "review")]
    assert reasons[0].message.startswith("only 2 pupils")


def test_the_group_rule_counts_only_pupils_someone_could_recognise():
    faces = three_cleared()[:2] + [face(2, identifiable=False, height=20)]
    reasons = evaluate(ctx(faces, pictured=(ZOE, JACK)))
    assert codes(reasons) == [("small_group", "review")]
    assert reasons[0].message.startswith("only 2 pupils in the photo could be recognised")
    assert reasons[0].faces == [0, 1]


def test_passers_by_nobody_could_recognise_get_no_group_warning():
    two_strangers = [face(0, identifiable=False, height=11), face(1, identifiable=False, height=9)]
    assert evaluate(ctx(two_strangers)) == []
    assert evaluate(ctx([face(0, identifiable=False, height=20)])) == []


def test_a_recognisable_staff_member_with_tiny_pupils_gets_no_group_warning():
    faces = [face(0, MRS_B, role="staff", consent=granted("website")), face(1, identifiable=False, height=15)]
    assert evaluate(ctx(faces, pictured=(MRS_B,))) == []


def test_no_face_at_all_passes_the_group_rule():
    assert evaluate(ctx([])) == []


def test_caption_naming_a_pictured_pupil_blocks_accents_and_case_ignored():
    for caption in ("Well done zoe!", "ZOE O’BRIEN wins", "Zoë's medal", "Congratulations Ms o'brien"):
        reasons = evaluate(ctx(three_cleared(), pictured=(ZOE, JACK, SIAN), caption=caption))
        assert ("name_in_caption", "block") in codes(reasons), caption


def test_accent_free_spelling_finds_accented_name():
    reasons = evaluate(ctx(three_cleared(), pictured=(ZOE, JACK, SIAN), caption="Sian's painting"))
    assert ("name_in_caption", "block") in codes(reasons)


def test_names_inside_other_words_are_not_names():
    reasons = evaluate(ctx(three_cleared(), pictured=(ZOE, JACK, SIAN),
                           caption="Jackets and smithing at the zoetrope workshop"))
    assert reasons == []


def test_file_name_naming_a_pictured_pupil_blocks():
    reasons = evaluate(ctx(three_cleared(), pictured=(ZOE, JACK, SIAN), file_name="jack_smith-sportsday.jpg"))
    assert ("name_in_caption", "block") in codes(reasons)


def test_ordinary_word_is_an_alarm_only_for_a_pictured_pupil_called_that():
    caption = "Year 6 will perform their play"
    not_pictured = evaluate(ctx(three_cleared(), pictured=(ZOE, JACK, SIAN), caption=caption))
    assert not_pictured == []
    faces = three_cleared()
    faces[2] = face(2, WILL, consent=granted("website"))
    pictured = evaluate(ctx(faces, pictured=(ZOE, JACK, WILL), caption=caption))
    assert ("name_in_caption", "block") in codes(pictured)


def test_caption_naming_a_pupil_on_roll_not_in_the_photo_needs_review():
    faces = [face(i, p, consent=granted("website")) for i, p in enumerate((ZOE, SIAN, WILL))]
    reasons = evaluate(ctx(faces, pictured=(ZOE, SIAN, WILL), caption="Jack Smith took this photo"))
    assert codes(reasons) == [("name_in_caption", "review")]


def test_a_place_in_a_caption_may_be_a_name_until_the_school_lists_it():
    """"Trip to Whitby" names nobody on roll, but "Whitby" could be anyone's surname: review (and
    for staff who may not see names, the words of a pupil's name). Listed among the places the
    school's captions name, it is not taken for a person; a pupil's name still is."""
    pictured = (ZOE, JACK, SIAN)
    assert codes(evaluate(ctx(three_cleared(), pictured=pictured, caption="Trip to Whitby"))) == [
        ("caption_names_someone", "review")]
    known = Settings(caption_known_words=("whitby", "hillside park"))
    for caption in ("Trip to Whitby", "Sports day at Hillside Park"):
        assert evaluate(ctx(three_cleared(), pictured=pictured, caption=caption, settings=known)) == [], caption
    named = evaluate(ctx(three_cleared(), pictured=pictured, caption="Zoe at Whitby", settings=known))
    assert ("name_in_caption", "block") in codes(named)
    # an unlisted name beside a listed place still counts
    assert codes(evaluate(ctx(three_cleared(), pictured=pictured, caption="Joseph Bidden at Whitby",
                              settings=known))) == [("caption_names_someone", "review")]


def test_location_metadata_is_information_only():
    reasons = evaluate(ctx(three_cleared(), pictured=(ZOE, JACK, SIAN), metadata_found=["gps", "camera"]))
    assert codes(reasons) == [("location_metadata", "info")]
    assert "GPS position" in reasons[0].message


def test_kit_assessment_becomes_senior_signoff_reasons():
    kit = SimpleNamespace(pe_kit=True, exposure=False, unknown=False, message="sports scene: racket",
                          suggestion="a shoulders-up crop would avoid this")
    (reason,) = evaluate(ctx(three_cleared(), pictured=(ZOE, JACK, SIAN), kit=kit))
    assert (reason.code, reason.severity, reason.senior_signoff) == ("pe_kit", "review", True)
    kit.exposure = True
    (reason,) = evaluate(ctx(three_cleared(), pictured=(ZOE, JACK, SIAN), kit=kit))
    assert (reason.code, reason.severity) == ("exposure", "block")
    # the check could not run: review, never "no kit"
    kit.unknown, kit.exposure, kit.pe_kit = True, False, False
    kit.message = "the sportswear check could not run (the model file is missing)"
    (reason,) = evaluate(ctx(three_cleared(), pictured=(ZOE, JACK, SIAN), kit=kit))
    assert (reason.code, reason.severity) == ("kit_unknown", "review")
