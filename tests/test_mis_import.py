"""MIS CSV import: messy real-world exports written by the tests, with exact per-row outcomes."""

from __future__ import annotations

import codecs
import datetime as dt

import pytest

from consent.errors import ImportRefused
from consent.register.mis import import_csv, parse_consent, parse_date, read_table
from consent.register import Register

TODAY = dt.date.today()

HEADER = ("UPN,Adno,Legal Surname,Legal Forename,Preferred Forename,Year,Reg Group,"
          "Date of Leaving,DOB,Website,Social Media,Newsletter,Press,Biometric")

#: a SIMS-style export as Excel saves "CSV UTF-8": BOM, CRLF, quoted commas, the works
SIMS_ROWS = [
    "A123456789012,001234,O'Brien,Zoë,,Year 7,7B,,14/03/2013,Yes,No,Y,,Yes",        # 2 added
    "B123456789012,001235,Jones,Siân,Sian,Year 8,8C,,02/11/2012,y,,,N,",            # 3 added
    'C123456789012,001236,"Smith, Jr",Tom,,7,7B,,01/01/2013,True,False,,,',         # 4 added
    "A123456789012,001234,O'Brien,Zoë,,Year 7,7B,,14/03/2013,Yes,No,Y,,Yes",        # 5 repeat of 2
    "D123456789012,001237,Patel,Priya,,7,7A,,05/05/2013,Yes,Yes,Yes,Yes,",          # 6 conflict
    "D123456789012,001237,Patel,Priya,,7,7C,,05/05/2013,Yes,Yes,Yes,Yes,",          # 7 conflict
    ",,Nobody,Noah,,7,7A,,05/05/2013,Yes,,,,",                                      # 8 no id
    "E123456789012,001238,Evans,Ella,,9,9B,,05/05/2011,Maybe,,,,",                  # 9 bad consent
    ",,,,,,,,,,,,,",                                                                # 10 blank
    "F123456789012,001239,Frost,Finn,,10,10A,31/02/2024,05/05/2010,,,,,",           # 11 bad date
    "G123456789012,001240,Green,Gina,,11,11A,45474,05/05/2009,Yes,,,,",             # 12 left (Excel)
    "H123456789012,001241,Smith, Jr,Harry,,8,8A,,05/05/2012,Yes,,,,",              # 13 extra cell
]


def write(path, lines, encoding="utf-8-sig", newline="\r\n"):
    path.write_bytes(newline.join(lines + [""]).encode(encoding))
    return path


@pytest.fixture
def reg(tmp_path):
    with Register(tmp_path / "consent.db", user="office1") as r:
        yield r


@pytest.fixture
def sims(tmp_path):
    return write(tmp_path / "sims.csv", [HEADER] + SIMS_ROWS)


def outcomes(result):
    return [(r.line, r.mis_id, r.outcome) for r in result.rows]


def test_messy_sims_export_gives_exact_outcome_per_row(reg, sims):
    result = import_csv(reg, sims)
    assert result.encoding == "utf-8-sig"
    assert outcomes(result) == [
        (2, "A123456789012", "added"),
        (3, "B123456789012", "added"),
        (4, "C123456789012", "added"),
        (5, "A123456789012", "rejected"),
        (6, "D123456789012", "rejected"),
        (7, "D123456789012", "rejected"),
        (8, None, "rejected"),
        (9, "E123456789012", "rejected"),
        (11, "F123456789012", "rejected"),
        (12, "G123456789012", "added"),
        (13, "H123456789012", "rejected"),
    ]
    reasons = dict(result.rejected)
    assert reasons[5] == "repeats line 2 (same MIS id and details); imported once"
    assert "also on line 7 with different details" in reasons[6]
    assert "also on line 6 with different details" in reasons[7]
    assert reasons[8].startswith("no MIS id")
    assert reasons[9] == "Website consent 'Maybe' is not Yes or No (or blank for no change)"
    assert reasons[11] == "date of leaving '31/02/2024' is not a date; use DD/MM/YYYY"
    assert "15 cells but the header has 14" in reasons[13]
    assert result.blank_lines == [10]
    assert (result.added, result.updated, result.unchanged) == (4, 0, 0)
    assert len(result.rejected) == 7
    assert result.ignored_columns == ["Adno", "DOB"]


