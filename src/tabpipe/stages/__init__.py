"""The pipeline's stage entry points, one module per DVC stage (`python -m tabpipe.stages.X`).

The numeric kernels and thread counts are pinned by the package itself (tabpipe.numerics),
before any stage imports NumPy. A stage DVC runs (DVC sets DVC_STAGE) first takes the
workspace's run lock, turns SIGINT/SIGTERM into a clean exit and, should it fail, puts the
last commit's outputs back (tabpipe.workspace); a stage run by hand does none of that.
"""

import os
import sys

from tabpipe import workspace
from tabpipe.errors import PipelineError

if os.environ.get("DVC_STAGE"):
    try:
        workspace.enter_stage(os.environ["DVC_STAGE"])
    except PipelineError as _err:
        print(f"error: [{os.environ['DVC_STAGE']}] {_err}", file=sys.stderr)
        raise SystemExit(1) from None
