"""The ``rnnmem`` command: list, run and report the experiments; manage the store.

    rnnmem list [--preset P] [--params NAME]
    rnnmem run [NAME ...] --preset P [-p key=value ...] [--jobs N] [--force]
               [--scheduler ADDRESS]
    rnnmem report [--preset P]
    rnnmem store list | prune [--dry-run]
    rnnmem cluster script --system slurm|pbs --preset P --scheduler ADDRESS

Every request is validated (experiment names, preset, overrides: names, types,
ranges and cross-field rules; the data files) before any notebook starts.
Exit status: 0 done, 1 a run failed, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rnnmem", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("list", help="list the experiments and their results")
    ls.add_argument("--preset", default="default", choices=config.PRESET_NAMES)
    ls.add_argument(
        "--params", metavar="NAME", help="show the parameters of one experiment"
    )

    run = sub.add_parser("run", help="execute notebooks into results/<preset>/")
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
        help="override a parameter (JSON value), e.g. -p repeats=30 -p lengths=[5,100]"
        "; the result is published as a variant, <experiment>@<overrides>",
    )
    run.add_argument(
        "--jobs", "-j", type=int, default=1, help="notebooks run in parallel (1)"
    )
    run.add_argument(
        "--force", action="store_true", help="rerun even if results are up to date"
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run each notebook as a task on the Dask cluster at ADDRESS "
        "(tcp://HOST:8786; --jobs is then the scheduler's business)",
    )

    rep = sub.add_parser("report", help="build results/<preset>/REPORT.md and .html")
    rep.add_argument("--preset", default="default", choices=config.PRESET_NAMES)

    st = sub.add_parser("store", help="trained models and long units ($RNNMEM_STORE)")
    st_sub = st.add_subparsers(dest="store_command", required=True)
    st_sub.add_parser("list", help="what is stored: size, made from, used by")
    prune = st_sub.add_parser(
        "prune", help="remove entries no published result or current code reaches"
    )
    prune.add_argument("--dry-run", action="store_true", help="only list them")
    from .runner import jobqueue

    jobqueue.add_parser(sub)
    return p


def _cmd_list(args) -> int:
    from . import io, runner

    if args.params:
        print(f"{args.params}: parameters (override with -p key=value)")
        print(config.describe(args.params))
        return 0
    rows, seen = [], set()
    for e in config.EXPERIMENTS.values():
        rows.append((e.name, runner.status(e.name, args.preset), e.title))
        seen.add(e.name)
    for path in runner.published(args.preset):
        if path.name in seen:
            continue
        record = runner.read_record(path)
        if record is None:
            rows.append((path.name, "unreadable", str(path / "run.json")))
            continue
        overrides = record.get("overrides") or {}
        st = runner.status(record.get("experiment", ""), args.preset, overrides)
        rows.append((path.name, st, f"variant of {record.get('experiment')}"))
    head = ("result", f"status ({args.preset})", "title")
    width = [max(len(r[i]) for r in [head, *rows] if len(r[i]) < 60) for i in (0, 1)]
    for name, st, title in [head, *rows]:
        print(f"{name:<{width[0]}}  {st:<{width[1]}}  {title}")
    if any(st.startswith("committed") for _, st, _ in rows):
        print(
            "committed: the result is in git without its executed notebook (a "
            "fresh clone); it matches this code and these parameters unless "
            '"stale". A run executes it again.'
        )
    failed = io.results_root() / args.preset / ".failed"
    for path in sorted(failed.iterdir()) if failed.is_dir() else []:
        why = path / "FAILED.txt"
        first = why.read_text().splitlines()[2:3] if why.exists() else []
        print(f"last attempt failed: {path.name}: {' '.join(first)} ({why})")
    for name, who in runner.unfinished_runs(args.preset):
        print(
            f"running now: {name} ({who})"
            if who
            else f"stopped unfinished: {name} (a rerun resumes from the units "
            "it stored; `rnnmem store list` shows how far they got)"
        )
    return 0


def _cmd_run(args) -> int:
    from . import io, runner

    if args.jobs < 1:
        raise config.ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    names = args.names or list(config.EXPERIMENTS)
    for n in names:
        config.schema_of(n)  # unknown names are refused with the valid choices
    overrides = dict(config.parse_override(t) for t in args.param)
    _stop_on_signals()
    t0 = time.perf_counter()
    outcomes = runner.run_many(
        names,
        args.preset,
        overrides,
        jobs=args.jobs,
        force=args.force,
        scheduler=args.scheduler,
    )
    failed = [o for o in outcomes if o.status == "failed"]
    print(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} notebooks complete "
        f"({(time.perf_counter() - t0) / 60:.1f} min); results in "
        f"{io.results_root() / args.preset}"
    )
    for o in failed:
        print(o.message, file=sys.stderr)
    return 1 if failed else 0


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt, even where the shell started
    this process with SIGINT ignored (a background job), so the runner can stop
    its workers and kernels instead of leaving them to finish."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _cmd_report(args) -> int:
    from . import report

    try:
        md, html = report.build(args.preset)
    except report.NoResultsError as e:
        print(f"rnnmem: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {md}\nwrote {html}")
    return 0


def _cmd_store(args) -> int:
    from . import store

    st = store.Store()
    users = _store_users()
    if args.store_command == "list":
        entries, unfinished = st.entries(), st.unfinished()
        print(
            f"store: {st.root} ({len(entries)} entries, {len(unfinished)} unfinished)"
        )
        for m in entries:
            used = ", ".join(sorted(users.get(m.get("key"), []))) or "no run uses it"
            print(
                f"{m.get('name', '?'):<28} {m.get('key', '?'):<17} "
                f"{m.get('bytes_on_disk', 0) / 1e6:8.2f} MB  {m.get('created', '')}\n"
                f"    made from: {_made_from(m)}\n"
                f"    used by: {used}"
            )
        for m in unfinished:
            print(
                f"{m.get('name', '?'):<28} {m.get('key', '?'):<17} "
                f"{m['bytes_on_disk'] / 1e6:8.2f} MB  unfinished, {_state(m)}\n"
                f"    made from: {_made_from(m)}"
            )
        return 0
    removed = st.prune(set(users), dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for m in removed:
        what = f"unfinished ({_state(m)})" if m["unfinished"] else "entry"
        print(f"{verb} {what} {m.get('name')} {m.get('key')} ({m['path']})")
    gone = sum(m["unfinished"] for m in removed)
    print(
        f"{verb} {len(removed) - gone} entries and {gone} unfinished units; kept "
        "what a run uses (published, unfinished or failed) and every unit "
        "being computed or resumable"
    )
    return 0


def _made_from(m: dict) -> str:
    if "fields" not in m:
        return "not recorded (begun by an older rnnmem)"
    fields = ", ".join(f"{k}={v}" for k, v in (m.get("fields") or {}).items())
    modules = ", ".join(m.get("modules") or []) or "no module declared"
    was = m.get("was") or []
    moved = f"; formerly {', '.join(was)} (code then differed in prose)" if was else ""
    return f"{fields or '-'}; code {m.get('code', '?')} ({modules}){moved}"


def _state(m: dict) -> str:
    """An unfinished unit in words: running or not, how far, how resumable."""
    from . import store

    where = store.progress_text(m)
    saved = f"checkpoint at {where}" if where else "checkpoint saved"
    parts = [
        "running now" if m["running"] else "not running",
        saved if m["checkpoint"] else "no progress saved",
        f"last written {m['updated']}",
    ]
    if m["code_current"] is False:
        parts.append("its code has changed since (cannot resume)")
    return "; ".join(parts)


def _store_users() -> dict[str, list[str]]:
    """Store key -> the runs (every preset) whose record lists it: the
    published results, and the runs unfinished (``.staging``: running or
    killed) or failed (``.failed``), whose rerun resumes from their units."""
    from . import io, runner

    users: dict[str, list[str]] = {}
    root = io.results_root()
    presets = [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    for preset in presets:
        runs = [(p, "") for p in runner.published(preset)]
        for hidden, label in ((".staging", "unfinished"), (".failed", "failed")):
            where = root / preset / hidden
            runs += [(p, f" ({label})") for p in sorted(where.glob("*/"))]
        for path, label in runs:
            for unit in _units_of(path):
                users.setdefault(unit.get("key"), []).append(
                    f"{preset}/{path.name}{label}"
                )
    return users


def _units_of(run_dir) -> list[dict]:
    """The units a run used: its record's list once published, the list it
    keeps as it goes (``units.json``) while unfinished or failed."""
    from . import io, runner

    record = runner.read_record(run_dir)
    if record is not None:
        return record.get("units", [])
    try:
        units = io.read_json(run_dir / "units.json")
    except (OSError, ValueError):
        return []
    return units if isinstance(units, list) else []


def _cmd_cluster(args) -> int:
    from .runner import jobqueue

    return jobqueue.command(args)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .data.corpora import DataError

    commands = {
        "list": _cmd_list,
        "run": _cmd_run,
        "report": _cmd_report,
        "store": _cmd_store,
        "cluster": _cmd_cluster,
    }
    try:
        return commands[args.command](args)
    except (config.ConfigError, DataError) as e:  # the whole message: it has the fix
        print(f"rnnmem: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnmem: interrupted; nothing was marked complete", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rnnmem list | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
    except Exception as e:
        from .runner import Interrupted, RunError

        if isinstance(e, Interrupted):
            print(f"rnnmem: {e}", file=sys.stderr)
            return 130
        if isinstance(e, RunError):
            print(f"rnnmem: error: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
