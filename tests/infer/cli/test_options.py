"""Options that several commands share are declared once, in imgcheck.infer.cli.options: every command's --device,
--workers, --threads, --quiet, --json and --batch-size is built there, so each name has one type and one spelling,
and --json is a flag everywhere (a file is --out or --metrics)."""

import click
import pytest

from imgcheck.infer.cli import options
from imgcheck.infer.cli.root import cli

SHARED = ("--device", "--workers", "--threads", "--quiet", "--json", "--batch-size")


def _commands() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    return {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}


def _shared_params() -> list[tuple[str, str, click.Parameter]]:
    return [(name, opt, param) for name, command in _commands().items() for param in command.params
            for opt in SHARED if opt in param.opts or opt in param.secondary_opts]


def _cases() -> list:
    return [pytest.param(name, opt, param, id=f"{name} {opt}") for name, opt, param in _shared_params()]


def test_the_walk_sees_every_command_and_the_shared_options():
    assert set(_commands()) == {"info", "export", "scan", "bench", "calibrate", "compare", "import", "ensemble", "train"}
    found = {(name, opt) for name, opt, _ in _shared_params()}
    assert {("scan", "--json"), ("info", "--json"), ("calibrate", "--json"), ("bench", "--json"),
            ("train", "--workers"), ("bench", "--device"), ("train", "--batch-size"), ("import", "--quiet"),
            ("calibrate", "--threads")} <= found


@pytest.mark.parametrize("name, opt, param", _cases())
def test_each_shared_option_is_built_in_options_py(name, opt, param):
    assert isinstance(param, options.SharedOption), f"`imgcheck {name} {opt}` is declared outside options.py"


@pytest.mark.parametrize("name, opt, param", _cases())
def test_json_and_quiet_are_flags_and_numbers_have_one_range(name, opt, param):
    expected_min = {"--workers": 0, "--threads": 1, "--batch-size": 1}
    if opt in ("--json", "--quiet"):
        assert param.is_bool_flag and not param.secondary_opts, f"`imgcheck {name} {opt}` takes a value"
    elif opt in expected_min:
        assert isinstance(param.type, click.IntRange) and param.type.min == expected_min[opt] and param.type.max is None
    else:  # --device: one of auto, cpu, cuda, or (bench) a comma-separated list of cpu and cuda
        assert (tuple(param.type.choices) == options.DEVICES if isinstance(param.type, click.Choice)
                else param.name == "devices" and param.callback is not None)


def test_json_help_says_what_it_prints():
    helps = {name: param.help for name, opt, param in _shared_params() if opt == "--json"}
    assert helps["info"] == "Print the ModelMeta as JSON to stdout instead of a table."
    assert helps["calibrate"] == "Print the calibration record as JSON to stdout."
    assert helps["bench"].startswith("Print the records") and "instead of the table" in helps["bench"]
