"""Verdict CSV escaping: spreadsheet-safe by default, reversible, and a sink that keeps whole rows on failure; the
size and provenance columns, and files written before they existed."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgcheck.infer.scan.verdict_formats import (FIELDS, ClassColumnsMismatch, CsvFormat, JsonlFormat, OutputWriteError,
                                                Row, VerdictSink, escape_formula, unescape_formula)


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "'quoted"])
def test_formula_triggers_and_quotes_get_one_leading_quote(cell):
    assert escape_formula(cell) == "'" + cell
    assert unescape_formula(escape_formula(cell)) == cell


@pytest.mark.parametrize("cell", ["/data/a.png", "photos/=x.png", "", "a-b.png", "not an image format"])
def test_other_cells_are_left_alone(cell):
    assert escape_formula(cell) == cell


@given(st.text())
def test_escaping_is_reversible_for_any_text(cell):
    assert unescape_formula(escape_formula(cell)) == cell


@given(st.lists(st.tuples(st.text(min_size=1), st.one_of(st.none(), st.floats(0, 1)), st.text(),
                          st.integers(1, 10 ** 6), st.integers(1, 10 ** 6)), max_size=5))
def test_rows_round_trip_in_every_format(records):
    rows = [Row(path, None, "ERROR", text) if p is None else Row(path, round(p, 6), "FAKE", "", w, h, text)
            for path, p, text, w, h in records]
    for fmt in (CsvFormat(True), CsvFormat(False), JsonlFormat()):
        assert fmt.decode(fmt.header() + fmt.encode(rows)) == rows


def test_escaped_cells_reach_the_file_and_raw_mode_writes_them_as_they_are():
    row = Row("=HYPERLINK(\"http://x\")", None, "ERROR", "-not an image")
    assert CsvFormat().encode([row]) == "\"'=HYPERLINK(\"\"http://x\"\")\",,ERROR,'-not an image,,,,\n"
    assert CsvFormat(False).encode([row]) == "\"=HYPERLINK(\"\"http://x\"\")\",,ERROR,-not an image,,,,\n"


def test_size_and_provenance_columns():
    row = Row("a.png", 0.25, "REAL", "", 640, 480, "png:ai-generated(ComfyUI);exif:camera(Canon EOS R5)")
    assert CsvFormat().header() == ",".join(FIELDS) + "\n" == ("path,p_fake,verdict,error,width,height,provenance,"
                                                              "domain\n")
    found = "png:ai-generated(ComfyUI);exif:camera(Canon EOS R5)"
    assert CsvFormat().encode([row]) == f"a.png,0.250000,REAL,,640,480,{found},\n"
    assert JsonlFormat().encode([row]) == ('{"path": "a.png", "p_fake": 0.25, "verdict": "REAL", "error": "", '
                                           f'"width": 640, "height": 480, "provenance": "{found}", "domain": null}}\n')


def test_files_written_before_the_new_columns_are_read_back_for_resume():
    old_csv = "path,p_fake,verdict,error\na.png,0.250000,REAL,\nb.png,,ERROR,empty file (0 bytes)\n"
    assert CsvFormat().decode(old_csv) == [Row("a.png", 0.25, "REAL"),
                                           Row("b.png", None, "ERROR", "empty file (0 bytes)")]
    old_jsonl = '{"path": "a.png", "p_fake": 0.25, "verdict": "REAL", "error": ""}\n'
    assert JsonlFormat().decode(old_jsonl) == [Row("a.png", 0.25, "REAL")]
    with pytest.raises(ValueError, match="damaged"):  # a short row in an eight-column file is damage, not old
        CsvFormat().decode(CsvFormat().header() + "a.png,0.250000,REAL,\nb.png,0.5,FAKE,,1,1,,ok\n")


class _FillsUp(io.BytesIO):
    """A stream that accepts `room` bytes, then fails like a full disk (after a partial write)."""

    def __init__(self, room):
        super().__init__()
        self.room = room

    def write(self, data):
        if self.tell() + len(data) > self.room:
            super().write(bytes(data[: self.room - self.tell()]))
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_a_failed_write_cuts_the_output_back_to_its_last_complete_row():
    fmt, stream = CsvFormat(), _FillsUp(room=200)
    sink = VerdictSink(stream, fmt)
    sink.write_text(fmt.header())
    batch = [Row(f"/photos/{i:03d}.jpg", 0.25, "REAL") for i in range(3)]
    sink.write(batch)
    with pytest.raises(OutputWriteError) as failure:
        for _ in range(10):
            sink.write(batch)
    assert failure.value.rows_kept == sink.rows and sink.rows % 3 == 0 and sink.rows >= 3
    text = stream.getvalue().decode()
    assert text.endswith("\n") and len(fmt.decode(text)) == sink.rows


NAMES = ("REAL", "sd,v1.5", "=mj", 'da"lle', "new\nline")
KEPT = [Row("a.png", 0.75, "FAKE", "", 4, 4, "", dict(zip(NAMES, (0.25, 0.5, 0.125, 0.0625, 0.0625)))),
        Row("b.png", None, "ERROR", "empty file (0 bytes)")]


def test_class_columns_follow_the_eight_with_safe_names():
    fmt = CsvFormat(class_names=NAMES)
    assert fmt.header() == ('path,p_fake,verdict,error,width,height,provenance,domain,p:REAL,"p:sd,v1.5",p:=mj,'
                            '"p:da""lle","p:new\nline"\n')
    assert fmt.encode(KEPT) == ("a.png,0.750000,FAKE,,4,4,,,0.250000,0.500000,0.125000,0.062500,0.062500\n"
                                "b.png,,ERROR,empty file (0 bytes),,,,,,,,,\n")
    assert JsonlFormat(class_names=NAMES).encode(KEPT[:1]) == (
        '{"path": "a.png", "p_fake": 0.75, "verdict": "FAKE", "error": "", "width": 4, "height": 4, "provenance": '
        '"", "domain": null, "classes": {"REAL": 0.25, "sd,v1.5": 0.5, "=mj": 0.125, "da\\"lle": 0.0625, '
        '"new\\nline": 0.0625}}\n')
    assert JsonlFormat(class_names=NAMES).encode(KEPT[1:]).endswith('"domain": null, "classes": null}\n')


@given(st.lists(st.tuples(st.text(min_size=1), st.one_of(st.none(), st.lists(st.floats(0, 1), min_size=3,
                                                                             max_size=3))), max_size=5))
def test_rows_with_classes_round_trip_in_every_format(records):
    names = ("REAL", "a,b", "=c")
    rows = [Row(path, None, "ERROR", "x") if p is None
            else Row(path, round(sum(p[1:]), 6), "FAKE", "", 1, 1, "", {n: round(v, 6) for n, v in zip(names, p)})
            for path, p in records]
    for fmt in (CsvFormat(True, names), CsvFormat(False, names), JsonlFormat(False, names)):
        assert fmt.decode(fmt.header() + fmt.encode(rows)) == rows


@pytest.mark.parametrize("fmt", [CsvFormat(), JsonlFormat()])
def test_a_file_with_other_class_columns_is_refused(fmt):
    kept = type(fmt)(fmt.formula_escape, NAMES)
    with_classes, without = kept.header() + kept.encode(KEPT), fmt.header() + fmt.encode(KEPT)
    with pytest.raises(ClassColumnsMismatch, match="it was scanned with --keep-classes"):
        fmt.decode(with_classes)
    with pytest.raises(ClassColumnsMismatch, match="carry no per-class probabilities; drop --keep-classes"):
        kept.decode(without)
    other = type(fmt)(fmt.formula_escape, ("REAL", "FAKE"))
    with pytest.raises(ClassColumnsMismatch) as mismatch:
        other.decode(with_classes)
    assert str(mismatch.value) == ("its per-class probabilities are of the classes 'REAL', 'sd,v1.5', '=mj', "
                                   "'da\"lle', 'new\\nline', and this model's are 'REAL', 'FAKE'; use the model that "
                                   "wrote it to finish it")  # one line, whatever the names hold
    assert kept.decode(with_classes) == KEPT


def test_a_row_whose_class_cells_do_not_fit_its_verdict_is_damage():
    fmt = CsvFormat(class_names=("REAL", "FAKE"))
    for bad in ("a.png,0.5,FAKE,,1,1,,ok,,\n", "b.png,,ERROR,x,,,,,0.5,0.5\n", "c.png,0.5,FAKE,,1,1,,ok,0.5,\n"):
        with pytest.raises(ValueError, match="damaged"):
            fmt.decode(fmt.header() + bad + "d.png,0.5,FAKE,,1,1,,ok,0.500000,0.500000\n")
