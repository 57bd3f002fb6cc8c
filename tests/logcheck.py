"""Find the entries of an Odoo log file at level WARNING or above.

Used by scripts/lib.sh (``mfg_check_log``: every tier's Odoo log must be clean) and by
the fault tier (tests/faults), whose scenarios cause some warnings on purpose and name
them, each with a pattern: any other entry fails the scenario.

Command line: ``python tests/logcheck.py LOGFILE [ALLOWLIST]``, where ALLOWLIST is a
file of regular expressions, one per line (``#`` starts a comment); exit code 1 when
an entry at WARNING or above matches none of them.
"""

import re
import sys
from collections import Counter

LEVELS = ("WARNING", "ERROR", "CRITICAL")
_HEAD = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} \d+ (?P<level>[A-Z]+) ")
SHOWN_LINES = 40


def entries(path):
    """The log's entries as ``(level, lines)``: an entry is its first line and the
    lines that follow it (a traceback) up to the next entry."""
    found = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            match = _HEAD.match(line)
            if match:
                found.append((match.group("level"), [line]))
            elif found:
                found[-1][1].append(line)
    return found


def check(path, allowed=()):
    """Sort the entries at WARNING or above into expected and unexpected ones.

    :param allowed: compiled patterns (or strings) an expected entry matches
    :return: ``(unexpected, expected)``: the list of unexpected entries (each a list
        of lines), and a :class:`collections.Counter` of the expected ones by pattern
    """
    patterns = [re.compile(p) if isinstance(p, str) else p for p in allowed]
    unexpected, expected = [], Counter()
    for level, lines in entries(path):
        if level not in LEVELS:
            continue
        text = "\n".join(lines)
        pattern = next((p for p in patterns if p.search(text)), None)
        if pattern is None:
            unexpected.append(lines)
        else:
            expected[pattern.pattern] += 1
    return unexpected, expected


def describe(path, unexpected):
    """The unexpected entries, indented, for a report."""
    out = [f"{len(unexpected)} log entries at WARNING or above in {path}:"]
    for lines in unexpected:
        out.extend(f"| {line}" for line in lines[:SHOWN_LINES])
        if len(lines) > SHOWN_LINES:
            out.append(f"| ... ({len(lines) - SHOWN_LINES} more lines)")
    return "\n".join(out)


def read_allowlist(path):
    patterns = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line and not line.startswith("#"):
                    patterns.append(line)
    except FileNotFoundError:
        pass
    return patterns


def main(argv):
    log_path = argv[1]
    allowed = read_allowlist(argv[2]) if len(argv) > 2 else []
    unexpected, expected = check(log_path, allowed)
    if expected:
        print(f"    ({sum(expected.values())} log entries ignored by {argv[2]})")
    if unexpected:
        print("    " + describe(log_path, unexpected).replace("\n", "\n    "))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
