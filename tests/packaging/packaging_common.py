"""What the packaging tests share: a pass/fail tally, the repository's paths, and the facts
derived from src/ (the Kubernetes API calls and the AWS operations the code makes)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


class Tally:
    """Counts checks; `done()` prints "N passed, N failed" and exits non-zero on a failure."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"{self.name}: ok: {what}")
        else:
            self.failed += 1
            print(f"{self.name}: FAIL: {what}" + (f"\n    {detail}" if detail else ""))
        return ok

    def done(self) -> None:
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)


def load_all(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def kustomize(path: Path) -> list[dict]:
    out = subprocess.run(["kubectl", "kustomize", str(path)], check=True, capture_output=True, text=True)
    return load_all(out.stdout)


def cargo_version() -> str:
    m = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M)
    assert m, "no version in Cargo.toml"
    return m.group(1)


def rust_sources() -> dict[Path, str]:
    return {p: p.read_text() for p in sorted(SRC.rglob("*.rs"))}


# --- Kubernetes API calls -------------------------------------------------------------------
#
# Each entry: a pattern in src/ and the (apiGroup, resource, verb) triples it needs. The
# patterns are kube-rs's entry points; what each one calls was read in kube-runtime 4.2's
# source (Controller: list+watch; finalizer(): JSON patch; Recorder: create, then merge patch
# of a repeated event). A kube entry point in src/ that no entry matches fails the tests, so
# new calls cannot slip past the RBAC rules. A watcher stream (`watcher(api, ..)`, as
# `Controller::for_stream` is fed, and `await_condition(api, name, ..)`, which watches one
# object by a metadata.name field selector) is the exception: it lists and watches whatever
# its Api names, so `WATCH_CALLS` below finds that Api's type.
HZM = ("zoneshift.io", "hostedzonemigrations")
API_CALL_PATTERNS: list[tuple[str, str, set[tuple[str, str, str]]]] = [
    ("the controller watches HostedZoneMigrations", r"Controller::new\(",
     {(*HZM, "list"), (*HZM, "watch")}),
    ("the finalizer helper patches metadata.finalizers", r"\bfinalizer\(",
     {(*HZM, "patch")}),
    ("status is written by server-side apply", r"\.patch_status\(",
     {("zoneshift.io", "hostedzonemigrations/status", "patch")}),
    ("the event Recorder creates and patches events", r"Recorder::new\(",
     {("events.k8s.io", "events", "create"), ("events.k8s.io", "events", "patch")}),
]
# Types an `Api<T>` may name, with the resource they address. An Api of another type fails
# the tests until it is added here (and its rules to the chart and deploy/).
API_TYPES = {
    "HostedZoneMigration": HZM,
    "Secret": ("", "secrets"),
    "ConfigMap": ("", "configmaps"),
    "Lease": ("coordination.k8s.io", "leases"),
    "CustomResourceDefinition": ("apiextensions.k8s.io", "customresourcedefinitions"),
}
# kube entry points the table above must account for; group 1 is the type of an Api<T>.
KUBE_ENTRY_POINTS = re.compile(
    r"Controller::new\(|\bfinalizer\(|\.patch_status\(|\.replace_status\(|Recorder::new\(|"
    r"\bwatcher\(|\breflector\(|\bmetadata_watcher\(|\bawait_condition\(|\bwatch_object\(|LeaseLock|"
    r"\bApi(?:::)?<\s*(\w+)"
)
# watcher(api, ..), metadata_watcher(api, ..), await_condition(api, ..) and watch_object(api, ..):
# a list, then a watch, of the resource of `api` (or `api.clone()`), an `Api<T>` binding of the
# same file. Group 1 is the binding's name.
WATCH_CALLS = re.compile(r"\b(?:metadata_watcher|watcher|await_condition|watch_object)\(\s*(\w+)(?:\.clone\(\))?\s*[,)]")
# `name: Api<T>` or `name: kube::Api<T>` (a let binding, an argument or a struct field).
API_BINDINGS = re.compile(r"\b(\w+)\s*:\s*&?\s*(?:\w+::)*Api<\s*(\w+)\s*>")
# Methods of kube::Api that call the API server, and the verb each one needs.
API_METHOD_VERBS = {
    "get": "get", "get_opt": "get", "list": "list", "watch": "watch", "create": "create",
    "replace": "update", "delete": "delete", "delete_collection": "deletecollection",
    "patch": "patch", "get_status": "get", "patch_status": "patch", "replace_status": "update",
}


