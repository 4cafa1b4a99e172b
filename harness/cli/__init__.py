"""The `harness` console command.

Each subcommand lives in its own module under harness/cli and is imported only
when used, so a broken optional dependency of one command cannot break another.
Every HarnessError becomes one line on stderr and its exit code.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from harness.errors import ExitCode, HarnessError

# name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "aout": ("harness.cli.aout_cmd", "aout", "What exec would do with an a.out file."),
    "model": ("harness.cli.model_cmd", "model", "Run scenarios on the golden model only."),
    "compile": ("harness.cli.model_cmd", "compile_cmd", "Compile scenarios to the program format."),
    "diff": ("harness.cli.diff_cmd", "diff", "Diff two traces: first divergence first."),
    "run": ("harness.cli.run_cmd", "run", "Scenarios through model and guest, diffed."),
    "profiles": ("harness.cli.model_cmd", "profiles", "List kernel semantic profiles and arches."),
    "merge": ("harness.cli.merge_cmd", "merge", "Shard results of one run into one summary, JUnit and HTML report."),
    "images": ("harness.cli.images_cmd", "images_cmd", "Kernel manifests: list, fetch and check by sha256."),
    "bisect": ("harness.cli.bisect_cmd", "bisect", "The commit of a 9front tree that changed a behaviour."),
    "explain": ("harness.cli.explain_cmd", "explain", "Which profile switch makes the model reproduce a guest trace."),
    "nightly": ("harness.cli.nightly_cmd", "nightly", "A matrix of kernels: JUnit, one HTML report, baseline, history."),
    "coverage": ("harness.cli.coverage_cmd", "coverage", "Which kernel rule sites of the model the scenarios reach."),
    "fuzz": ("harness.cli.fuzz_cmd", "fuzz", "Generated programs on model and guest; divergences minimised to scenarios."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(spec[0])
        cmd = getattr(module, spec[1])
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="nine-harness")
def cli() -> None:
    """nine-harness: run 9front system-call scenarios on a golden model and on real kernels under QEMU, and diff them."""


def main(argv: list[str] | None = None) -> int:
    from harness.interrupt import install

    restore = install()  # SIGINT, SIGTERM, SIGHUP: unwind (VMs killed, summary written), exit 128+N
    try:
        return _main(argv)
    finally:
        restore()


def _main(argv: list[str] | None) -> int:
    from harness.interrupt import exit_code_of

    try:
        rv = cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except HarnessError as e:
        click.echo(f"harness: {e}", err=True)
        return int(e.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt) as e:
        click.echo("harness: interrupted", err=True)
        return exit_code_of(e)
    except click.ClickException as e:
        e.show()
        return ExitCode.BAD_INPUT
    except Exception as e:  # a bug: never let it pass as success, nor as a divergence (1)
        import traceback

        traceback.print_exc()
        click.echo(f"harness: internal error: {type(e).__name__}: {e}", err=True)
        return ExitCode.INFRA
    return int(rv or 0)


if __name__ == "__main__":
    sys.exit(main())
