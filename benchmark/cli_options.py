"""Command-line options and ``--set`` parsing shared by the ``nasbench`` commands and their sub-apps."""

from __future__ import annotations

import typer

from benchmark.errors import NasBenchError

SET = typer.Option([], "--set", help="Override a preset value: KEY=VALUE.")
THREADS = typer.Option(1, "--threads", help="CPU threads; part of the run's configuration (the thread count "
                                            "changes results; docs/reliability.md).")
OVERWRITE = typer.Option(False, "--overwrite",
                         help="Delete the run already in --out (any configuration) and start over.")
IMAGENET_DATA_ROOT = typer.Option(None, "--data-root", help="ImageNet folder holding train/ and val/ "
                                                            "(else <data root>/imagenet).")


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


def run_app(app: typer.Typer) -> int:
    """Run ``app`` and return its exit code, with click's usage errors (unknown option, missing or malformed
    argument) raised as one line like any other bad input: ``NasBenchError(problem, 'see ... --help')``.
    A group called without a command has printed its help already (exit code 2)."""
    import typer.core

    click = getattr(typer.core, "_click", None) or typer.core.click  # typer >= 0.22 vendors click
    try:
        code = app(standalone_mode=False)
    except click.exceptions.UsageError as e:
        if type(e).__name__ == "NoArgsIsHelpError":
            return e.exit_code
        where = e.ctx.command_path if e.ctx is not None else "nasbench"
        raise NasBenchError(" ".join(e.format_message().split()), f"see {where} --help") from None
    except click.exceptions.ClickException as e:
        e.show()
        return e.exit_code
    except typer.Abort:  # click.Abort (typer re-exports it)
        typer.echo("Aborted!", err=True)
        return 1
    return code if isinstance(code, int) and not isinstance(code, bool) else 0
