"""The log check of the Odoo tiers (tests/logcheck.py): which entries fail a run."""

import importlib.util
import subprocess
import sys
from pathlib import Path

LOGCHECK = Path(__file__).resolve().parents[1] / "logcheck.py"
spec = importlib.util.spec_from_file_location("mfg_logcheck_test", LOGCHECK)
logcheck = importlib.util.module_from_spec(spec)
spec.loader.exec_module(logcheck)

LOG = """\
2026-12-02 02:33:09,100 16910 INFO mfgm odoo.modules.loading: loading 1 modules...
2026-12-02 02:33:09,271 16910 ERROR mfgm odoo.sql_db: bad query: UPDATE x
ERROR: could not serialize access due to concurrent update
2026-12-02 02:33:10,000 16911 WARNING mfgm odoo.addons.queue_job.jobrunner.runner: \
Re-queued dead job with uuid: 1234
2026-12-02 02:33:11,000 16911 CRITICAL mfgm odoo.service.server: Worker timeout
Traceback (most recent call last):
  File "x.py", line 1, in <module>
2026-12-02 02:33:12,000 16911 INFO mfgm werkzeug: GET / 200
"""


def _write(tmp_path, text=LOG):
    path = tmp_path / "odoo.log"
    path.write_text(text, encoding="utf-8")
    return path


def test_entries_keep_their_traceback_lines(tmp_path):
    entries = logcheck.entries(_write(tmp_path))
    assert [level for level, _lines in entries] == [
        "INFO",
        "ERROR",
        "WARNING",
        "CRITICAL",
        "INFO",
    ]
    assert (
        entries[1][1][1] == "ERROR: could not serialize access due to concurrent update"
    )
    assert len(entries[3][1]) == 3


def test_every_warning_or_worse_is_unexpected_unless_named(tmp_path):
    path = _write(tmp_path)
    unexpected, expected = logcheck.check(path)
    assert len(unexpected) == 3 and not expected
    unexpected, expected = logcheck.check(
        path, [r"Re-queued dead job", r"(?s)Worker timeout.*Traceback"]
    )
    assert [lines[0].split()[3] for lines in unexpected] == ["ERROR"]
    assert expected == {r"Re-queued dead job": 1, r"(?s)Worker timeout.*Traceback": 1}
    # a pattern matches the traceback of an entry as well as its first line
    unexpected, _expected = logcheck.check(path, [r"could not serialize"])
    assert len(unexpected) == 2
    assert "1 log entries" not in logcheck.describe(path, unexpected)
    assert "| ERROR: could not serialize" not in logcheck.describe(path, unexpected)


def test_command_line_exit_code_and_allowlist_file(tmp_path):
    path = _write(tmp_path)
    allow = tmp_path / "allow.txt"
    allow.write_text(
        "# comments and blank lines are skipped\n\n"
        "Re-queued dead job\nWorker timeout\ncould not serialize\n",
        encoding="utf-8",
    )
    run = [sys.executable, str(LOGCHECK), str(path)]
    failing = subprocess.run(run, capture_output=True, text=True, check=False)
    assert failing.returncode == 1
    assert "3 log entries at WARNING or above" in failing.stdout
    passing = subprocess.run(
        [*run, str(allow)], capture_output=True, text=True, check=False
    )
    assert passing.returncode == 0, passing.stdout
    assert "3 log entries ignored" in passing.stdout
    clean = _write(tmp_path, LOG.splitlines(keepends=True)[0])
    assert (
        subprocess.run(
            [sys.executable, str(LOGCHECK), str(clean)], check=False
        ).returncode
        == 0
    )
