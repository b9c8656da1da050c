"""A click Group that imports each command's module only when that command runs.

`imgcheck --help` lists commands from the registry's own one-line help, so listing them imports none
of their modules (and so never torch or scikit-learn).
"""

from __future__ import annotations

import sys
import traceback
from importlib import import_module
from typing import Any, NamedTuple

import click

from imgcheck.infer.errors import ImgcheckError


class LazyCommand(NamedTuple):
    """Where a command lives ("package.module:attribute") and its one-line help."""

    import_path: str
    short_help: str


class LazyGroup(click.Group):
    """Click group whose subcommands are imported on first use; also owns error display."""

    def __init__(self, *args: Any, lazy_commands: dict[str, LazyCommand] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module_name, attribute = self.lazy_commands[cmd_name].import_path.split(":")
            command = getattr(import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module_name}:{attribute} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy_commands:
                rows.append((name, self.lazy_commands[name].short_help))
            else:
                command = self.commands[name]
                if not command.hidden:
                    rows.append((name, command.get_short_help_str(formatter.width)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; unexpected failures become one-line errors unless --debug is on."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.UsageError):
            raise
        except ImgcheckError:
            if ctx.meta.get("imgcheck.debug"):
                traceback.print_exc(file=sys.stderr)
            raise
        except click.ClickException:
            raise
        except Exception as exc:
            if ctx.meta.get("imgcheck.debug"):
                raise
            message = " ".join(str(exc).split()) or "(no message)"
            raise ImgcheckError(
                f"unexpected {type(exc).__name__}: {message}\nRun again with `imgcheck --debug ...` for the traceback, "
                "and report it if it looks like a bug."
            ) from exc
