#!/usr/bin/env python3
"""deploy/: `kubectl kustomize deploy/` builds; the result is hardened, its RBAC matches the
calls in src/, it validates strictly against Kubernetes' schemas, and it is the same
installation as the Helm chart with default values (release zoneshift, namespace
zoneshift-system), Helm's own labels aside."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from packaging_common import ROOT, Tally, cargo_version, kustomize
from packaging_k8s import check_args, check_hardening, check_names_and_labels, container, one, validate_strict

DEPLOY = ROOT / "deploy"
VALIDATOR = Path(sys.executable).parent / "kubernetes-validate"
HELM_ONLY_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by"}


def strip_helm(o: dict) -> dict:
    o = yaml.safe_load(yaml.safe_dump(o))
    for meta in (o["metadata"], o.get("spec", {}).get("template", {}).get("metadata", {})):
        for k in HELM_ONLY_LABELS:
            meta.get("labels", {}).pop(k, None)
    return o


def main() -> None:
    t = Tally("kustomize")
    try:
        objs = kustomize(DEPLOY)
        t.check(True, "kubectl kustomize deploy/ builds")
    except subprocess.CalledProcessError as e:
        t.check(False, "kubectl kustomize deploy/ builds", e.stderr)
        t.done()
    kinds = sorted(o["kind"] for o in objs)
    t.check(kinds == ["ClusterRole", "ClusterRole", "ClusterRoleBinding", "ClusterRoleBinding", "CustomResourceDefinition",
                      "Deployment", "Namespace", "Role", "RoleBinding", "ServiceAccount"],
            "it holds the namespace, CRD, ServiceAccount, RBAC and Deployment", str(kinds))
    t.check((DEPLOY / "crds" / "hostedzonemigration.yaml").read_bytes() == (ROOT / "crds" / "hostedzonemigration.yaml").read_bytes(),
            "deploy/crds/ holds crds/hostedzonemigration.yaml unchanged", "run: make crd")
    crd = one(objs, "CustomResourceDefinition")
    t.check(crd == yaml.safe_load((ROOT / "crds" / "hostedzonemigration.yaml").read_text()),
            "the built CRD is the generated one (kustomize changed nothing in it)")
    ns = one(objs, "Namespace")
    t.check(ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted",
            "the namespace enforces the restricted Pod Security Standard")
    t.check(all(o["metadata"].get("namespace") == "zoneshift-system" for o in objs
                if o["kind"] in ("Deployment", "ServiceAccount")), "namespaced objects land in zoneshift-system")
    deploy = one(objs, "Deployment")
    t.check(container(deploy)["image"] == f"zoneshift:{cargo_version()}", f"the image is tagged {cargo_version()} (Cargo.toml)")
    check_hardening(t, "deploy/", deploy)
    check_args(t, "deploy/", deploy)
    check_names_and_labels(t, "deploy/", objs)
    validate_strict(t, "deploy/", objs, VALIDATOR)

    # The same installation as the chart.
    try:
        import helm_python as helm
    except ImportError:
        t.check(False, "helm-python-sdk is installed in .venv (tests/packaging/run installs it)")
        t.done()
    with helm.Chart.load(str(ROOT / "charts" / "zoneshift")) as chart:
        rendered = chart.render({}, name="zoneshift", namespace="zoneshift-system")
    from packaging_common import load_all
    chart_objs = {(o["kind"], o["metadata"]["name"]): strip_helm(o)
                  for path, text in rendered.items() if not path.endswith("NOTES.txt") for o in load_all(text)}
    kust_objs = {(o["kind"], o["metadata"]["name"]): o for o in objs
                 if o["kind"] not in ("Namespace", "CustomResourceDefinition")}
    t.check(set(chart_objs) == set(kust_objs), "the chart and deploy/ create the same objects",
            f"chart only: {sorted(set(chart_objs) - set(kust_objs))}; deploy/ only: {sorted(set(kust_objs) - set(chart_objs))}")
    for key in sorted(set(chart_objs) & set(kust_objs)):
        same = chart_objs[key] == kust_objs[key]
        detail = ""
        if not same:
            a, b = yaml.safe_dump(chart_objs[key]).splitlines(), yaml.safe_dump(kust_objs[key]).splitlines()
            import difflib
            detail = "\n    ".join(difflib.unified_diff(a, b, "chart", "deploy/", lineterm="", n=1))
        t.check(same, f"{key[0]}/{key[1]} is the same in the chart and in deploy/", detail)
    t.done()


if __name__ == "__main__":
    main()
