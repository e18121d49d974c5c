"""The command line: `python -m fastdraw [COMMAND]`; argparse lives in this package only."""

from fastdraw.cli.main import main

__all__ = ["main"]
