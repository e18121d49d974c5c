"""`python -m fastdraw verify DATASET_DIR`: is a built dataset whole and consistent?"""

from __future__ import annotations

import argparse

from fastdraw.cli.errors import FAILED, OK


def add_verify(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET_DIR",
                   help="a built dataset directory (or one the notebook's make_sharded_files "
                        "wrote)")


def run_verify(args: argparse.Namespace) -> int:
    """Prints what was not checked (notes), then an OK summary (exit 0) or every problem
    (exit 1)."""
    from fastdraw.dataset.verify import check

    report = check(args.dataset)
    for note in report.notes:
        print(f"{args.dataset}: note: {note}")
    if report.problems:
        for p in report.problems:
            print(f"{args.dataset}: {p}")
        print(f"FAILED: {len(report.problems)} problem(s) in {args.dataset}")
        return FAILED
    splits = ", ".join(f"{s} {n}" for s, n in report.split_records.items())
    verified = ", ".join(report.verified[:-1]) + " and " + report.verified[-1]
    print(f"OK {args.dataset}: {report.kind} dataset, {report.classes} classes, "
          f"{sum(report.split_records.values())} records ({splits}) in {report.shards} "
          f"{report.files}; "
          f"{verified} verified")
    return OK
