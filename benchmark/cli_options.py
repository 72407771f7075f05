"""Command groups, options, and ``--set`` and ``--seeds`` parsing shared by the ``nasbench`` commands and
their sub-apps."""

from __future__ import annotations

import re
import sys
from itertools import pairwise
from typing import Any

import typer
import typer.core

from benchmark.errors import NasBenchError
from benchmark.inputs import MAX_SEED


class _Group(typer.core.TyperGroup):
    """Lists each command with the whole first paragraph of its help (click cuts it at the first full stop,
    which in these helps is often an abbreviation: "Figs.", "Sec.")."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, " ".join((cmd.short_help or cmd.help or "").split("\n\n")[0].split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def command_group(help: str, **settings: Any) -> typer.Typer:
    """A ``nasbench`` command group with plain help, like git's or pip's: typer's rich help would list every
    flag with a value type (``--json <bool>``) although a flag takes none."""
    return typer.Typer(cls=_Group, no_args_is_help=True, rich_markup_mode=None, help=help, **settings)


SET = typer.Option([], "--set", help="Override a preset value: KEY=VALUE.")
AS_JSON = typer.Option(False, "--json",
                       help="Print the result as JSON on stdout (messages and progress go to stderr).")
SEED = typer.Option(0, "--seed", help="Seed of the run: initialisation, sampled paths, batch order, "
                                      "augmentation.")
THREADS = typer.Option(1, "--threads", help="CPU threads; part of the run's configuration (the thread count "
                                            "changes results; docs/reliability.md).")
OVERWRITE = typer.Option(False, "--overwrite",
                         help="Delete the run already in --out (any configuration) and start over.")
IMAGENET_DATA_ROOT = typer.Option(None, "--data-root", help="ImageNet folder holding train/ and val/ "
                                                            "(else <data root>/imagenet).")
SEEDS_HELP = ("A count or a list: 3 runs seeds 0,1,2; 0,3,5 runs those seeds (a single seed: 5, with the "
              "comma).")
_SEEDS_FIX = "write a count, e.g. --seeds 3 (seeds 0,1,2), or a list, e.g. --seeds 0,3,5"
_DIGITS = re.compile(r"^[0-9]+$")


def parse_seeds(text: str) -> tuple[int, ...]:
    """``--seeds``: ``"3"`` -> (0, 1, 2), a count N means seeds 0..N-1; ``"0,3,5"`` -> (0, 3, 5), a
    comma-separated list (``"5,"``: seed 5 alone), repeats dropped. Anything else is a one-line error naming
    both forms."""
    from benchmark.harness.config import MAX_SEEDS

    text = text.strip()
    if "," not in text:
        if not _DIGITS.match(text):
            raise NasBenchError(f"--seeds {text!r} is neither a count nor a list of seeds", _SEEDS_FIX)
        count = int(text)
        if count == 0:
            raise NasBenchError("--seeds 0 is a count of no seeds",
                                "for seed 0 alone write --seeds 1 (or --seeds 0, as a list of one seed)")
        if count > MAX_SEEDS:
            raise NasBenchError(f"--seeds {text} asks for {count} seeds",
                                f"give a count up to {MAX_SEEDS}, or list the seeds, e.g. --seeds 0,3,5")
        return tuple(range(count))
    items = [item.strip() for item in text.split(",")]
    if items[-1] == "":
        items.pop()  # "5,": the list of seed 5 alone
    seeds: list[int] = []
    for item in items:
        if not _DIGITS.match(item) or int(item) > MAX_SEED:
            what = "an empty item" if not item else f"{item!r}, which is not a seed (0 to 2^63 - 1)"
            raise NasBenchError(f"--seeds {text!r} holds {what}", _SEEDS_FIX)
        if int(item) not in seeds:
            seeds.append(int(item))
    return tuple(seeds)


def parse_overrides(items: list[str], example: str = "epochs_per_stage=5") -> dict[str, str]:
    """``["lr=0.1", "epochs_per_stage=5"]`` -> dict; a malformed item is a one-line error whose fix shows
    ``--set example``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise NasBenchError(f"--set {item!r} is not KEY=VALUE", f"write e.g. --set {example}")
        out[key.strip()] = value.strip()
    return out


_BOOL_WORDS = ("true", "false", "yes", "no", "on", "off", "1", "0")


def _flag_given_a_value(command: Any, args: list[str]) -> NasBenchError | None:
    """The one-line error for a flag of ``command`` followed by a boolean word in ``args`` (``--json true``),
    which click reports only as an unexpected extra argument; ``None`` when there is none."""
    flags = {opt: p for p in command.params if getattr(p, "is_flag", False)
             for opt in (*p.opts, *p.secondary_opts)}
    for opt, value in pairwise(args):
        if opt in flags and value.lower() in _BOOL_WORDS:
            p = flags[opt]
            fix = (f"write {p.opts[0]} or {p.secondary_opts[0]}" if p.secondary_opts
                   else f"write {opt} alone to turn it on; leave it out to keep it off")
            return NasBenchError(f"{opt} is a flag and takes no value ({opt} {value})", fix)
    return None


def run_app(app: typer.Typer) -> int:
    """Run ``app`` and return its exit code, with click's usage errors (unknown option, missing or malformed
    argument, a flag given a value) raised as one line like any other bad input:
    ``NasBenchError(problem, 'see ... --help')``. A group called without a command prints its help (exit
    code 2)."""
    click = getattr(typer.core, "_click", None) or typer.core.click  # typer >= 0.22 vendors click
    try:
        code = app(standalone_mode=False)
    except click.exceptions.UsageError as e:
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()
            return e.exit_code
        if e.ctx is not None and (flag := _flag_given_a_value(e.ctx.command, sys.argv[1:])) is not None:
            raise flag from None
        where = e.ctx.command_path if e.ctx is not None else "nasbench"
        raise NasBenchError(" ".join(e.format_message().split()), f"see {where} --help") from None
    except click.exceptions.ClickException as e:
        e.show()
        return e.exit_code
    except typer.Abort:  # click.Abort (typer re-exports it)
        typer.echo("Aborted!", err=True)
        return 1
    return code if isinstance(code, int) and not isinstance(code, bool) else 0
