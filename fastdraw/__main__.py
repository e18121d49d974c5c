"""`python -m fastdraw`: see fastdraw.cli."""

import gc
import sys

from fastdraw.cli import main

code = main()
# Exiting would otherwise spend ~0.2 s collecting numba's object graph, object by object;
# frozen objects are left to the process's end.
gc.freeze()
sys.exit(code)
