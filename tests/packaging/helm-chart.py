#!/usr/bin/env python3
"""The Helm chart charts/zoneshift, rendered by Helm's own template engine (Helm 4's Go SDK,
PyPI helm-python-sdk; no helm binary): lint, schema, names and labels, hardening, RBAC derived
from src/, every operator flag, strict validation against Kubernetes' schemas."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import jsonschema
import yaml

from packaging_common import ROOT, Tally, cargo_version, load_all
from packaging_k8s import (KUBE_VERSION, by_kind, check_args, check_hardening, check_names_and_labels,
                           container, main_rs_flags, one, validate_strict)

CHART = ROOT / "charts" / "zoneshift"
VALIDATOR = Path(sys.executable).parent / "kubernetes-validate"
RELEASE, NAMESPACE = "zoneshift", "zoneshift-system"

# Each flag of `zoneshift run` -> its key under `operator` in values.yaml and a value other
# than the default, to see it reach the container's arguments.
FLAG_VALUES = {
    "--route53-endpoint": ("route53Endpoint", "http://127.0.0.1:4566"),
    "--route53-rps": ("route53Rps", 10),
    "--route53-burst": ("route53Burst", 2),
    "--parallel-passes": ("parallelPasses", 4),
    "--cloudflare-api-url": ("cloudflareApiUrl", "http://127.0.0.1:4580/client/v4"),
    "--cloudflare-rps": ("cloudflareRps", 2),
    "--resync-interval": ("resyncInterval", "15m"),
    "--full-compare-interval": ("fullCompareInterval", "2h"),
    "--change-poll-interval": ("changePollInterval", "2s"),
    "--import-interval": ("importInterval", "1m"),
    "--dns-timeout": ("dnsTimeout", "3s"),
    "--verify-concurrency": ("verifyConcurrency", 8),
    "--resolver": ("resolver", "127.0.0.53:53"),
    "--allowed-role-arns": ("allowedRoleArns", ["arn:aws:iam::123456789012:role/dns-*"]),
    "--allowed-source-networks": ("allowedSourceNetworks", ["192.0.2.0/24", "2001:db8::/32"]),
    "--delegation-poll-interval": ("delegationPollInterval", "10s"),
    "--source-probe-interval": ("sourceProbeInterval", "2m"),
    "--admin-addr": ("adminAddr", "127.0.0.1:9090"),
    "--leader-election": ("leaderElection", True),  # a switch: passed bare
    "--leader-election-namespace": ("leaderElectionNamespace", "ops"),
    "--leader-election-lease": ("leaderElectionLease", "zs-leader"),
    "--leader-election-lease-duration": ("leaderElectionLeaseDuration", "30s"),
    "--namespace": ("watchNamespace", "dns"),
    "--log-format": ("logFormat", "text"),
}


def main() -> None:
    t = Tally("helm-chart")
    try:
        import helm_python as helm
    except ImportError:
        t.check(False, "helm-python-sdk is installed in .venv (tests/packaging/run installs it)")
        t.done()
    from helm_python import _native
    print(f"helm-chart: rendering with Helm {_native.helm_sdk_version()} (helm-python-sdk)")

    crd = (CHART / "crds" / "hostedzonemigration.yaml").read_bytes()
    t.check(crd == (ROOT / "crds" / "hostedzonemigration.yaml").read_bytes(),
            "charts/zoneshift/crds/ holds crds/hostedzonemigration.yaml unchanged", "run: make crd")
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    t.check(meta["version"] == meta["appVersion"] == cargo_version(),
            f"Chart version and appVersion equal Cargo.toml's ({cargo_version()})")

    report = helm.lint(str(CHART), strict=True, kube_version=f"v{KUBE_VERSION}", namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report.get("errors", [])
    t.check(not problems, f"helm lint --strict --kube-version {KUBE_VERSION} finds nothing", str(problems))

    values_text = (CHART / "values.yaml").read_text()
    defaults = yaml.safe_load(values_text)
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(defaults)]
    t.check(not errors, "values.yaml validates against values.schema.json (jsonschema, draft 7)", str(errors))

    with helm.Chart.load(str(CHART)) as chart:
        def render(values: dict | None = None, name: str = RELEASE, namespace: str = NAMESPACE) -> tuple[list[dict], str]:
            out = chart.render(values or {}, name=name, namespace=namespace)
            objs = [o for path, text in sorted(out.items()) if not path.endswith("NOTES.txt") for o in load_all(text)]
            return objs, out.get("zoneshift/templates/NOTES.txt", "")

        # Defaults: the installation docs/install.md describes.
        objs, notes = render()
        kinds = sorted(o["kind"] for o in objs)
        t.check(kinds == ["ClusterRole", "ClusterRole", "ClusterRoleBinding", "ClusterRoleBinding", "Deployment",
                          "Role", "RoleBinding", "ServiceAccount"],
                "default values render the ServiceAccount, the ClusterRoles (operator, CRD), the leader Role, "
                "their bindings, and the Deployment", str(kinds))
        t.check(all(o["metadata"].get("namespace") == NAMESPACE for o in objs if o["kind"] in ("Deployment", "ServiceAccount")),
                "namespaced objects land in the release's namespace")
        deploy = one(objs, "Deployment")
        t.check(container(deploy)["image"] == f"zoneshift:{meta['appVersion']}", "the image tag defaults to appVersion")
        check_hardening(t, "defaults", deploy)
        check_args(t, "defaults", deploy)
        check_names_and_labels(t, "defaults", objs)
        validate_strict(t, "defaults", objs, VALIDATOR)
        t.check("watching all namespaces" in notes and "Pod Identity" in notes, "NOTES.txt renders")

        # Every flag: values.yaml has it, documents it, and passes it.
        flags = main_rs_flags()
        t.check(set(FLAG_VALUES) == set(flags), "every flag of `zoneshift run` has a value in values.yaml (FLAG_VALUES)",
                f"src/cli/run.rs: {sorted(flags)}; here: {sorted(FLAG_VALUES)}")
        for flag, (key, _) in FLAG_VALUES.items():
            t.check(key in defaults["operator"] and f"# {flag}:" in values_text,
                    f"values.yaml has operator.{key} and documents it as {flag}")
        every = {"operator": {k: v for k, v in FLAG_VALUES.values()} | {"logLevel": "debug"}}
        objs, _ = render(every)
        args = container(one(objs, "Deployment"))["args"]
        for flag, (key, value) in FLAG_VALUES.items():
            shown = ",".join(value) if isinstance(value, list) else value
            want = flag if value is True else f"{flag}={shown}"
            t.check(want in args, f"operator.{key} reaches the container as {want}", str(args))
        env = {e["name"]: e.get("value") for e in container(one(objs, "Deployment"))["env"]}
        t.check(env.get("RUST_LOG") == "debug", "operator.logLevel reaches the container as RUST_LOG")
        check_args(t, "every flag", one(objs, "Deployment"))
        c = container(one(objs, "Deployment"))
        t.check([p["containerPort"] for p in c["ports"]] == [9090] and c["readinessProbe"]["httpGet"]["path"] == "/readyz",
                "the container port follows operator.adminAddr; one replica is ready on /readyz")

        # Two replicas with leader election: the standby never syncs its cache, so readiness is
        # /livez, or it would stay unready and hold every rollout.
        objs, _ = render({"replicaCount": 2, "operator": {"leaderElection": True}})
        d = one(objs, "Deployment")
        t.check(d["spec"]["replicas"] == 2 and "--leader-election" in container(d)["args"]
                and container(d)["readinessProbe"]["httpGet"]["path"] == "/livez",
                "replicaCount 2 with leader election: two replicas, --leader-election, readiness on /livez")
        validate_strict(t, "two replicas", objs, VALIDATOR)

        # One namespace: a Role and RoleBinding there, no cluster-wide grant.
        objs, notes = render({"operator": {"watchNamespace": "dns"}})
        kinds = by_kind(objs)
        roles = {o["metadata"]["name"]: o for o in kinds.get("Role", [])}
        t.check(roles.get(RELEASE, {}).get("metadata", {}).get("namespace") == "dns"
                and [o["metadata"]["namespace"] for o in kinds.get("RoleBinding", []) if o["roleRef"]["name"] == RELEASE] == ["dns"],
                "operator.watchNamespace grants the operator's rules as a Role in that namespace")
        cluster_rules = [r for o in kinds.get("ClusterRole", []) for r in o["rules"]]
        t.check(cluster_rules == [{"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
                                   "resourceNames": ["hostedzonemigrations.zoneshift.io"], "verbs": ["list", "watch"]}],
                "with operator.watchNamespace the only cluster-wide grant is the watch of zoneshift's own CRD",
                str(cluster_rules))
        lease_roles = [o for o in kinds.get("Role", []) if o["metadata"]["name"] == f"{RELEASE}-leader"]
        t.check([o["metadata"]["namespace"] for o in lease_roles] == [NAMESPACE],
                "the leader Lease's Role is in the release's namespace")
        t.check("--namespace=dns" in container(one(objs, "Deployment"))["args"], "operator.watchNamespace passes --namespace")
        check_names_and_labels(t, "one namespace", objs)
        validate_strict(t, "one namespace", objs, VALIDATOR)

        # The optional parts.
        extras = {
            "metrics": {"enabled": True, "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
            "probes": {"enabled": True},
            "podDisruptionBudget": {"enabled": True},
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/zoneshift"}},
            "aws": {"region": "eu-west-1"},
            "image": {"repository": "registry.example/zoneshift", "digest": "sha256:" + "a" * 64},
            "extraArgs": ["--log-format=text"],
            "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://127.0.0.1:3128"}],
            "podLabels": {"team": "dns"},
        }
        objs, notes = render(extras)
        kinds = by_kind(objs)
        t.check(all(k in kinds for k in ("Service", "ServiceMonitor", "PodDisruptionBudget")),
                "metrics.enabled, serviceMonitor and podDisruptionBudget render their objects", str(sorted(kinds)))
        sa = one(objs, "ServiceAccount")
        t.check(sa["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn", "").endswith(":role/zoneshift"),
                "serviceAccount.annotations carry the IRSA role")
        t.check(container(one(objs, "Deployment"))["image"] == "registry.example/zoneshift@sha256:" + "a" * 64,
                "image.digest pins the image")
        check_hardening(t, "every option", one(objs, "Deployment"))
        check_names_and_labels(t, "every option", objs)
        validate_strict(t, "every option", objs, VALIDATOR)
        t.check("Pod Identity" not in notes, "NOTES.txt stops asking for credentials once IRSA is set")

        # A short release name gets the chart's name appended; an override wins.
        objs, _ = render({}, name="dns-prod")
        t.check(one(objs, "Deployment")["metadata"]["name"] == "dns-prod-zoneshift", "release dns-prod is named dns-prod-zoneshift")
        check_names_and_labels(t, "release dns-prod", objs)
        objs, _ = render({"fullnameOverride": "zs", "serviceAccount": {"name": "zs-operator"}})
        t.check(one(objs, "Deployment")["metadata"]["name"] == "zs"
                and one(objs, "ServiceAccount")["metadata"]["name"] == "zs-operator", "fullnameOverride and serviceAccount.name apply")
        check_names_and_labels(t, "overrides", objs)

        # The schema refuses what would break the operator, before anything reaches a cluster.
        bad = {
            "replicaCount 2 without leader election": {"replicaCount": 2},
            "an unknown top-level value": {"replicas": 1},
            "an unknown operator flag": {"operator": {"leaderElect": True}},
            "a Route 53 rate of 0": {"operator": {"route53Rps": 0}},
            "a duration humantime cannot parse": {"operator": {"resyncInterval": "10 minutes please"}},
            "a log format the binary lacks": {"operator": {"logFormat": "xml"}},
            "a namespace that is no DNS label": {"operator": {"watchNamespace": "Not_A_Namespace"}},
            "an endpoint that is no URL": {"operator": {"route53Endpoint": "127.0.0.1:4566"}},
            "a resolver with a space in it": {"operator": {"resolver": "127.0.0.53 53"}},
            "a probe interval humantime cannot parse": {"operator": {"sourceProbeInterval": "often"}},
            "a digest that is no sha256": {"image": {"digest": "latest"}},
            "an admin address without a port": {"operator": {"adminAddr": "0.0.0.0"}},
            "an admin address that is a host name": {"operator": {"adminAddr": "localhost:8080"}},
            "a source network that is a host name": {"operator": {"allowedSourceNetworks": ["cafe.be"]}},
            "a source network with a space in it": {"operator": {"allowedSourceNetworks": ["10.0.0.0 /8"]}},
        }
        for what, values in bad.items():
            try:
                render(values)
                t.check(False, f"the schema refuses {what}")
            except Exception as e:  # HelmValuesError
                t.check("values don't meet the specifications" in str(e), f"the schema refuses {what}", str(e))
        for what, values in {"durations like 1h 30m": {"operator": {"resyncInterval": "1h 30m"}},
                             "replicaCount 0 (a paused operator)": {"replicaCount": 0},
                             "replicaCount 2 with leader election": {"replicaCount": 2, "operator": {"leaderElection": True}},
                             "an IPv6 admin address": {"operator": {"adminAddr": "[::]:8080"}}}.items():
            try:
                render(values)
                t.check(True, f"the schema accepts {what}")
            except Exception as e:
                t.check(False, f"the schema accepts {what}", str(e))

        # Every value in values.yaml is described by the schema (additionalProperties: false
        # everywhere it matters), so a typo in a user's values file fails the install.
        typo = copy.deepcopy(defaults)
        typo["serviceAccount"]["anotations"] = {}
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(typo))
        t.check(bool(errors), "a misspelt key (serviceAccount.anotations) is refused")
    t.done()


if __name__ == "__main__":
    main()
