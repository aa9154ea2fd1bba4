#!/usr/bin/env python3
"""deploy/iam-policy.json grants exactly the AWS actions src/ calls, each scoped as narrowly as
IAM allows. The calls are derived from the source: every SDK fluent-builder call such as
`.create_hosted_zone()` is mapped to its IAM action (route53:CreateHostedZone), so a new call
fails this test until the policy grants it."""

from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path

import yaml

from packaging_common import ROOT, Tally, aws_calls, aws_operations_table, pascal

POLICY = ROOT / "deploy" / "iam-policy.json"

# Resource types each action supports (AWS Service Authorization Reference). Actions not listed
# here have none and must be granted on "*". An action that is missing from both the table and
# NO_RESOURCE_TYPE fails the test: add it after reading the reference.
RESOURCE_TYPES = {
    "route53:GetHostedZone": "hostedzone",
    "route53:ListResourceRecordSets": "hostedzone",
    "route53:ChangeResourceRecordSets": "hostedzone",
    "route53:DeleteHostedZone": "hostedzone",
    "route53:GetChange": "change",
}
NO_RESOURCE_TYPE = {
    "route53:CreateHostedZone",
    "route53:ListHostedZonesByName",
    # The Route53Domains cutover mode. Route 53 Domains has no resource-level permissions.
    "route53domains:UpdateDomainNameservers",
    "route53domains:GetOperationDetail",
    "route53domains:GetDomainDetail",
}
ARN_PATTERNS = {
    "hostedzone": re.compile(r"^arn:aws(-cn|-us-gov)?:route53:::hostedzone/([A-Z0-9]+|\*)$"),
    "change": re.compile(r"^arn:aws(-cn|-us-gov)?:route53:::change/([A-Z0-9]+|\*)$"),
}


def as_list(v):
    return v if isinstance(v, list) else [v]


def grants(policy: dict) -> dict[str, list[str]]:
    """Lowercased action -> resources it is allowed on. IAM action names are case-insensitive."""
    out: dict[str, list[str]] = {}
    for st in policy["Statement"]:
        for a in as_list(st["Action"]):
            out.setdefault(a.lower(), []).extend(as_list(st["Resource"]))
    return out


def called_actions(calls: dict[str, set[str]]) -> set[str]:
    return {f"{svc}:{op}" for svc, ops in calls.items() for op in ops}


