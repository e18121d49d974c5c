"""Progress reaches the user: a bar on a terminal that can show one, log lines elsewhere."""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from fastdraw import progress as progress_mod
from fastdraw.progress import Progress, terminal_bar


def _pty(columns: int) -> tuple[int, int]:
    """(master, slave) of a new pseudo-terminal, sized ``columns`` wide (0: never sized)."""
    master, slave = pty.openpty()
    if columns:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    return master, slave


def _read_all(master: int) -> str:
    out = b""
    while True:
        try:
            data = os.read(master, 1 << 16)
        except OSError:  # EIO: every slave end is closed
            break
        if not data:
            break
        out += data
    os.close(master)
    return out.decode("utf-8", "replace")


def _sample_build_on(columns: int, out) -> tuple[int, str]:
    """Exit code and terminal output of the README's command with stderr on a pty."""
    master, slave = _pty(columns)
    proc = subprocess.Popen([sys.executable, "-m", "fastdraw", "--group", "zoo", "--sample",
                             "--out", str(out), "--workers", "2"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    text = _read_all(master)
    return proc.wait(), text


def test_the_build_draws_a_bar_per_phase_on_a_terminal(tmp_path):
    code, text = _sample_build_on(100, tmp_path)
    assert code == 0, text
    for phase in ("encode", "write"):
        assert f"{phase}: 100%|" in text and "ex/s" in text
    assert "built 180 examples" in text


def test_an_unsized_terminal_gets_no_blank_bar_lines(tmp_path):
    # A pseudo-terminal nobody sized reports 0 columns: tqdm would print blank lines.
    code, text = _sample_build_on(0, tmp_path)
    assert code == 0, text
    # A pty ends lines with CR LF; a bar redraws itself after a lone CR.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:-1]
    assert lines and all(line.strip() for line in lines), lines  # no blank bar lines
    assert "%|" not in text and "built 180 examples" in text


@pytest.mark.parametrize("columns,bar", [(80, True), (0, False)])
def test_terminal_bar_needs_a_terminal_with_a_width(monkeypatch, columns, bar):
    master, slave = _pty(columns)
    with os.fdopen(slave, "w", encoding="utf-8") as stderr:
        monkeypatch.setattr(sys, "stderr", stderr)
        made = terminal_bar(total=3, desc="t")
        assert (made is not None) == bar
        if made is not None:
            made.close()
    os.close(master)


def test_terminal_bar_is_none_off_a_terminal(tmp_path, monkeypatch):
    with open(tmp_path / "log", "w", encoding="utf-8") as stderr:
        monkeypatch.setattr(sys, "stderr", stderr)
        assert terminal_bar(total=3) is None


def test_build_progress_logs_rate_and_eta_off_a_terminal(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(progress_mod, "LOG_EVERY", 0.0)
    with open(tmp_path / "log", "w", encoding="utf-8") as stderr:
        monkeypatch.setattr(sys, "stderr", stderr)
        progress = Progress("encode", 200, "ex", True)
        with caplog.at_level(logging.INFO, logger="fastdraw.progress"):
            progress.update(50)
            progress.update(150)
        progress.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("encode: 50 of 200 ex (25%), ") and "ex/s, ETA" in lines[0]
    assert lines[1].startswith("encode: 200 of 200 ex (100%), ") and lines[1].endswith("ETA 0 s")


@pytest.mark.parametrize("what,total,unit", [("count", 10, "files"), ("encode", 1500, "ex")])
def test_bar_counts_are_whole_numbers(monkeypatch, what, total, unit):
    # Counts used to be shown with SI scaling: "count: 100%| 10.0/10.0 [...]" files.
    master, slave = _pty(100)
    with os.fdopen(slave, "w", encoding="utf-8") as stderr:
        monkeypatch.setattr(sys, "stderr", stderr)
        progress = Progress(what, total, unit, True)
        assert progress.bar is not None
        for _ in range(total):
            progress.update(1)
        progress.close()
    text = _read_all(master)
    assert f"{what}: 100%|" in text and f"| {total}/{total} [" in text
    assert f"{total}.0" not in text and f"{total / 1000:.1f}k" not in text
