"""Checks of rendered Kubernetes manifests that the chart and the kustomize tests share:
hardening, names and labels that must agree, strict validation against Kubernetes' schemas."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import yaml

from packaging_common import ROOT, Tally, check_rbac

KUBE_VERSION = "1.32.0"  # the oldest Kubernetes zoneshift supports (README, "Versions")
# The measured defaults of docs/benchmarks.md ("Operator memory and CPU"); docs.py checks that
# the page and the chart's README state these same figures.
EXPECTED_RESOURCES = {
    "requests": {"cpu": "25m", "memory": "192Mi"},
    "limits": {"cpu": "1000m", "memory": "384Mi"},
}
SELECTOR_KEYS = {"app.kubernetes.io/name", "app.kubernetes.io/instance"}
COMMON_LABELS = SELECTOR_KEYS | {"app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/version"}


def main_rs_flags() -> dict[str, str | None]:
    """The long flags of `zoneshift run` (src/cli/run.rs) and their environment variables."""
    text = (ROOT / "src/cli/run.rs").read_text()
    body = text[text.index("pub struct Args"):]
    body = body[:body.index("\n}\n")]
    flags: dict[str, str | None] = {}
    for attrs, field in re.findall(r"((?:#\[arg\([^\]]*\)\]\s*)+)(?:pub\s+)?(\w+)\s*:", body):
        if "long" in attrs:
            env = re.search(r'env\s*=\s*"([^"]+)"', attrs)
            flags["--" + field.replace("_", "-")] = env.group(1) if env else None
    return flags


def by_kind(objs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for o in objs:
        out.setdefault(o["kind"], []).append(o)
    return out


def one(objs: list[dict], kind: str) -> dict:
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(deploy: dict) -> dict:
    return deploy["spec"]["template"]["spec"]["containers"][0]


def check_hardening(t: Tally, label: str, deploy: dict) -> None:
    pod = deploy["spec"]["template"]["spec"]
    c = container(deploy)
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    t.check(psc.get("runAsNonRoot") is True and csc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0,
            f"{label}: runs as non-root")
    t.check(csc.get("readOnlyRootFilesystem") is True, f"{label}: read-only root filesystem")
    t.check(csc.get("allowPrivilegeEscalation") is False and csc.get("privileged") in (False, None),
            f"{label}: no privilege escalation, not privileged")
    t.check(csc.get("capabilities", {}).get("drop") == ["ALL"] and not csc.get("capabilities", {}).get("add"),
            f"{label}: all capabilities dropped, none added")
    t.check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
            and csc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{label}: seccomp RuntimeDefault")
    t.check(c.get("resources") == EXPECTED_RESOURCES, f"{label}: resource requests and limits are set",
            str(c.get("resources")))
    t.check(not any(v.get("hostPath") for v in pod.get("volumes", [])) and not pod.get("hostNetwork")
            and not pod.get("hostPID"), f"{label}: no host namespaces or host paths")
    t.check(deploy["spec"].get("replicas") == 1 and deploy["spec"].get("strategy", {}).get("type") == "Recreate",
            f"{label}: one replica, Recreate (the default: more need --leader-election)")
    env = {e["name"]: e for e in c.get("env", [])}
    t.check(env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
            f"{label}: POD_NAME names the event reporter")


def check_args(t: Tally, label: str, deploy: dict) -> None:
    """Every flag passed exists in src/cli/run.rs; nothing is invented."""
    known = main_rs_flags()
    args = container(deploy).get("args", [])
    t.check(args[:1] == ["run"], f"{label}: runs `zoneshift run`")
    passed = [a.split("=", 1)[0] for a in args[1:] if a.startswith("--")]
    t.check(set(passed) <= set(known), f"{label}: every flag passed exists in src/cli/run.rs",
            f"unknown: {sorted(set(passed) - set(known))}")


def check_names_and_labels(t: Tally, label: str, objs: list[dict]) -> None:
    kinds = by_kind(objs)
    deploy = one(objs, "Deployment")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    selector = deploy["spec"]["selector"]["matchLabels"]
    t.check(set(selector) == SELECTOR_KEYS, f"{label}: the Deployment selects on name and instance only", str(selector))
    t.check(all(pod_labels.get(k) == v for k, v in selector.items()), f"{label}: the selector matches the pod's labels")
    for o in objs:
        if o["kind"] in ("CustomResourceDefinition", "Namespace"):
            continue
        labels = o["metadata"].get("labels", {})
        t.check(COMMON_LABELS <= set(labels) and all(labels[k] == selector[k] for k in SELECTOR_KEYS),
                f"{label}: {o['kind']}/{o['metadata']['name']} carries the common labels", str(labels))
    sa_name = deploy["spec"]["template"]["spec"].get("serviceAccountName")
    sas = kinds.get("ServiceAccount", [])
    t.check(len(sas) == 1 and sas[0]["metadata"]["name"] == sa_name
            and sas[0]["metadata"].get("namespace") == deploy["metadata"].get("namespace"),
            f"{label}: the pod runs as the ServiceAccount the chart creates")
    for kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        for b in kinds.get(kind, []):
            roles = [r["metadata"]["name"] for r in kinds.get(role_kind, [])]
            t.check(b["roleRef"]["kind"] == role_kind and b["roleRef"]["name"] in roles,
                    f"{label}: {kind} {b['metadata']['name']} refers to a {role_kind} that exists")
            t.check(b["subjects"] == [{"kind": "ServiceAccount", "name": sa_name,
                                       "namespace": deploy["metadata"].get("namespace")}],
                    f"{label}: {kind} binds exactly the operator's ServiceAccount", str(b["subjects"]))
    ports = {p["name"] for p in container(deploy).get("ports", [])}
    for svc in kinds.get("Service", []):
        t.check(svc["spec"]["selector"] == selector, f"{label}: Service {svc['metadata']['name']} selects the pod")
        t.check(all(p.get("targetPort") in ports for p in svc["spec"]["ports"]),
                f"{label}: Service {svc['metadata']['name']} targets a named container port", str(ports))
    for sm in kinds.get("ServiceMonitor", []):
        svcs = kinds.get("Service", [])
        t.check(any(all(s["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
                    and any(p["name"] == sm["spec"]["endpoints"][0]["port"] for p in s["spec"]["ports"]) for s in svcs),
                f"{label}: the ServiceMonitor selects the metrics Service and its port")
    for pdb in kinds.get("PodDisruptionBudget", []):
        t.check(pdb["spec"]["selector"]["matchLabels"] == selector, f"{label}: the PodDisruptionBudget selects the pod")
    for probe in ("livenessProbe", "readinessProbe"):
        p = container(deploy).get(probe)
        if p:
            t.check(p["httpGet"]["port"] in ports, f"{label}: the {probe} uses a named container port")
    rules = [r for k in ("ClusterRole", "Role") for o in kinds.get(k, []) for r in o["rules"]]
    check_rbac(t, label, rules)


def validate_strict(t: Tally, label: str, objs: list[dict], validator: Path) -> None:
    """Every object validates strictly (unknown fields are errors) against Kubernetes' schemas.
    The ServiceMonitor (a prometheus-operator CRD) has no schema there and is skipped."""
    objs = [o for o in objs if o["kind"] != "ServiceMonitor"]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump_all(objs, f)
    r = subprocess.run([str(validator), "--strict", "--quiet", "-k", KUBE_VERSION, f.name],
                       capture_output=True, text=True)
    Path(f.name).unlink()
    t.check(r.returncode == 0, f"{label}: {len(objs)} objects validate strictly against Kubernetes {KUBE_VERSION}",
            (r.stdout + r.stderr).strip()[-2000:])
