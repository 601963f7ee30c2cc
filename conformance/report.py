#!/usr/bin/env python3
"""Print the conformance table and judge it against the expected failures.

Usage: report.py RESULTS.tsv EXPECTED-FAILURES
       report.py --check EXPECTED-FAILURES   (only check the file's format)

RESULTS.tsv holds the lines the drivers print:
    tester <TAB> check <TAB> pass|fail|warn|skip <TAB> detail

EXPECTED-FAILURES holds one check a line, with the reason it fails:
    tester  check-name  # reason
The tester is the first word, the check name the rest up to '#' (names hold
spaces, never '#'); '*' in a check name matches any run of characters. Blank
lines and lines starting with '#' are ignored. An entry without a reason is an
error.

Exit status: 0 when every failure is listed; 1 when some failure is not; 2 when
the expected-failures file is malformed or there is no result at all. Entries
whose check now passes, or did not run, are reported without failing, so the
list can shrink.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

TESTERS = ("scim2-tester", "scim-sanity")


@dataclass
class Expected:
    tester: str
    pattern: str
    reason: str
    lineno: int
    regex: re.Pattern = field(init=False)
    matched: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.regex = re.compile("^" + ".*".join(re.escape(p) for p in self.pattern.split("*")) + "$")

    def matches(self, tester: str, check: str) -> bool:
        return tester == self.tester and bool(self.regex.match(check))


def parse_expected(path: str) -> tuple[list[Expected], list[str]]:
    entries: list[Expected] = []
    errors: list[str] = []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except FileNotFoundError:
        return [], []
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        body, _, reason = line.partition("#")
        parts = body.split(None, 1)
        reason = reason.strip()
        where = f"{path}:{n}"
        if len(parts) < 2:
            errors.append(f"{where}: expected 'tester check-name  # reason', got: {raw}")
            continue
        tester, check = parts[0], parts[1].strip()
        if tester not in TESTERS:
            errors.append(f"{where}: unknown tester {tester!r} (known: {', '.join(TESTERS)})")
            continue
        if not reason:
            errors.append(f"{where}: no reason given for '{tester} {check}' (add '# why it fails')")
            continue
        entries.append(Expected(tester, check, reason, n))
    return entries, errors


def read_results(path: str) -> list[tuple[str, str, str, str]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 3:
                continue
            tester, check, result = parts[0], parts[1], parts[2]
            detail = parts[3] if len(parts) > 3 else ""
            rows.append((tester, check, result, detail))
    return rows


def table(rows: list[tuple[str, str, str]]) -> str:
    headers = ("tester", "check", "result")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(out)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        _, errors = parse_expected(sys.argv[2])
        for err in errors:
            print(f"conformance: {err}", file=sys.stderr)
        return 2 if errors else 0
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    results_path, expected_path = sys.argv[1], sys.argv[2]
    expected, errors = parse_expected(expected_path)
    results = read_results(results_path)

    shown = []
    unexpected, expected_failed, warned = [], [], []
    counts = {"pass": 0, "fail": 0, "warn": 0, "skip": 0}
    for tester, check, result, detail in results:
        result = result if result in counts else "fail"
        counts[result] += 1
        entry = next((e for e in expected if e.matches(tester, check)), None)
        if entry:
            entry.matched.append((check, result))
        label = result
        if result == "fail":
            if entry:
                label = "FAIL (expected)"
                expected_failed.append((tester, check, detail, entry))
            else:
                label = "FAIL"
                unexpected.append((tester, check, detail))
        elif result == "warn":
            warned.append((tester, check, detail))
        shown.append((tester, check, label))

    print(table(shown))
    print()

    if warned:
        print(f"Warnings ({len(warned)}, not failures):")
        for tester, check, detail in warned:
            print(f"  {tester}  {check}\n      {detail}")
        print()
    if expected_failed:
        print(f"Expected failures ({len(expected_failed)}):")
        for tester, check, detail, entry in expected_failed:
            print(f"  {tester}  {check}  # {entry.reason}\n      {detail}")
        print()

    fixed = [e for e in expected if e.matched and all(r != "fail" for _, r in e.matched)]
    unseen = [e for e in expected if not e.matched]
    if fixed:
        print(f"Listed in {expected_path} but now passing ({len(fixed)}) - remove them:")
        for e in fixed:
            outcomes = ", ".join(sorted({r for _, r in e.matched}))
            print(f"  line {e.lineno}: {e.tester}  {e.pattern}  ({outcomes})")
        print()
    if unseen:
        print(f"Listed in {expected_path} but not run ({len(unseen)}) - renamed or gone?")
        for e in unseen:
            print(f"  line {e.lineno}: {e.tester}  {e.pattern}")
        print()
    if unexpected:
        print(f"UNEXPECTED FAILURES ({len(unexpected)}):")
        for tester, check, detail in unexpected:
            print(f"  {tester}  {check}\n      {detail}")
        print()
    for err in errors:
        print(f"conformance: {err}")

    passed = counts["pass"] + counts["warn"]
    warn_note = f" ({counts['warn']} with warnings)" if counts["warn"] else ""
    print(f"conformance: {passed} passed{warn_note}, {counts['fail']} failed "
          f"({len(expected_failed)} expected), {counts['skip']} skipped")

    if errors:
        print(f"conformance: FAILED: {expected_path} is malformed")
        return 2
    if not results:
        print("conformance: FAILED: no check ran")
        return 2
    if unexpected:
        print(f"conformance: FAILED: {len(unexpected)} unexpected failure(s); fix them, "
              f"or list them with a reason in {expected_path}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
