"""``python -m rnnmem_utils.runner.worker RUN.json OUTCOME.json``: execute one run.

Each run executes in its own worker process, started in its own session by the
executor. SIGINT and SIGTERM become a KeyboardInterrupt here: the run moves its
partial output aside, the notebook's kernel (a child of this process) is
stopped, nothing is published, and the worker exits 130.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path

from .. import io
from .execute import Interrupted, Outcome, RunError, execute
from .plan import Run


def _stop_children() -> None:
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=3)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    run_file, outcome_file = argv
    run = Run.from_json(Path(run_file).read_text())
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    code = 0
    try:
        outcome = execute(run, progress_bar=sys.stderr.isatty())
    except Interrupted as e:
        outcome, code = Outcome(run.experiment, "interrupted", 0.0, str(e)), 130
    except KeyboardInterrupt:  # before the run started or after it published
        outcome, code = Outcome(run.experiment, "interrupted", 0.0, "interrupted"), 130
    except RunError as e:
        outcome, code = Outcome(run.experiment, "failed", 0.0, str(e)), 1
    except Exception as e:  # noqa: BLE001 -- report any crash with its message
        outcome, code = Outcome(run.experiment, "failed", 0.0, f"{run.label}: {e!r}"), 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop_children()
    io.write_text(outcome_file, outcome.to_json())
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
