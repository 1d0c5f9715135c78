"""check: every section of params.yaml checked before any stage can delete an output.

The first stage: fetch depends on its output, so DVC runs it before any other stage whenever
a param changed, and a bad value stops the run with nothing deleted. Its output never changes
(only the check's success matters), so it never reruns the stages after it.
"""

from tabpipe import io
from tabpipe.config import load_params
from tabpipe.core.preflight import check_params
from tabpipe.errors import stage_main


def previous_params() -> dict | None:
    """The params of the last successful check, as dvc.lock records them."""
    import yaml

    if not io.LOCK.exists():
        return None
    lock = yaml.safe_load(io.LOCK.read_text(encoding="utf-8")) or {}
    stage = lock.get("stages", {}).get("check", {})
    return stage.get("params", {}).get(str(io.PARAMS))


@stage_main("check")
def main() -> None:
    checked = check_params(load_params(), previous_params())
    io.write_json({str(io.PARAMS): "checked"}, io.CHECKED)
    print(f"check: {io.PARAMS}: {', '.join(checked)} checked")


if __name__ == "__main__":
    main()
