"""`python -m fastdraw`: see fastdraw.cli."""

import gc
import sys

try:
    from fastdraw.cli import main

    code = main()
except KeyboardInterrupt:  # Ctrl-C while Python imports the command line: no traceback
    print("fastdraw: interrupted", file=sys.stderr)
    code = 130
# Exiting would otherwise spend ~0.2 s collecting numba's object graph, object by object;
# frozen objects are left to the process's end.
gc.freeze()
sys.exit(code)
