"""Progress lines with an ETA (stprompt.progress): the text, the channel a kernel writes to, the
thread that echoes it on the console, and the end-of-run summary of `stprompt reproduce`."""

from __future__ import annotations

import subprocess
import sys
import time

from stprompt import progress


def test_progress_text_eta_is_mean_time_per_item_times_items_left():
    # 3 of 12 done in 30 s: 10 s per item, 9 left -> 90 s
    assert progress.progress_text(3, 12, 30.0) == "3/12 (25%), 30s elapsed, ETA 1m30s"
    assert progress.progress_line("runs", 12, 12, 125.0) == "runs: 12/12 (100%), 2m05s elapsed"
    assert progress.progress_text(0, 4, 0.0) == "0/4 (0%), 0s elapsed"  # no ETA before the first item
    assert progress.progress_text(5, None, 7200.0) == "5 done, 2h00m elapsed"


def test_report_writes_only_with_a_channel_and_throttles(tmp_path, monkeypatch):
    channel = tmp_path / "p.log"
    monkeypatch.delenv(progress.ENV, raising=False)
    progress.report("quiet loop", 0, 3)  # no channel: nothing anywhere
    assert not channel.exists()
    monkeypatch.setenv(progress.ENV, str(channel))
    gap = progress.MIN_INTERVAL
    clock = iter([0.0, 1.0, 2.0, gap + 0.5, gap + 1.0]).__next__
    monkeypatch.setattr(progress.time, "monotonic", clock)
    for done in range(5):  # written at the start, once MIN_INTERVAL has passed, and at the last item
        progress.report("loop", done, 4)
    lines = channel.read_text().splitlines()
    eta = progress.format_seconds((gap + 0.5) / 3)
    assert lines == ["loop: 0/4 (0%), 0s elapsed",
                     f"loop: 3/4 (75%), {progress.format_seconds(gap + 0.5)} elapsed, ETA {eta}",
                     f"loop: 4/4 (100%), {progress.format_seconds(gap + 1.0)} elapsed"]


def test_follow_echoes_what_a_child_process_writes_and_restores_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    seen: list[str] = []
    code = ("from stprompt import progress\n"
            "for i in progress.track(range(3), 'items'):\n"
            "    pass\n")
    with progress.follow(tmp_path / "step.progress", seen.append, poll=0.05):
        subprocess.run([sys.executable, "-c", code], check=True)  # inherits the channel, as a kernel does
        time.sleep(0.2)
    assert seen[0] == "items: 0/3 (0%), 0s elapsed" and seen[-1].startswith("items: 3/3 (100%)")
    assert progress.ENV not in __import__("os").environ
    assert not (tmp_path / "step.progress").exists()
