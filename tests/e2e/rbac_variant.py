"""The chart's RBAC (as `helm template` renders it) less one rule, for tests/e2e/apiserver.sh.

    rbac_variant.py count RENDERED.yaml
        the number of rules over every Role and ClusterRole
    rbac_variant.py variant RENDERED.yaml CASE NAMESPACE SERVICEACCOUNT PREFIX
        prints the same roles without rule CASE ("full": none removed), renamed PREFIX-<n>,
        Roles moved to NAMESPACE, each bound to NAMESPACE/SERVICEACCOUNT; prints the removed
        rule on stderr
"""

from __future__ import annotations

import sys

import yaml


def roles(path: str) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    return [d for d in docs if d["kind"] in ("Role", "ClusterRole")]


def describe(rule: dict) -> str:
    groups = ",".join(g or "core" for g in rule.get("apiGroups", []))
    names = f" {','.join(rule['resourceNames'])}" if rule.get("resourceNames") else ""
    return f"{groups}/{','.join(rule['resources'])}{names}: {','.join(rule['verbs'])}"


def main() -> None:
    cmd, path = sys.argv[1], sys.argv[2]
    rs = roles(path)
    if cmd == "count":
        print(sum(len(r["rules"]) for r in rs))
        return
    case, ns, sa, prefix = sys.argv[3:7]
    drop = None if case == "full" else int(case)
    out = []
    k = 0
    for n, role in enumerate(rs):
        rules = []
        for rule in role["rules"]:
            if k == drop:
                print(f"{role['kind']} {role['metadata']['name']}: {describe(rule)}", file=sys.stderr)
            else:
                rules.append(rule)
            k += 1
        name = f"{prefix}-{n}"
        meta = {"name": name}
        if role["kind"] == "Role":
            meta["namespace"] = ns
        out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": role["kind"], "metadata": meta,
                    "rules": rules})
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1",
                   "kind": "RoleBinding" if role["kind"] == "Role" else "ClusterRoleBinding",
                   "metadata": dict(meta),
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role["kind"], "name": name},
                   "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]}
        out.append(binding)
    if drop is not None and drop >= k:
        sys.exit(f"no rule {drop}: the chart has {k}")
    yaml.safe_dump_all(out, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