def main() -> None:
    t = Tally("iam-policy")
    policy = json.loads(POLICY.read_text())
    t.check(policy.get("Version") == "2012-10-17", "policy language version 2012-10-17")
    stmts = policy.get("Statement", [])
    t.check(all(s.get("Effect") == "Allow" for s in stmts), "every statement allows (nothing to deny)")
    t.check(all(set(s) == {"Sid", "Effect", "Action", "Resource"} for s in stmts),
            "statements carry only Sid, Effect, Action, Resource (no NotAction, NotResource)")
    sids = [s.get("Sid", "") for s in stmts]
    t.check(len(set(sids)) == len(sids) and all(re.fullmatch(r"[A-Za-z0-9]+", s) for s in sids),
            "Sids are unique and alphanumeric", str(sids))
    all_actions = [a for s in stmts for a in as_list(s["Action"])]
    t.check(not any("*" in a or "?" in a for a in all_actions), "no wildcard action", str(all_actions))

    # The IAM policy validator of moto (the Route 53 stand-in) checks syntax as IAM does.
    try:
        from moto.iam.policy_validation import IAMPolicyDocumentValidator
        IAMPolicyDocumentValidator(POLICY.read_text()).validate()
        t.check(True, "moto's IAM policy validator accepts the document")
    except ImportError:
        t.check(False, "moto is importable from .venv (run scripts/test-env up)")
    except Exception as e:  # the validator raises MalformedPolicyDocument
        t.check(False, "moto's IAM policy validator accepts the document", repr(e))

    # The SDK operation list agrees with the SDK's own, where its source is on this machine.
    table = aws_operations_table()
    sdk = yaml.safe_load((Path(__file__).parent / "aws-operations.yaml").read_text())["sdk"]
    registry = os.path.expanduser(os.environ.get("CARGO_HOME", "~/.cargo")) + "/registry/src/*/"
    lock = (ROOT / "Cargo.lock").read_text()
    for svc, crate in sdk.items():
        m = re.search(rf'name = "{crate}"\nversion = "([^"]+)"', lock)
        if not m:
            print(f"iam-policy: note: {crate} is not a dependency yet; its operation list is not compared")
            continue
        dirs = glob.glob(registry + f"{crate}-{m.group(1)}/src/operation")
        if not dirs:
            print(f"iam-policy: note: no source of {crate} {m.group(1)} in the cargo registry; list not compared")
            continue
        ops = {d for d in os.listdir(dirs[0]) if not d.endswith(".rs")}
        # Every operation must be listed, or a call to it would go unnoticed; a listed name
        # the SDK lacks can never be called, so it does no harm.
        t.check(ops <= table[svc], f"aws-operations.yaml lists every operation of {crate} {m.group(1)}",
                f"add to tests/packaging/aws-operations.yaml: {sorted(ops - table[svc])}")
    overlap = set.intersection(*table.values())
    t.check(not overlap, "no operation name belongs to two SDK clients", str(overlap))

    # What the code calls, from the source.
    calls = aws_calls()
    called = called_actions(calls)
    # The adapter also names each operation for its retry and metric labels: the two agree.
    labels = set()
    bodies = [p.read_text().split("#[cfg(test)]")[0] for p in (ROOT / "src").rglob("*.rs")]
    for body in bodies:
        labels |= set(re.findall(r'(?:self|self\s*\.\s*budget)\s*\.\s*call\(\s*"(\w+)"', body))
    by_method = set().union(*calls.values())
    t.check(labels == by_method, "the operations found by method name are the ones the adapter labels",
            f"by method: {sorted(by_method)}; labels: {sorted(labels)}")
    t.check(len(called) >= 7, f"found the code's AWS calls: {', '.join(sorted(called))}")

    granted = grants(policy)
    missing = sorted(a for a in called if a.lower() not in granted)
    t.check(not missing, "the policy grants every action the code calls", f"missing: {missing}")
    unused = sorted(a for a in granted if a not in {c.lower() for c in called})
    t.check(not unused, "the policy grants no action the code does not call", f"unused: {unused}")

    # Each action scoped as narrowly as IAM allows.
    for action in sorted(called):
        resources = granted.get(action.lower(), [])
        if action in RESOURCE_TYPES:
            rtype = RESOURCE_TYPES[action]
            t.check(bool(resources) and all(ARN_PATTERNS[rtype].match(r) for r in resources),
                    f"{action} is scoped to {rtype} ARNs", str(resources))
        elif action in NO_RESOURCE_TYPE:
            t.check(resources == ["*"], f"{action} supports no resource ARN and is granted on *", str(resources))
        else:
            t.check(False, f"{action} is classified in RESOURCE_TYPES or NO_RESOURCE_TYPE",
                    "read the Service Authorization Reference and add it")

    # The check itself: code that gains a call the policy lacks fails it.
    fake = {ROOT / "src/route53/extra.rs": "fn f(c: &Client) { c.get_dnssec().hosted_zone_id(\"Z\"); d.transfer_domain(); }"}
    extra = called_actions(aws_calls(fake))
    t.check(extra == {"route53:GetDnssec", "route53domains:TransferDomain"}
            and all(a.lower() not in granted for a in extra),
            "a new call in the source (.get_dnssec(), .transfer_domain()) is found and reported missing",
            str(extra))
    t.check(pascal("list_hosted_zones_by_name") == "ListHostedZonesByName", "snake_case maps to the IAM action name")
    t.done()


if __name__ == "__main__":
    main()
