#!/usr/bin/env python3
"""Run the scim-sanity probe against a SCIM server and print one line per check.

Usage: run_scim_sanity.py URL [--json FILE] [--timeout SECONDS]

The bearer token is read from the SCIM_TOKEN environment variable. The probe
is scim-sanity's own CLI (`scim-sanity probe URL --token T --json-output
--i-accept-side-effects`, strict mode), found next to this interpreter; its JSON
report is kept in FILE when --json is given.

Each line on stdout is tab-separated:

    scim-sanity <TAB> check-name <TAB> pass|fail|warn|skip <TAB> detail

Check names are the probe's test names (e.g. `POST /Users`,
`GET /Users/{id} after PATCH`). The probe may give several results under one
name (a PASS and a WARN about the same request); they are folded into one line
with the worst outcome: fail (probe `fail` or `error`) > warn > pass > skip.
The ids in the names of the Cleanup phase are replaced by `{id}`.

Exit status: 0 when the probe ran and its report was read (whatever its
results), 2 when it could not be run or its report could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

TESTER = "scim-sanity"
RANK = {"skip": 0, "pass": 1, "warn": 2, "fail": 3}
OUTCOME = {"pass": "pass", "warn": "warn", "skip": "skip", "fail": "fail", "error": "fail"}


def one_line(text: object, limit: int = 300) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def check_name(result: dict) -> str:
    name = str(result.get("name") or "unnamed")
    if str(result.get("phase") or "").startswith("Cleanup"):
        name = "Cleanup: " + re.sub(r"^(\w+ /[^/]+)/\S+$", r"\1/{id}", name)
    return re.sub(r"[\t\r\n#]+", " ", name).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2")
    parser.add_argument("--json", help="keep the probe's JSON report in this file")
    parser.add_argument("--timeout", type=int, default=10, help="per-request timeout, seconds")
    args = parser.parse_args()

    token = os.environ.get("SCIM_TOKEN", "")
    if not token:
        print("run_scim_sanity: SCIM_TOKEN is not set", file=sys.stderr)
        return 2

    exe = Path(sys.executable).with_name("scim-sanity")
    command = [str(exe) if exe.exists() else "scim-sanity", "probe", args.url,
               "--token", token, "--json-output", "--i-accept-side-effects",
               "--strict", "--timeout", str(args.timeout)]
    try:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        print(f"run_scim_sanity: cannot run scim-sanity: {exc}", file=sys.stderr)
        return 2

    def stop(signum: int, _frame: object) -> None:
        # When conformance/run's timeout stops us, stop the probe too.
        child.kill()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    stdout, stderr = child.communicate()
    proc = subprocess.CompletedProcess(command, child.returncode, stdout, stderr)

    if args.json:
        Path(args.json).write_text(proc.stdout, encoding="utf-8")
    try:
        report = json.loads(proc.stdout)
        results = report["results"]
    except (ValueError, KeyError, TypeError) as exc:
        print(f"run_scim_sanity: no JSON report from scim-sanity (exit {proc.returncode}): {exc}",
              file=sys.stderr)
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:])
        return 2

    # Fold the results sharing a name, in the order of their first appearance.
    folded: dict[str, tuple[str, list[str]]] = {}
    for r in results:
        name = check_name(r)
        outcome = OUTCOME.get(str(r.get("status")), "fail")
        message = one_line(r.get("message"))
        if outcome != "pass" and not message:
            message = str(r.get("status"))
        if name not in folded:
            folded[name] = (outcome, [message] if message else [])
            continue
        worst, messages = folded[name]
        if RANK[outcome] > RANK[worst]:
            folded[name] = (outcome, [message] if message else [])
        elif RANK[outcome] == RANK[worst] and message and message not in messages:
            messages.append(message)

    for name, (outcome, messages) in folded.items():
        print(f"{TESTER}\t{name}\t{outcome}\t{one_line('; '.join(messages))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