def test_imported_people_carry_accents_apostrophes_and_quoted_commas(reg, sims):
    import_csv(reg, sims)
    zoe = reg.find_person("A123456789012")
    assert (zoe.legal_forename, zoe.legal_surname, zoe.year_group, zoe.form) == (
        "Zoë", "O'Brien", "7", "7B")
    sian = reg.find_person("B123456789012")
    assert sian.display_name == "Sian Jones" and sian.legal_forename == "Siân"
    assert reg.find_person("C123456789012").legal_surname == "Smith, Jr"
    gina = reg.find_person("G123456789012")
    assert gina.left_on == dt.date(2024, 7, 1) and not gina.on_roll()


def test_imported_consent_per_channel_with_blank_cells_left_missing(reg, sims):
    import_csv(reg, sims)
    zoe = reg.find_person("A123456789012")
    states = {c: s.status for c, s in reg.consent_states(zoe.id, include_biometric=True).items()}
    assert states == {"website": "granted", "social_media": "refused", "newsletter": "granted",
                      "press": "missing", "biometric": "granted"}
    sian = reg.find_person("B123456789012")
    assert reg.consent_state(sian.id, "press").status == "refused"
    assert reg.consent_state(sian.id, "social_media").status == "missing"
    record = reg.consent_history(zoe.id, "website")[0]
    assert record.source == "MIS import" and record.note == "line 2 of the MIS import"


def test_dry_run_reports_the_same_and_writes_nothing(reg, sims):
    dry = import_csv(reg, sims, dry_run=True)
    assert reg.people() == [] and reg.version() == 0 and reg.audit() == []
    real = import_csv(reg, sims)
    assert outcomes(dry) == outcomes(real)
    assert dry.rejected == real.rejected
    assert [c.__dict__ for c in dry.consent_changes] == [c.__dict__ for c in real.consent_changes]
    assert dry.summary().startswith("4 would be added")


def test_reimport_with_blank_cells_changes_no_consent(reg, sims, tmp_path):
    import_csv(reg, sims)
    version = reg.version()
    again = write(tmp_path / "again.csv", [
        HEADER,
        "A123456789012,001234,O'Brien,Zoë,,Year 7,7B,,14/03/2013,,,,,",
        "B123456789012,001235,Jones,Siân,Sian,Year 8,8C,,02/11/2012,y,,,N,",
    ])
    result = import_csv(reg, again)
    assert outcomes(result) == [(2, "A123456789012", "unchanged"),
                                (3, "B123456789012", "unchanged")]
    assert result.consent_changes == [] and reg.version() == version
    zoe = reg.find_person("A123456789012")
    assert reg.consent_state(zoe.id, "website").granted


def test_reimport_records_withdrawal_grant_and_detail_changes(reg, sims, tmp_path):
    import_csv(reg, sims)
    change = write(tmp_path / "change.csv", [
        HEADER,
        # form changed; social media now Yes; newsletter now No (was Yes: a withdrawal)
        "A123456789012,001234,O'Brien,Zoë,,Year 7,7C,,14/03/2013,,Yes,No,,",
    ])
    result = import_csv(reg, change)
    (row,) = result.rows
    assert row.outcome == "updated" and row.changes == {"form": ("7B", "7C")}
    assert [(c.channel, c.before, c.after) for c in row.consent] == [
        ("social_media", "refused", "granted"), ("newsletter", "granted", "withdrawn")]
    zoe = reg.find_person("A123456789012")
    assert reg.consent_state(zoe.id, "newsletter").status == "withdrawn"
    assert [w[1].channel for w in reg.withdrawals(TODAY)] == ["newsletter"]
    assert result.not_in_file == ["B123456789012", "C123456789012"]


