"""benchmarks/harness.py: tables, the command and machine record, the page + JSON writer and the timer."""

import json
import shlex
import time

import pytest

from benchmark_scripts import BENCHMARKS, load_benchmark

harness = load_benchmark("harness")


def test_a_table_has_a_header_a_rule_with_its_alignment_and_one_line_per_row():
    text = harness.table(["model", "images/s"], [["cnn", "1,234"], ["resnet", 56]], align="lr")
    assert text.splitlines() == ["| model | images/s |", "|---|---:|", "| cnn | 1,234 |", "| resnet | 56 |"]


def test_a_table_escapes_pipes_once_and_refuses_a_row_of_the_wrong_width():
    text = harness.table(["max |dp|", r"mean \|dp\|"], [["a|b", "c"]])
    assert text.splitlines()[0] == r"| max \|dp\| | mean \|dp\| |"
    assert text.splitlines()[2] == r"| a\|b | c |"
    with pytest.raises(ValueError, match="2 columns"):
        harness.table(["a", "b"], [["only one"]])


def test_the_command_is_shell_quoted_with_the_script_relative_to_the_repository_root():
    script = str(BENCHMARKS / "scan_limit.py")  # run from anywhere, recorded from the root
    line = harness.command([script, "--model", "name=a file.onnx", "--grid"])
    assert line == "python benchmarks/scan_limit.py --model 'name=a file.onnx' --grid"
    assert shlex.split(line)[3] == "name=a file.onnx"
    assert harness.command(["/elsewhere/x.py", "--a"]) == "python /elsewhere/x.py --a"


def test_the_machine_record_names_the_cpu_python_libraries_and_date():
    machine = harness.machine()
    assert machine["cpu"] and machine["cores"] >= 1 and machine["python"] and len(machine["date"]) == 10
    header = harness.header("python benchmarks/x.py --note 'a `b`'", machine)
    assert header[0] == "Command: `` python benchmarks/x.py --note 'a `b`' ``  "  # a backtick inside stays code
    assert header[1].startswith(f"Machine: {machine['cpu']}; Python {machine['python']}")
    assert header[1].endswith(f"; {machine['date']}.")


def test_a_result_is_a_page_and_a_json_record_side_by_side(tmp_path):
    page = tmp_path / "sub" / "speed.md"
    argv = [str(BENCHMARKS / "speed.py"), "--repeats", "3"]
    text = harness.write_result(page, "Speed", ["Intro.", "", harness.table(["a"], [[1]])], {"rows": [1]}, argv=argv)
    assert page.read_text() == text
    lines = text.splitlines()
    assert lines[:3] == ["# Speed", "", "Command: `python benchmarks/speed.py --repeats 3`  "]
    assert lines[3].startswith("Machine: ") and lines[4:] == ["", "Intro.", "", "| a |", "|---|", "| 1 |"]
    record = json.loads(page.with_suffix(".json").read_text())
    assert list(record) == ["command", "machine", "rows"]
    assert record["command"] == "python benchmarks/speed.py --repeats 3" and record["rows"] == [1]


def test_a_page_without_a_record_writes_no_json(tmp_path):
    harness.write_result(tmp_path / "page.md", "Page", "Body.", argv=["x.py"])
    assert [p.name for p in tmp_path.iterdir()] == ["page.md"]


def test_the_timer_leaves_out_its_warmup_blocks_and_summarises_the_rest():
    timer = harness.Timer(warmup=1)
    for pause in (0.03, 0.0, 0.01, 0.002):
        with timer:
            time.sleep(pause)
    assert len(timer.seconds) == 3 and timer.min < 0.03  # the slow first block was the warm-up
    assert timer.min <= timer.median <= timer.max and timer.last == timer.seconds[-1]
    assert timer.summary() == {"median_s": timer.median, "min_s": timer.min, "max_s": timer.max}
    assert timer.rates(10) == [10 / s for s in timer.seconds]


def test_a_block_that_raises_is_not_timed():
    timer = harness.Timer()
    with pytest.raises(RuntimeError), timer:
        raise RuntimeError
    assert timer.seconds == []


def test_a_named_model_is_split_at_the_first_equals_sign_and_a_spec_without_a_name_or_path_is_a_usage_error():
    import argparse

    assert harness.named_model("int8=runs/a=b.onnx") == ("int8", "runs/a=b.onnx")
    for spec in ("model.onnx", "=model.onnx", "name="):
        with pytest.raises(argparse.ArgumentTypeError, match="NAME=PATH"):
            harness.named_model(spec)
