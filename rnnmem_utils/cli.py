"""The ``rnnmem`` command: list, run and report the experiments.

    rnnmem list [--preset P] [--params NAME]
    rnnmem run [NAME ...] --preset P [-p key=value ...] [--jobs N] [--force]
    rnnmem report [--preset P]

Every request is validated (experiment names, preset, overrides: names, types
and ranges) before any notebook starts. This module never imports torch.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rnnmem", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser(
        "list", help="list the experiments, their notebooks and run status"
    )
    ls.add_argument("--preset", default="default", choices=config.PRESET_NAMES)
    ls.add_argument(
        "--params", metavar="NAME", help="show the parameters of one experiment"
    )

    run = sub.add_parser(
        "run", help="execute notebooks with papermill into results/<preset>/"
    )
    run.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"experiments to run (default: all): {', '.join(config.EXPERIMENTS)}",
    )
    run.add_argument("--preset", default="default", choices=config.PRESET_NAMES)
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter (JSON value), e.g. -p repeats=30 -p lengths=[5,100]",
    )
    run.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        help="notebooks to run in parallel (default 1)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="rerun even if results are up to date, from scratch",
    )

    rep = sub.add_parser(
        "report", help="build results/<preset>/REPORT.md and REPORT.html"
    )
    rep.add_argument("--preset", default="default", choices=config.PRESET_NAMES)
    return p


def _cmd_list(args) -> int:
    from . import runner

    if args.params:
        print(f"{args.params}: parameters (override with -p key=value)")
        print(config.describe(args.params))
        return 0
    print(
        f"{'experiment':<12} {'notebook':<34} {'status (' + args.preset + ')':<22} title"
    )
    for e in config.EXPERIMENTS.values():
        nb_ok = (runner.NOTEBOOK_DIR / e.notebook).exists()
        st = runner.status(e.name, args.preset) if nb_ok else "no notebook yet"
        print(f"{e.name:<12} {e.notebook:<34} {st:<22} {e.title}")
    return 0


def _cmd_run(args) -> int:
    from . import runner

    if args.jobs < 1:
        raise config.ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    names = args.names or list(config.EXPERIMENTS)
    for n in names:
        config.schema_of(n)  # unknown names are refused with the valid choices
    overrides = dict(config.parse_override(t) for t in args.param)
    t0 = time.perf_counter()
    outcomes = runner.run_many(
        names, args.preset, overrides, jobs=args.jobs, force=args.force
    )
    failed = [o for o in outcomes if o.status == "failed"]
    print(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} notebooks complete "
        f"({(time.perf_counter() - t0) / 60:.1f} min); results in "
        f"{runner.out_dir_of('', args.preset)}"
    )
    for o in failed:
        print(o.message, file=sys.stderr)
    return 1 if failed else 0


def _cmd_report(args) -> int:
    from . import report

    try:
        md, html = report.build(args.preset)
    except report.NoResultsError as e:
        print(f"rnnmem: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {md}\nwrote {html}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"list": _cmd_list, "run": _cmd_run, "report": _cmd_report}[
            args.command
        ](args)
    except config.ConfigError as e:
        print(f"rnnmem: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `rnnmem list | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
