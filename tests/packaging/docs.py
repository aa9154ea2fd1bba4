#!/usr/bin/env python3
"""The docs say what the code does: docs/operations.md lists exactly the flags of
`zoneshift run`; docs/migration-runbook.md explains every condition and every reason zoneshift
writes or the health check knows; the chart's README lists every value; the CHANGELOG has an
Unreleased section; repository paths the docs name exist; the chart's README and
docs/benchmarks.md state the default requests and limits the chart and deploy/ set."""

from __future__ import annotations

import re

import yaml

from packaging_common import CONDITION_TYPES, REASON_HEALTH, ROOT, Tally
from packaging_k8s import EXPECTED_RESOURCES, main_rs_flags

DOCS = ["README.md", "CHANGELOG.md", "docs/install.md", "docs/operations.md", "docs/migration-runbook.md",
        "charts/zoneshift/README.md", "docs/benchmarks.md"]


def main() -> None:
    t = Tally("docs")
    texts = {}
    for d in DOCS:
        path = ROOT / d
        if t.check(path.exists(), f"{d} exists"):
            texts[d] = path.read_text()

    flags = main_rs_flags()
    ops = texts.get("docs/operations.md", "")
    table = set(re.findall(r"^\| `(--[a-z0-9-]+)", ops, re.M))
    t.check(table == set(flags), "docs/operations.md's flag table lists exactly the flags of src/cli/run.rs",
            f"src/cli/run.rs: {sorted(flags)}; table: {sorted(table)}")
    envs = {e for e in flags.values() if e}
    t.check(all(f"`{e}`" in ops for e in envs), "docs/operations.md names every flag's environment variable", str(sorted(envs)))
    t.check(all(f"`{f}" in texts.get("CHANGELOG.md", "") for f in flags), "CHANGELOG.md lists every flag")
    t.check("\n## Unreleased\n" in texts.get("CHANGELOG.md", ""), "CHANGELOG.md has an Unreleased section")
    planned = [l for l in ops.splitlines() if "--" in l and "planned" in l.lower()]
    # Flags of other tools the page names: clap's --help, helm install's --skip-crds.
    others = {"--help", "--skip-crds"}
    named_flags = {f for l in ops.splitlines() if l not in planned for f in re.findall(r"`(--[a-z0-9-]+)", l)} - others
    t.check(named_flags <= set(flags), "docs/operations.md names no flag the binary lacks outside a planned note",
            str(sorted(named_flags - set(flags))))

    runbook = texts.get("docs/migration-runbook.md", "")
    types = sorted(CONDITION_TYPES)
    t.check(all(f"### {c}" in runbook for c in types), "the runbook has a section for every condition type of src/api/vocabulary.rs",
            f"missing: {[c for c in types if f'### {c}' not in runbook]}")
    sample_reasons = set()
    for f in (ROOT / "deploy/argocd/testdata").glob("*.yaml"):
        for c in (yaml.safe_load(f.read_text()).get("status") or {}).get("conditions", []):
            if c["type"] not in ("Stalled", "Reconciling", "Ready"):
                sample_reasons.add(c["reason"])
    reasons = set(REASON_HEALTH) | sample_reasons
    missing = sorted(r for r in reasons if f"`{r}`" not in runbook)
    t.check(not missing, "the runbook explains every reason src/ writes and the health check's samples use", str(missing))

    chart_readme = texts.get("charts/zoneshift/README.md", "")
    values = yaml.safe_load((ROOT / "charts/zoneshift/values.yaml").read_text())
    paths = []
    for k, v in values.items():
        if isinstance(v, dict) and v and k not in ("podSecurityContext", "securityContext", "resources"):
            paths += [f"{k}.{s}" for s in v]
        else:
            paths.append(k)
    missing = [p for p in paths if p not in chart_readme]
    t.check(not missing, f"the chart's README describes all {len(paths)} values", str(missing))
    t.check("What was checked, and what was not" in chart_readme, "the chart's README says what was and was not checked")

    # The defaults come from the measurement: the page that measured them and the README say the
    # same figures as values.yaml (helm-chart.py and kustomize.py check the rendered Deployments).
    res = values.get("resources", {})
    t.check(res == EXPECTED_RESOURCES, "values.yaml's resources are the measured defaults", str(res))
    stated = "requests {} / {}, limits {} / {}".format(
        res.get("requests", {}).get("cpu"), res.get("requests", {}).get("memory"),
        res.get("limits", {}).get("cpu"), res.get("limits", {}).get("memory"))
    row = next((l for l in chart_readme.splitlines() if l.startswith("| `resources` |")), "")
    t.check(stated in row, f"the chart's README states the default resources ({stated})", row)
    bench = texts.get("docs/benchmarks.md", "")
    t.check(stated in bench, f"docs/benchmarks.md states the defaults it measured ({stated})")

    named = set()
    for d, text in texts.items():
        named |= set(re.findall(r"`((?:deploy|charts|docs|crds|src|tests|scripts|examples)/[A-Za-z0-9_./-]*)`", text))
        named |= {m for m in re.findall(r"\]\(([^)#]+)\)", text) if not re.match(r"[a-z]+:", m)}
    gone = sorted(p for p in named if not (ROOT / p).exists())
    t.check(not gone, f"the {len(named)} repository paths the docs name exist", str(gone))
    t.done()


if __name__ == "__main__":
    main()
