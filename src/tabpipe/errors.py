"""One-line errors for bad input: which stage, which file, which column or key, and a fix."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable


class PipelineError(Exception):
    """Bad input or config. Printed as one line, without a traceback."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(message if fix is None else f"{message}. Fix: {fix}")


class Interrupted(BaseException):  # noqa: N818 (like KeyboardInterrupt, not an error)
    """SIGINT or SIGTERM arrived while a stage ran (raised by the handler the stage installs)."""

    def __init__(self, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(signal_name)


# Called with the stage name after a stage failed or was interrupted, before it exits: under
# DVC, tabpipe.stages installs the restore of the last committed outputs here (DVC deleted the
# stage's outputs before running it). Each returns a line to print, or None.
ON_FAILURE: list[Callable[[str], str | None]] = []


def _after_failure(stage: str) -> None:
    for hook in ON_FAILURE:
        try:
            line = hook(stage)
        except Exception as err:  # a failed restore must not hide the stage's own error
            line = f"note: [{stage}] could not restore the last committed outputs: {err}"
        if line:
            print(line, flush=True)


def stage_main(stage: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Wrap a stage's main(): a PipelineError becomes `error: [stage] ...` and exit status 1.

    An interrupt (Ctrl-C, SIGTERM) exits 130 with one line; an unexpected exception keeps its
    traceback (it is a bug). Either way the failure hooks (ON_FAILURE) run first.
    """

    def decorate(main: Callable[[], None]) -> Callable[[], None]:
        @functools.wraps(main)
        def wrapper() -> None:
            try:
                main()
            except PipelineError as err:
                print(f"error: [{stage}] {err}", file=sys.stderr, flush=True)
                _after_failure(stage)
                raise SystemExit(1) from None
            except (KeyboardInterrupt, Interrupted) as err:
                name = getattr(err, "signal_name", "SIGINT")
                print(f"error: [{stage}] interrupted ({name})", file=sys.stderr, flush=True)
                _after_failure(stage)
                raise SystemExit(130) from None
            except Exception:
                _after_failure(stage)
                raise

        return wrapper

    return decorate
