#!/usr/bin/env python3
"""Run scim2-tester against a SCIM server and print one line per check.

Usage: run_scim2_tester.py URL [--details FILE]

The bearer token is read from the SCIM_TOKEN environment variable, so it never
shows in a process listing.

Each line on stdout is tab-separated:

    scim2-tester <TAB> check-name <TAB> pass|fail|skip <TAB> detail

Check names are stable from run to run: `[ResourceType/]checker[/qualifier]`,
where checker is the scim2-tester function name and qualifier tells apart the
several results one checker gives (the attribute path of a PATCH check, the
HTTP method of an endpoint-methods check, the schema or resource type id of a
by-id check, `attributes` or `excludedAttributes` for the attribute-filtering
checks, else an ordinal `[n]`). Random values the tester draws (ids,
patch values) stay out of the names.

With --details, every result is also written to FILE as a JSON line with the
tester's full reason, description and debugging data.

Exit status: 0 when the checks ran (whatever their results), 2 when the tester
could not be run at all.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from typing import Any

TESTER = "scim2-tester"

# SUCCESS: MUST honoured; COMPLIANT: SHOULD honoured; ACCEPTABLE: a MAY used.
PASSING = {"SUCCESS", "COMPLIANT", "ACCEPTABLE"}
# DEVIATION (a SHOULD not honoured), ERROR and CRITICAL count as failures:
# a deviation we accept goes into conformance/expected-failures with its reason.
SKIPPED = {"SKIPPED"}
# These give one result for an `attributes=` query, then one for an
# `excludedAttributes=` query.
ATTRIBUTE_CHECKS = {"object_query_with_attributes", "object_list_with_attributes", "search_with_attributes"}


def one_line(text: Any, limit: int = 300) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def clean_name(name: str) -> str:
    # Tabs and newlines would break the line format; '#' starts a comment in
    # the expected-failures file.
    return re.sub(r"[\t\r\n#]+", " ", name).strip()


def qualifier(result: Any, resource_type_ids: list[str], seen: Counter) -> str | None:
    """A stable word telling apart the results a single checker returned."""
    title = result.title or ""
    reason = result.reason or ""
    data = result.data

    if isinstance(data, dict) and isinstance(data.get("urn"), str):
        return data["urn"]

    if title.endswith("_endpoint_methods"):
        m = re.match(r"(POST|PUT|PATCH|DELETE)\b", reason)
        if m:
            return m.group(1)

    if title == "access_schema_by_id":
        m = re.search(r"schema:? (urn:\S+)", reason)
        if m:
            return m.group(1).rstrip(":")

    if title == "resource_types_schema_validation":
        m = re.search(r"ResourceType '([^']+)'", reason)
        if m:
            return m.group(1)

    if title == "query_resource_type_by_id":
        # One call per resource type, in the order /ResourceTypes listed them.
        n = seen[title]
        if n < len(resource_type_ids):
            return resource_type_ids[n]

    return None


def describe(data: Any) -> Any:
    """Something json.dumps can write, for the details file."""
    if data is None or isinstance(data, (str, int, float, bool)):
        return data
    if isinstance(data, dict):
        return {str(k): describe(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [describe(v) for v in data]
    dump = getattr(data, "model_dump", None)
    if callable(dump):
        try:
            return dump()
        except Exception:  # pragma: no cover - best effort only
            pass
    status = getattr(data, "status_code", None)
    if status is not None:
        return {"status_code": status, "text": one_line(getattr(data, "text", ""), 2000)}
    return repr(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2")
    parser.add_argument("--details", help="write every result as a JSON line to this file")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    args = parser.parse_args()

    token = os.environ.get("SCIM_TOKEN", "")
    if not token:
        print("run_scim2_tester: SCIM_TOKEN is not set", file=sys.stderr)
        return 2

    try:
        from httpx2 import Client
        from scim2_client.engines.httpx2 import SyncSCIMClient
        from scim2_tester import check_server
    except ImportError as exc:
        print(f"run_scim2_tester: cannot import the tester: {exc}", file=sys.stderr)
        return 2

    http = Client(
        base_url=args.url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=args.timeout,
        # The server is local: never go through a proxy from the environment.
        trust_env=False,
    )
    client = SyncSCIMClient(http)

    try:
        results = check_server(client)
    except Exception as exc:  # the tester itself broke, not a check
        print(f"run_scim2_tester: check_server raised {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        http.close()

    resource_type_ids: list[str] = []
    for r in results:
        if r.title == "query_all_resource_types" and r.status.name == "SUCCESS":
            resource_type_ids = [getattr(rt, "id", None) or getattr(rt, "name", "?") for rt in r.data or []]
            break

    # First pass: names from the qualifiers; second pass: ordinals for the
    # names still shared by several results.
    seen: Counter = Counter()
    names: list[str] = []
    for r in results:
        parts = [r.resource_type, r.title or "unnamed", qualifier(r, resource_type_ids, seen)]
        seen[r.title or ""] += 1
        names.append(clean_name("/".join(p for p in parts if p)))

    totals = Counter(names)
    ordinal: Counter = Counter()
    details = open(args.details, "w", encoding="utf-8") if args.details else None
    try:
        for r, name in zip(results, names):
            if totals[name] > 1:
                ordinal[name] += 1
                if r.title in ATTRIBUTE_CHECKS and totals[name] == 2:
                    name = f"{name}/{('attributes', 'excludedAttributes')[ordinal[name] - 1]}"
                else:
                    name = f"{name} [{ordinal[name]}]"
            status = r.status.name
            outcome = "pass" if status in PASSING else "skip" if status in SKIPPED else "fail"
            detail = f"{status}: {r.reason}" if r.reason else status
            print(f"{TESTER}\t{name}\t{outcome}\t{one_line(detail)}")
            if details:
                details.write(
                    json.dumps(
                        {
                            "tester": TESTER,
                            "check": name,
                            "result": outcome,
                            "status": status,
                            "reason": r.reason,
                            "description": one_line(r.description, 500),
                            "tags": sorted(r.tags or []),
                            "data": describe(r.data),
                        },
                        default=repr,
                    )
                    + "\n"
                )
    finally:
        if details:
            details.close()

    return 0


if __name__ == "__main__":
    sys.exit(main())