def required_permissions(sources: dict[Path, str] | None = None) -> tuple[set[tuple[str, str, str]], list[str]]:
    """The (apiGroup, resource, verb) triples src/ needs, and the calls nothing accounts for."""
    sources = sources if sources is not None else rust_sources()
    needed: set[tuple[str, str, str]] = set()
    unknown: list[str] = []
    for path, text in sources.items():
        where = path.relative_to(ROOT)
        body = text.split("#[cfg(test)]")[0]  # unit tests use fakes, not the API server
        for _, pattern, perms in API_CALL_PATTERNS:
            if re.search(pattern, body):
                needed |= perms
        bindings = set(API_BINDINGS.findall(body))
        watched = {}
        for var in WATCH_CALLS.findall(body):
            kinds = {k for v, k in bindings if v == var}
            if len(kinds) == 1 and next(iter(kinds)) in API_TYPES:
                watched[var] = API_TYPES[next(iter(kinds))]
        for group, resource in watched.values():
            needed |= {(group, resource, "list"), (group, resource, "watch")}
        for m in KUBE_ENTRY_POINTS.finditer(body):
            token = m.group(0)
            if any(re.fullmatch(p, token) for _, p, _ in API_CALL_PATTERNS):
                continue
            if m.group(1) in API_TYPES:
                continue  # its calls are the patterns above or the method calls below
            if token in ("watcher(", "metadata_watcher(", "await_condition(", "watch_object("):
                arg = WATCH_CALLS.match(body, m.start())
                if arg and arg.group(1) in watched:
                    continue  # a watcher of an Api whose type is known: list and watch
            unknown.append(f"{where}: {token}")
        # Direct calls on an Api<T> binding (api.get(...), secrets.get_opt(...)).
        for var, kind in bindings:
            if kind not in API_TYPES:
                continue  # reported above
            group, resource = API_TYPES[kind]
            for method in re.findall(rf"\b{var}\s*\.\s*(\w+)\s*(?:::<[^>]*>)?\(", body):
                if method in API_METHOD_VERBS:
                    sub = "/status" if method.endswith("_status") else ""
                    needed.add((group, resource + sub, API_METHOD_VERBS[method]))
                elif method != "clone":
                    unknown.append(f"{where}: {var}.{method}()")
    return needed, unknown


def granted_permissions(rules: list[dict]) -> set[tuple[str, str, str]]:
    out = set()
    for r in rules:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    out.add((g, res, v))
    return out


def check_rbac(t: Tally, label: str, rules: list[dict]) -> None:
    needed, unknown = required_permissions()
    granted = granted_permissions(rules)
    t.check(not unknown, f"{label}: every Kubernetes API call in src/ is accounted for",
            "unknown kube calls (add them to API_CALL_PATTERNS and the RBAC rules): " + "; ".join(unknown))
    t.check(needed <= granted, f"{label}: RBAC covers every API call the code makes",
            f"missing: {sorted(needed - granted)}")
    t.check(granted <= needed, f"{label}: RBAC grants nothing the code does not use",
            f"unused: {sorted(granted - needed)}")
    wild = [r for r in rules if "*" in r.get("verbs", []) + r.get("resources", []) + r.get("apiGroups", [])]
    t.check(not wild, f"{label}: no wildcard in RBAC rules", str(wild))


# --- Condition reasons ----------------------------------------------------------------------
#
# The vocabulary is spelled once, in src/api/vocabulary.rs; `zoneshift vocabulary` prints it. The
# health of a reason is the one deploy/argocd/health.lua must give a resource whose Ready
# condition carries it (tests/vocabulary.rs keeps health.lua's tables generated from it).

def vocabulary() -> dict:
    """The condition types, reasons and phases, from the binary (built when missing)."""
    import json
    binary = ROOT / "target/debug/zoneshift"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--quiet"], cwd=ROOT, check=True)
    out = subprocess.run([str(binary), "vocabulary"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


VOCABULARY = vocabulary()
CONDITION_TYPES = set(VOCABULARY["conditions"])
REASON_HEALTH = {r["reason"]: r["health"] for r in VOCABULARY["reasons"] if r["health"] != "EventOnly"}
# Event reasons: kubectl describe shows them; health does not read events.
NOT_CONDITION_REASONS = {r["reason"] for r in VOCABULARY["reasons"] if r["health"] == "EventOnly"}

# --- AWS operations -------------------------------------------------------------------------

def aws_operations_table() -> dict[str, set[str]]:
    """Every operation of the SDK clients the code may use, by IAM service prefix
    (snake_case fluent-builder names, from aws-operations.yaml)."""
    data = yaml.safe_load((Path(__file__).parent / "aws-operations.yaml").read_text())
    return {svc: set(ops) for svc, ops in data["services"].items()}


def aws_calls(sources: dict[Path, str] | None = None) -> dict[str, set[str]]:
    """IAM actions (service -> PascalCase operation names) called by src/: each zero-argument
    method call `.create_hosted_zone()` whose name is an operation of an SDK client."""
    sources = sources if sources is not None else rust_sources()
    table = aws_operations_table()
    calls: dict[str, set[str]] = {svc: set() for svc in table}
    for text in sources.values():
        body = text.split("#[cfg(test)]")[0]
        for name in re.findall(r"\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)", body):
            for svc, ops in table.items():
                if name in ops:
                    calls[svc].add(pascal(name))
    return calls


def pascal(snake: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in snake.split("_"))
