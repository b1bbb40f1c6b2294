"""Glue between Snakemake's script directive and segshift: logging and clean failures."""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable

from segshift.errors import SegshiftError


def run(snakemake: Any, main: Callable[[Any], None]) -> None:
    """Run `main(snakemake)` with stderr and logging sent to the rule's log file.

    A SegshiftError ends the job with its one-line message (in the log and on the
    terminal); anything else keeps its traceback in the log.
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    terminal = sys.__stderr__
    log_file = open(log_path, "w", buffering=1) if log_path else terminal
    sys.stderr = log_file
    logging.basicConfig(
        stream=log_file,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    try:
        main(snakemake)
    except SegshiftError as e:
        line = f"segshift error in rule {snakemake.rule}: {e}"
        print(line, file=log_file)
        if log_file is not terminal:
            print(line, file=terminal)
        sys.exit(1)
    except Exception:
        logging.getLogger("segshift").exception("unexpected failure in rule %s", snakemake.rule)
        raise
    finally:
        sys.stderr = terminal
        if log_file is not terminal:
            log_file.close()
