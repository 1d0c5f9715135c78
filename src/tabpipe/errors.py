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


def stage_main(stage: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Wrap a stage's main(): a PipelineError becomes `error: [stage] ...` and exit status 1."""

    def decorate(main: Callable[[], None]) -> Callable[[], None]:
        @functools.wraps(main)
        def wrapper() -> None:
            try:
                main()
            except PipelineError as err:
                print(f"error: [{stage}] {err}", file=sys.stderr)
                raise SystemExit(1) from None

        return wrapper

    return decorate