def test_windows_1252_export_with_accents_and_curly_apostrophes(reg, tmp_path):
    lines = [
        "Adno,Surname,Forename,Year Group,Registration Group,Date of Leaving,Website Consent,"
        "Photo consent - Social Media",
        "1001,O\u2019Brien,Zoë,7,7B,,Y,N",
        "1002,Llewellyn,Siân,8,8C,20/07/2024,Yes,",
        "1003,D'Arcy,Chloé,R,Robins,,,",
    ]
    path = write(tmp_path / "cp1252.csv", lines, encoding="cp1252")
    assert b"\x92" in path.read_bytes()  # the curly apostrophe, as Excel writes it
    result = import_csv(reg, path)
    assert result.encoding == "cp1252"
    assert outcomes(result) == [(2, "1001", "added"), (3, "1002", "added"), (4, "1003", "added")]
    assert result.columns["Photo consent - Social Media"] == "consent:social_media"
    assert reg.find_person("1001").legal_surname == "O\u2019Brien"
    assert reg.find_person("zoe obrien").mis_id == "1001"
    sian = reg.find_person("1002")
    assert sian.legal_forename == "Siân" and sian.left_on == dt.date(2024, 7, 20)
    chloe = reg.find_person("Chloé D'Arcy")
    assert chloe.year_group == "R" and chloe.form == "Robins"
    assert reg.consent_state(reg.find_person("1001").id, "social_media").status == "refused"


def test_unicode_text_export_tab_separated_utf16(reg, tmp_path):
    path = tmp_path / "unicode.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + "UPN\tSurname\tForename\r\nA1\tNí Bhriain\tAoife\r\n"
                     .encode("utf-16-le"))
    result = import_csv(reg, path)
    assert result.encoding == "utf-16" and result.added == 1
    assert reg.find_person("A1").legal_surname == "Ní Bhriain"


def test_consent_only_export_updates_known_people_and_rejects_unknown(reg, sims, tmp_path):
    import_csv(reg, sims)
    partial = write(tmp_path / "consent-only.csv", [
        "UPN,Press", "A123456789012,Yes", "Z999999999999,Yes"])
    result = import_csv(reg, partial)
    assert outcomes(result) == [(2, "A123456789012", "updated"), (3, "Z999999999999", "rejected")]
    assert "new to the register but the row has no first name and surname" in result.rejected[0][1]
    zoe = reg.find_person("A123456789012")
    assert reg.consent_state(zoe.id, "press").granted and zoe.legal_forename == "Zoë"


def test_missing_mis_id_column_refuses_the_file(reg, tmp_path):
    path = write(tmp_path / "noid.csv", ["Surname,Forename", "Lee,Ann"])
    with pytest.raises(ImportRefused, match="no column for the MIS id.*--map"):
        import_csv(reg, path)


def test_map_option_reads_unusual_headers(reg, tmp_path):
    path = write(tmp_path / "odd.csv", ["Pupil Ref,Family Name,Given,Web OK,Notes",
                                        "P1,Lee,Ann,yes,likes art"])
    result = import_csv(reg, path, mapping={"pupil ref": "mis_id", "Given": "legal_forename",
                                             "Web OK": "website", "Notes": "ignore"})
    assert result.added == 1 and result.ignored_columns == ["Notes"]
    ann = reg.find_person("P1")
    assert ann.display_name == "Ann Lee" and reg.consent_state(ann.id, "website").granted
    with pytest.raises(ImportRefused, match="no column 'Nope'"):
        import_csv(reg, path, mapping={"Nope": "mis_id"})
    with pytest.raises(ImportRefused, match="'shoe_size' is not a field"):
        import_csv(reg, path, mapping={"Given": "shoe_size"})


def test_school_channel_column_is_read(reg, tmp_path):
    reg.add_channel("prospectus")
    path = write(tmp_path / "p.csv", ["UPN,Surname,Forename,Prospectus", "A1,Lee,Ann,Yes"])
    import_csv(reg, path)
    assert reg.consent_state(reg.find_person("A1").id, "prospectus").granted


def test_consent_until_sets_expiry_of_imported_grants(reg, tmp_path):
    path = write(tmp_path / "p.csv", ["UPN,Surname,Forename,Website,Press",
                                      "A1,Lee,Ann,Yes,No"])
    end = TODAY + dt.timedelta(days=200)
    import_csv(reg, path, consent_until=end)
    ann = reg.find_person("A1")
    assert reg.consent_state(ann.id, "website").until == end
    assert reg.consent_state(ann.id, "press").until is None


