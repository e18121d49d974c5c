"""Where progress goes: a tqdm bar when stderr is a terminal that can show one."""

from __future__ import annotations

import os
import sys
from typing import Any


def terminal_bar(**tqdm_args: Any) -> Any | None:
    """A tqdm bar on stderr, or None when stderr is not a terminal or reports no width (a
    pseudo-terminal nobody sized, where the bar would print as nothing): callers then log
    progress lines instead."""
    if not sys.stderr.isatty():
        return None
    try:
        if os.get_terminal_size(sys.stderr.fileno()).columns <= 0:
            return None
    except (OSError, ValueError):  # a terminal-like object without a real descriptor
        pass
    from tqdm import tqdm

    return tqdm(file=sys.stderr, dynamic_ncols=True, **tqdm_args)
