"""photoz.logs: logging into a rule's file; the progress bars (tqdm, disable=None) only on a terminal."""

import io
import logging

from tqdm import tqdm

from photoz.logs import log_to_file


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_is_silent_in_a_file_and_drawn_on_a_terminal():
    log = io.StringIO()
    with tqdm(total=50, desc="step", file=log, mininterval=0, disable=None) as bar:
        for _ in range(50):
            bar.update(1)
    assert log.getvalue() == ""
    tty = FakeTerminal()
    for _ in tqdm(range(5), desc="step", file=tty, mininterval=0, disable=None):
        pass
    assert "step" in tty.getvalue() and "5/5" in tty.getvalue()


def test_a_rule_log_gets_no_progress_frames(tmp_path, monkeypatch):
    """After log_to_file, stderr is the log: a bar over 1,000 steps writes nothing there."""
    import sys

    monkeypatch.setattr(sys, "stderr", sys.stderr)  # restored after the test
    saved = list(logging.root.handlers), logging.root.level
    stream = log_to_file(tmp_path / "rule.log")
    try:
        for _ in tqdm(range(1000), desc="batches", mininterval=0, disable=None):
            pass
        logging.getLogger("photoz.test").info("epoch 1: done")
    finally:
        stream.flush()
    text = (tmp_path / "rule.log").read_text()
    assert "\r" not in text and "batches" not in text and "epoch 1: done" in text
    stream.close()
    logging.captureWarnings(False)
    logging.root.handlers[:] = saved[0]  # leave logging as pytest set it up
    logging.root.setLevel(saved[1])