def test_staff_import_and_role_mismatch(reg, sims, tmp_path):
    import_csv(reg, sims)
    staff = write(tmp_path / "staff.csv", ["Staff Code,Surname,Forename,Website",
                                           "TJO,Jones,Tom,Yes", "A123456789012,O'Brien,Zoë,Yes"])
    result = import_csv(reg, staff, staff=True)
    assert outcomes(result) == [(2, "TJO", "added"), (3, "A123456789012", "rejected")]
    assert "is a pupil in the register, not staff" in result.rejected[0][1]
    assert reg.find_person("TJO").role == "staff"


def test_biometric_no_on_reimport_deletes_templates(reg, sims, tmp_path):
    import numpy as np

    import_csv(reg, sims)
    zoe = reg.find_person("A123456789012")
    reg.add_template(zoe, np.full(128, 0.05), "sha", 0.9)
    write(tmp_path / "bio.csv", ["UPN,Biometric", "A123456789012,No"])
    result = import_csv(reg, tmp_path / "bio.csv")
    assert [(c.channel, c.after) for c in result.consent_changes] == [("biometric", "withdrawn")]
    assert reg.templates(zoe.id) == [] and not reg.enrolled(zoe.id)


def test_whole_import_is_audited(reg, sims):
    import_csv(reg, sims, by="office2")
    last = reg.audit()[-1]
    assert last.action == "import" and last.by == "office2"
    assert last.after["added"] == 4 and last.after["rejected"] == 7


def test_excel_workbook_is_refused_with_what_to_do(reg, tmp_path):
    path = tmp_path / "pupils.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(ImportRefused, match="Excel workbook.*CSV UTF-8"):
        import_csv(reg, path)


def test_missing_file_is_a_clear_error(reg, tmp_path):
    with pytest.raises(ImportRefused, match="file not found"):
        import_csv(reg, tmp_path / "nope.csv")


@pytest.mark.parametrize("text, expected", [
    ("01/07/2024", dt.date(2024, 7, 1)),
    ("1/7/24", dt.date(2024, 7, 1)),
    ("2024-07-01", dt.date(2024, 7, 1)),
    ("2024-07-01T00:00:00", dt.date(2024, 7, 1)),
    ("01/07/2024 00:00:00", dt.date(2024, 7, 1)),
    ("01-07-2024", dt.date(2024, 7, 1)),
    ("01.07.2024", dt.date(2024, 7, 1)),
    ("1 Jul 2024", dt.date(2024, 7, 1)),
    ("01-July-2024", dt.date(2024, 7, 1)),
    ("45474", dt.date(2024, 7, 1)),
    ("45474.0", dt.date(2024, 7, 1)),
    ("31/02/2024", None),
    ("7", None),
    ("next week", None),
    ("", None),
])
def test_excel_and_mis_date_formats(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Yes", "granted"), ("Y", "granted"), ("TRUE", "granted"), ("1", "granted"),
    ("No", "refused"), ("n", "refused"), ("False", "refused"), ("0", "refused"),
    ("Withdrawn", "withdrawn"), ("", None), ("  ", None),
])
def test_consent_cell_values(text, expected):
    assert parse_consent(text) == expected


def test_semicolon_separated_export_is_read(tmp_path):
    path = write(tmp_path / "semi.csv", ["UPN;Surname;Forename", "A1;Lee;Ann"])
    table = read_table(path)
    assert table.delimiter == ";" and table.rows == [(2, ["A1", "Lee", "Ann"])]


def test_an_import_on_a_full_disk_is_refused_plainly_and_changes_nothing(reg, tmp_path):
    from consent.errors import RegisterFull

    rows = [f"P{i:012d},{i},Pupil{i},Name{i},,7,7A,,05/05/2013,Yes,Yes,Yes,Yes," for i in range(3000)]
    big = write(tmp_path / "big.csv", [HEADER] + rows)
    before = reg.db["people"].count
    pages = reg.db.execute("PRAGMA page_count").fetchone()[0]
    # SQLite's own "database or disk is full", as a full disk gives it
    reg.db.execute(f"PRAGMA max_page_count = {pages + 5}")
    with pytest.raises(RegisterFull, match="disk is full") as refused:
        import_csv(reg, big)
    assert "free some space" in str(refused.value)
    assert reg.db["people"].count == before
