#!/usr/bin/env python3
"""A small in-memory Kubernetes API server for zoneshift's tests.

It speaks enough of the real API for `kubectl` 1.32 and a kube-rs 4.x
`Controller` (list + watch, patch, status, finalizers, events, leases):
discovery, CRD registration, CRUD with resourceVersion/generation/uid,
the /status subresource, merge / JSON / server-side-apply patches,
finalizer-aware deletion, label and field selectors, paging, watches that
resume from a resourceVersion, CRD schema pruning and defaulting, and
server-side printing (Tables) so `kubectl get` shows printer columns.

Why not kmock's KubernetesEmulator: kmock 0.8 parses every request path
before any hook a subclass can override, and that parser fails on
`/api/v1/namespaces` (HTTP 500). Its emulator also merges every write
naively (no status subresource, no PUT, no generation). Fixing that would
mean replacing all of it, so this server uses aiohttp (kmock's own HTTP
layer) directly. tests/README.md lists what it does NOT do.

Run:  python3 server.py --port 16443 [--crd crds/x.yaml ...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextvars
import copy
import datetime
import hashlib
import ipaddress
import itertools
import json
import logging
import random
import re
import string
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import yaml
from aiohttp import web

log = logging.getLogger("kube-emulator")

JSON = dict[str, Any]
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
EVENT_LOG_SIZE = 10_000  # watch history kept for resuming; older resourceVersions get 410 Gone
BOOKMARK_EVERY = 15.0  # seconds between BOOKMARK events on idle watches that allow them
# The request's ?fieldValidation= (Strict makes unknown fields an error instead of pruning them).
FIELD_VALIDATION: contextvars.ContextVar[str] = contextvars.ContextVar("field_validation", default="")


# --------------------------------------------------------------------------------------------
# Errors: always rendered as a v1 Status, which is what kubectl and kube-rs decode.


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> JSON:
        out = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            out["details"] = self.details
        return out


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def no_such_resource() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


# --------------------------------------------------------------------------------------------
# Resource types: built-ins below, custom ones registered from CustomResourceDefinitions.


@dataclass
class ResourceType:
    group: str
    plural: str
    kind: str
    namespaced: bool
    versions: list[str]  # served versions, preferred first
    singular: str = ""
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    status_subresource: bool = False
    custom: bool = False  # defined by a CRD: custom-resource rules apply (no SMP, schema, ...)
    schemas: dict[str, JSON] = field(default_factory=dict)  # version -> openAPIV3Schema
    columns: dict[str, list[JSON]] = field(default_factory=dict)  # version -> printer columns

    def gv(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def qualified(self) -> str:  # how the API names it in messages: "hostedzonemigrations.zoneshift.io"
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def details(self, name: str) -> JSON:
        return {"name": name, "group": self.group, "kind": self.plural}


def _builtin(group: str, version: str, plural: str, kind: str, namespaced: bool,
             short: Iterable[str] = (), status: bool = False) -> ResourceType:
    return ResourceType(group, plural, kind, namespaced, [version], kind.lower(), list(short),
                        status_subresource=status)


# What zoneshift talks to, plus inert kinds so `kubectl apply -k deploy/` can be stored (nothing runs them).
BUILTINS = [
    _builtin("", "v1", "namespaces", "Namespace", False, ["ns"], status=True),
    _builtin("", "v1", "configmaps", "ConfigMap", True, ["cm"]),
    _builtin("", "v1", "secrets", "Secret", True),
    _builtin("", "v1", "events", "Event", True, ["ev"]),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", True, ["sa"]),
    _builtin("", "v1", "services", "Service", True, ["svc"], status=True),
    _builtin("events.k8s.io", "v1", "events", "Event", True, ["ev"]),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease", True),
    _builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
             False, ["crd", "crds"], status=True),
    _builtin("apps", "v1", "deployments", "Deployment", True, ["deploy"], status=True),
    _builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
]
INITIAL_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"]


def version_priority(v: str) -> tuple:
    """Kubernetes' version order: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > anything else."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (0, 0, 0, v)
    stability = {"alpha": 1, "beta": 2, None: 3}[m.group(2)]
    return (1, stability, int(m.group(1)), int(m.group(3) or 0))


def type_from_crd(crd: JSON) -> ResourceType:
    """Build the served resource type from a CRD, or raise 422 like the API server would."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    versions = [v for v in spec.get("versions") or [] if v.get("served", True) and v.get("name")]
    problems = [f"{f}: Required value" for f, ok in [
        ("spec.group", group), ("spec.names.plural", plural), ("spec.names.kind", kind),
        ("spec.versions", versions), ("spec.scope", spec.get("scope") in ("Namespaced", "Cluster"))] if not ok]
    name = (crd.get("metadata") or {}).get("name")
    if not problems and name != f"{plural}.{group}":
        problems.append(f'metadata.name: Invalid value: "{name}": must be spec.names.plural+"."+spec.group')
    if problems:
        raise ApiError(422, "Invalid",
                       f'CustomResourceDefinition.apiextensions.k8s.io "{name}" is invalid: ' + ", ".join(problems),
                       {"name": name, "group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition"})
    versions.sort(key=lambda v: version_priority(v["name"]), reverse=True)
    return ResourceType(
        group=group, plural=plural, kind=kind, namespaced=spec["scope"] == "Namespaced",
        versions=[v["name"] for v in versions], singular=names.get("singular") or kind.lower(),
        short_names=list(names.get("shortNames") or []), categories=list(names.get("categories") or []),
        # The status subresource is per version in reality; one flag per type is close enough here.
        status_subresource=any((v.get("subresources") or {}).get("status") is not None for v in versions),
        custom=True,
        schemas={v["name"]: (v.get("schema") or {}).get("openAPIV3Schema") for v in versions
                 if (v.get("schema") or {}).get("openAPIV3Schema")},
        columns={v["name"]: v.get("additionalPrinterColumns") or [] for v in versions},
    )


# --------------------------------------------------------------------------------------------
# Small helpers: time, patches, selectors, schema, printing.


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null deletes, lists are replaced."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strip_directives(patch: Any) -> Any:
    """Drop strategic-merge-patch directives ($patch, $setElementOrder/..., $retainKeys, ...)."""
    if isinstance(patch, dict):
        return {k: strip_directives(v) for k, v in patch.items() if not k.startswith("$")}
    if isinstance(patch, list):
        return [strip_directives(v) for v in patch]
    return patch


class PatchTestFailed(Exception):
    pass


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch, with the API server's (evanphx/json-patch) leniency that kube-rs relies on:
    `test` of a missing path against null succeeds (kube's finalizer helper sends exactly that)."""
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(doc)

    def split(pointer: str) -> list[str]:
        if pointer == "":
            return []
        if not pointer.startswith("/"):
            raise bad_request(f"invalid JSON pointer {pointer!r}")
        return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]

    def parent(d: Any, parts: list[str]) -> Any:
        for p in parts[:-1]:
            d = d[int(p)] if isinstance(d, list) else d[p]
        return d

    def get(d: Any, pointer: str) -> Any:
        for p in split(pointer):
            d = d[int(p)] if isinstance(d, list) else d[p]
        return d

    def add(d: Any, pointer: str, value: Any) -> Any:
        parts = split(pointer)
        if not parts:
            return value
        container, last = parent(d, parts), parts[-1]
        if isinstance(container, list):
            container.insert(len(container) if last == "-" else int(last), value)
        else:
            container[last] = value
        return d

    def remove(d: Any, pointer: str) -> Any:
        parts = split(pointer)
        container, last = parent(d, parts), parts[-1]
        removed = container.pop(int(last)) if isinstance(container, list) else container.pop(last)
        return removed

    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid JSON patch operation {op!r}")
        kind, path = op["op"], op["path"]
        try:
            if kind == "add":
                doc = add(doc, path, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(doc, path)
            elif kind == "replace":
                get(doc, path)  # must exist
                remove(doc, path) if split(path) else None
                doc = add(doc, path, copy.deepcopy(op["value"]))
            elif kind == "move":
                doc = add(doc, path, remove(doc, op["from"]))
            elif kind == "copy":
                doc = add(doc, path, copy.deepcopy(get(doc, op["from"])))
            elif kind == "test":
                try:
                    actual = get(doc, path)
                except (KeyError, IndexError, ValueError, TypeError):
                    actual = None  # missing == null, as the API server treats it
                if actual != op.get("value"):
                    raise PatchTestFailed(f"testing value {path} failed")
            else:
                raise bad_request(f"unknown JSON patch operation {kind!r}")
        except PatchTestFailed:
            raise
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our "
                                           f"request: json patch {kind} {path}: {e!r}")
    return doc


def split_selector(s: str) -> list[str]:
    return [t for t in re.split(r",(?![^()]*\))", s) if t.strip()]


def label_matcher(selector: str) -> Callable[[JSON], bool]:
    """Equality- and set-based label selectors (a=b, a!=b, a, !a, a in (x,y), a notin (x,y))."""
    tests: list[Callable[[dict], bool]] = []
    for term in split_selector(selector):
        if m := re.fullmatch(r"\s*(!?)\s*([\w./-]+)\s*", term):
            neg, key = m.group(1) == "!", m.group(2)
            tests.append(lambda labels, k=key, n=neg: (k in labels) != n)
        elif m := re.fullmatch(r"\s*([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)\s*", term):
            key, op, val = m.groups()
            tests.append(lambda labels, k=key, v=val, eq=op != "!=": (labels.get(k) == v) == eq)
        elif m := re.fullmatch(r"\s*([\w./-]+)\s+(in|notin)\s*\(([^)]*)\)\s*", term):
            key, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            tests.append(lambda labels, k=key, vs=vals, inn=op == "in": (labels.get(k) in vs) == inn)
        else:
            raise bad_request(f"unable to parse requirement: {term!r}")
    return lambda obj: all(t(obj.get("metadata", {}).get("labels") or {}) for t in tests)


def field_matcher(selector: str) -> Callable[[JSON], bool]:
    """Field selectors on any dotted path (the real server allows only a few fields per kind)."""
    tests: list[Callable[[JSON], bool]] = []
    for term in split_selector(selector):
        m = re.fullmatch(r"\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*", term)
        if not m:
            raise bad_request(f"invalid field selector: {term!r}")
        path, op, val = m.groups()

        def lookup(obj: JSON, parts: list[str] = path.split(".")) -> str:
            for p in parts:
                obj = obj.get(p) if isinstance(obj, dict) else None
            return "" if obj is None else str(obj)

        tests.append(lambda o, f=lookup, v=val, eq=op != "!=": (f(o) == v) == eq)
    return lambda obj: all(t(obj) for t in tests)


SCHEMA_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
                "object": (dict,), "array": (list,)}


def apply_schema(value: Any, schema: JSON, path: str, errors: list[str], pruned: list[str]) -> Any:
    """Structural-schema handling the API server does for custom resources: prune unknown fields
    (noted in `pruned`), apply defaults, check type, enum and required. No pattern, format, bounds, CEL."""
    if value is None:
        if not schema.get("nullable"):
            errors.append(f"{path}: Invalid value: null: must not be null")
        return value
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            errors.append(f"{path}: Invalid value: must be an integer or a string")
        return value
    typ = schema.get("type")
    if typ in SCHEMA_TYPES and (not isinstance(value, SCHEMA_TYPES[typ])
                                or (isinstance(value, bool) and typ != "boolean")):
        errors.append(f'{path}: Invalid value: {json.dumps(value)[:60]}: {path} in body must be of type {typ}')
        return value
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        errors.append(f"{path}: Unsupported value: {json.dumps(value)}: supported values: {allowed}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_schema(v, schema["items"], f"{path}[{i}]", errors, pruned) for i, v in enumerate(value)]
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
        out: JSON = {}
        for k, v in value.items():
            if k in props:
                out[k] = apply_schema(v, props[k], f"{path}.{k}", errors, pruned)
            elif isinstance(extra, dict):
                out[k] = apply_schema(v, extra, f"{path}.{k}", errors, pruned)
            elif keep_unknown:
                out[k] = v
            else:  # dropped, as the API server does (even for `type: object` without properties)
                pruned.append(f"{path}.{k}".lstrip("."))
        for k, sub in props.items():
            if k not in out and "default" in sub:
                out[k] = apply_schema(copy.deepcopy(sub["default"]), sub, f"{path}.{k}", errors, pruned)
        for k in schema.get("required") or []:
            if k not in out:
                errors.append(f"{path}.{k}: Required value")
        return out
    return value


def jsonpath(obj: Any, expr: str) -> Any:
    """The JSONPath subset printer columns use: .a.b, [0], [*], [?(@.k=="v")]. First match or None."""
    current = [obj]
    for m in re.finditer(r'\.([\w-]+)|\[(\d+|\*)\]|\[\?\(@\.([\w.-]+)\s*==\s*["\']([^"\']*)["\']\)\]',
                         expr.strip().strip("{}")):
        name, index, fkey, fval = m.groups()
        nxt = []
        for c in current:
            if name is not None and isinstance(c, dict) and name in c:
                nxt.append(c[name])
            elif index == "*" and isinstance(c, list):
                nxt.extend(c)
            elif index is not None and index != "*" and isinstance(c, list) and int(index) < len(c):
                nxt.append(c[int(index)])
            elif fkey is not None and isinstance(c, list):
                nxt.extend(e for e in c if isinstance(e, dict) and str(jsonpath(e, "." + fkey)) == fval)
        current = nxt
    return current[0] if current else None


def human_age(timestamp: str | None) -> str:
    """k8s.io/apimachinery's duration.HumanDuration, used for Age-like ("date") columns."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return "<invalid>"
    s = int((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds())
    if s < -1:
        return "<invalid>"
    s = max(s, 0)
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if h < 3:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    return f"{d // 365}y{d % 365}d" if d < 365 * 8 else f"{d // 365}y"


# --------------------------------------------------------------------------------------------
# Protobuf bodies. kubectl's typed generators (`kubectl create namespace|configmap|secret`) send
# only application/vnd.kubernetes.protobuf and do not fall back to JSON, so those three kinds are
# decoded from the wire format (field numbers from k8s.io/api's generated.proto). Nothing else is.

PROTOBUF_MAGIC = b"k8s\x00"


def pb_fields(buf: bytes) -> list[tuple[int, Any]]:
    """(field number, value) pairs of a protobuf message: ints for varints, bytes otherwise."""
    out, i = [], 0

    def varint() -> int:
        nonlocal i
        shift = value = 0
        while True:
            b = buf[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value
    while i < len(buf):
        key = varint()
        wire = key & 7
        if wire == 0:
            value: Any = varint()
        elif wire == 2:
            n = varint()
            value, i = buf[i:i + n], i + n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            value, i = buf[i:i + n], i + n
        else:
            raise bad_request(f"unsupported protobuf wire type {wire}")
        out.append((key >> 3, value))
    return out


def pb_map_entry(buf: bytes) -> tuple[str, bytes]:
    entry = dict(pb_fields(buf))
    return entry.get(1, b"").decode(), entry.get(2, b"")


def pb_object_meta(buf: bytes) -> JSON:
    meta: JSON = {}
    for num, value in pb_fields(buf):
        if num in (1, 2, 3):
            meta[{1: "name", 2: "generateName", 3: "namespace"}[num]] = value.decode()
        elif num in (11, 12):
            k, v = pb_map_entry(value)
            meta.setdefault("labels" if num == 11 else "annotations", {})[k] = v.decode()
        elif num == 14:
            meta.setdefault("finalizers", []).append(value.decode())
    return meta


def decode_protobuf(raw: bytes) -> JSON:
    if not raw.startswith(PROTOBUF_MAGIC):
        raise bad_request("a protobuf body must start with the k8s magic bytes")
    envelope = dict(pb_fields(raw[len(PROTOBUF_MAGIC):]))  # runtime.Unknown{typeMeta=1, raw=2}
    type_meta = dict(pb_fields(envelope.get(1, b"")))
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    obj: JSON = {"apiVersion": api_version, "kind": kind}
    for num, value in pb_fields(envelope.get(2, b"")):
        if num == 1:
            obj["metadata"] = pb_object_meta(value)
        elif (kind, num) == ("Namespace", 2):
            obj["spec"] = {"finalizers": [v.decode() for n, v in pb_fields(value) if n == 1]}
        elif (kind, num) in (("ConfigMap", 2), ("ConfigMap", 3), ("Secret", 2), ("Secret", 4)):
            k, v = pb_map_entry(value)
            target = {("ConfigMap", 2): "data", ("ConfigMap", 3): "binaryData",
                      ("Secret", 2): "data", ("Secret", 4): "stringData"}[(kind, num)]
            binary = target == "binaryData" or (kind, target) == ("Secret", "data")  # bytes fields: base64 in JSON
            obj.setdefault(target, {})[k] = base64.b64encode(v).decode() if binary else v.decode()
        elif (kind, num) in (("ConfigMap", 4), ("Secret", 5)):
            obj["immutable"] = bool(value)
        elif (kind, num) == ("Secret", 3):
            obj["type"] = value.decode()
    if kind not in ("Namespace", "ConfigMap", "Secret"):
        raise ApiError(415, "UnsupportedMediaType", f"this emulator decodes protobuf only for Namespace, ConfigMap "
                                                    f"and Secret, not {kind or 'this body'}; send JSON")
    return obj


# --------------------------------------------------------------------------------------------
# The server.


@dataclass
class Event:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    tkey: tuple[str, str]  # (group, plural)
    obj: JSON
    old: JSON | None  # previous state, so filtered watches can turn MODIFIED into ADDED/DELETED


@dataclass
class Target:
    """What a resource URL addresses."""
    group: str
    version: str
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_path(path: str) -> Target | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        t, rest = Target("", parts[1]), parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        t, rest = Target(parts[1], parts[2]), parts[3:]
    else:
        return None
    # /namespaces/{ns}/{plural}/... is namespaced; /namespaces[/{name}[/status]] is the Namespace itself.
    namespace_subresource = t.group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")
    if len(rest) >= 3 and rest[0] == "namespaces" and not namespace_subresource:
        t.namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    t.plural, t.name, t.subresource = (rest + [None, None, None])[:3]
    return t


class Emulator:
    def __init__(self, port: int):
        self.port = port
        self.types: dict[tuple[str, str], ResourceType] = {(t.group, t.plural): t for t in BUILTINS}
        self.objects: dict[tuple[str, str, str, str], JSON] = {}  # (group, plural, ns, name) -> object
        self.rv = 0  # one global counter, like etcd's revision
        self.events: collections.deque[Event] = collections.deque(maxlen=EVENT_LOG_SIZE)
        self.changed = asyncio.Event()
        for ns in INITIAL_NAMESPACES:
            self.create(self.types[("", "namespaces")], "v1", None, {"metadata": {"name": ns}}, False)

    # ---- HTTP entry point -------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self.route(request)
        except ApiError as e:
            return web.json_response(e.status(), status=e.code)
        except PatchTestFailed as e:
            return web.json_response(ApiError(422, "Invalid", str(e)).status(), status=422)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as e:  # a bug here: tell the client like the API server would, and log it
            log.exception("internal error on %s %s", request.method, request.path_qs)
            err = ApiError(500, "InternalError", f"internal error: {e!r}")
            return web.json_response(err.status(), status=500)

    async def route(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if request.method == "GET":
            if path in ("/healthz", "/readyz", "/livez"):
                return web.Response(text="ok")
            if path == "/version":
                return web.json_response({
                    "major": "1", "minor": "32", "gitVersion": "v1.32.0-zoneshift-emulator",
                    "gitCommit": "", "gitTreeState": "clean", "buildDate": "", "goVersion": "",
                    "compiler": "python", "platform": "linux/amd64"})
            if path == "/":
                return web.json_response({"paths": sorted(self.discovery_paths())})
            if path == "/api":
                return web.json_response({
                    "kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                    "serverAddress": f"127.0.0.1:{self.port}"}]})
            if path == "/apis":
                return web.json_response({"kind": "APIGroupList", "apiVersion": "v1",
                                          "groups": [self.api_group(g) for g in self.groups()]})
            if path == "/openapi/v3":
                return web.json_response({"paths": {
                    gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={self.openapi_hash()}"}
                    for gv in self.group_versions()}})
            if path.startswith("/openapi/v3/") and path[len("/openapi/v3/"):] in self.group_versions():
                return web.json_response(self.openapi_v3(path[len("/openapi/v3/"):]))
            if m := re.fullmatch(r"/apis/([^/]+)", path):
                if m.group(1) not in self.groups():
                    raise no_such_resource()
                return web.json_response({"kind": "APIGroup", "apiVersion": "v1", **self.api_group(m.group(1))})
        target = parse_path(path)
        if target is None:
            raise no_such_resource()
        if target.plural is None:
            if request.method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
            return web.json_response(self.api_resource_list(target.group, target.version))
        return await self.serve(request, target)

    # ---- discovery ----------------------------------------------------------------------------

    def groups(self) -> dict[str, list[str]]:
        """Non-core groups and their served versions, preferred first."""
        out: dict[str, list[str]] = {}
        for t in self.types.values():
            if t.group:
                vs = out.setdefault(t.group, [])
                vs.extend(v for v in t.versions if v not in vs)
        for vs in out.values():
            vs.sort(key=version_priority, reverse=True)
        return out

    def api_group(self, group: str) -> JSON:
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in self.groups()[group]]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def api_resource_list(self, group: str, version: str) -> JSON:
        types = [t for t in self.types.values() if t.group == group and version in t.versions]
        if not types:
            raise no_such_resource()
        resources = []
        for t in sorted(types, key=lambda t: t.plural):
            entry = {"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced,
                     "kind": t.kind, "verbs": VERBS}
            if t.short_names:
                entry["shortNames"] = t.short_names
            if t.categories:
                entry["categories"] = t.categories
            resources.append(entry)
            if t.status_subresource:
                resources.append({"name": f"{t.plural}/status", "singularName": "", "namespaced": t.namespaced,
                                  "kind": t.kind, "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": types[0].gv(version), "resources": resources}

    def group_versions(self) -> list[str]:
        return ["api/v1"] + [f"apis/{g}/{v}" for g, vs in self.groups().items() for v in vs]

    def openapi_hash(self) -> str:
        """Changes whenever the served types do, so kubectl's cache of these documents stays right."""
        names = sorted(f"{t.group}/{','.join(t.versions)}/{t.plural}" for t in self.types.values())
        return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16].upper()

    def openapi_v3(self, gv: str) -> JSON:
        """Not the real OpenAPI: only what kubectl reads to learn that this server validates fields
        itself (the fieldValidation parameter on PATCH), so `kubectl apply` needs no --validate=false.
        No schemas, so `kubectl explain` does not work."""
        group, version = ("", "v1") if gv == "api/v1" else tuple(gv.split("/")[1:])
        paths = {}
        for t in self.types.values():
            if t.group == group and version in t.versions:
                ns = "/namespaces/{namespace}" if t.namespaced else ""
                paths[f"/{gv}{ns}/{t.plural}/{{name}}"] = {"patch": {
                    "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": t.kind},
                    "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "OK"}}}}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
                "paths": paths, "components": {}}

    def discovery_paths(self) -> set[str]:
        paths = {"/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v3", "/readyz", "/version"}
        for group, versions in self.groups().items():
            paths.add(f"/apis/{group}")
            paths.update(f"/apis/{group}/{v}" for v in versions)
        return paths

    # ---- resource requests ----------------------------------------------------------------------

    async def serve(self, request: web.Request, t: Target) -> web.StreamResponse:
        rt = self.types.get((t.group, t.plural or ""))
        if rt is None or t.version not in rt.versions:
            raise no_such_resource()
        if t.subresource is not None and not (t.subresource == "status" and rt.status_subresource):
            raise no_such_resource()
        if t.namespace is not None and not rt.namespaced:
            raise no_such_resource()
        if rt.namespaced and t.name is not None and t.namespace is None:
            raise no_such_resource()
        q = request.query
        dry_run = "dryRun" in q
        method = request.method
        FIELD_VALIDATION.set(q.get("fieldValidation", ""))

        if method == "GET":
            if q.get("watch") in ("true", "1"):
                return await self.watch(request, rt, t)
            if t.name is None:
                return self.respond(request, rt, t.version, self.list(rt, t, q), 200, listing=True)
            return self.respond(request, rt, t.version, self.get(rt, t.namespace, t.name), 200)

        if method == "POST" and t.name is None:
            if rt.namespaced and t.namespace is None:
                raise ApiError(405, "MethodNotAllowed", f"create {rt.qualified} needs a namespace in the URL")
            obj = self.create(rt, t.version, t.namespace, await self.body(request), dry_run)
            return self.respond(request, rt, t.version, obj, 201)

        if method == "PUT" and t.name is not None:
            obj = self.replace(rt, t, await self.body(request), dry_run)
            return self.respond(request, rt, t.version, obj, 200)

        if method == "PATCH" and t.name is not None:
            obj, code = self.patch(rt, t, request.content_type, await request.read(), dry_run)
            return self.respond(request, rt, t.version, obj, code)

        if method == "DELETE" and t.subresource is None:
            opts = await self.body(request, optional=True) or {}
            if t.name is not None:
                obj, gone = self.delete(rt, t.namespace, t.name, opts, dry_run)
                return self.respond(request, rt, t.version, obj, 200 if gone else 202)
            deleted = [self.delete(rt, o["metadata"].get("namespace"), o["metadata"]["name"], opts, dry_run)[0]
                       for o in self.list(rt, t, q)["items"]]
            return self.respond(request, rt, t.version, self.list_of(rt, t.version, deleted), 200, listing=True)

        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    @staticmethod
    async def body(request: web.Request, optional: bool = False) -> Any:
        raw = await request.read()
        if not raw.strip():
            if optional:
                return None
            raise bad_request("the request body is empty")
        if request.content_type == "application/vnd.kubernetes.protobuf":
            try:
                return decode_protobuf(raw)
            except ApiError:
                if optional:  # e.g. DeleteOptions: defaults are fine
                    return None
                raise
        try:
            return json.loads(raw)
        except ValueError:
            try:  # kubectl and kube-rs send JSON; YAML is accepted because the API server accepts it
                return yaml.safe_load(raw)
            except yaml.YAMLError as e:
                raise bad_request(f"the request body is neither JSON nor YAML: {e}")

    def respond(self, request: web.Request, rt: ResourceType, version: str, obj: JSON, code: int,
                listing: bool = False) -> web.Response:
        obj = self.render(rt, version, obj) if not listing else obj
        if "as=Table" in request.headers.get("Accept", "") and request.method == "GET":
            items = obj["items"] if listing else [obj]
            meta = obj["metadata"] if listing else {"resourceVersion": obj["metadata"].get("resourceVersion")}
            return web.json_response(self.table(rt, version, items, meta, request.query), status=code)
        return web.json_response(obj, status=code)

    @staticmethod
    def render(rt: ResourceType, version: str, obj: JSON) -> JSON:
        """A stored object as served at `version`: same content (no conversion), that apiVersion."""
        return {"apiVersion": rt.gv(version), "kind": rt.kind, **{k: v for k, v in obj.items()
                                                                  if k not in ("apiVersion", "kind")}}

    def key(self, rt: ResourceType, namespace: str | None, name: str) -> tuple[str, str, str, str]:
        return (rt.group, rt.plural, namespace or "", name)

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> JSON:
        obj = self.objects.get(self.key(rt, namespace, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found', rt.details(name))
        return obj

    def matcher(self, rt: ResourceType, t: Target, q: Any) -> Callable[[JSON], bool]:
        labels = label_matcher(q.get("labelSelector", ""))
        fields = field_matcher(q.get("fieldSelector", ""))

        def match(obj: JSON) -> bool:
            meta = obj.get("metadata", {})
            return ((t.namespace is None or meta.get("namespace") == t.namespace)
                    and (t.name is None or meta.get("name") == t.name)
                    and labels(obj) and fields(obj))
        return match

    def list(self, rt: ResourceType, t: Target, q: Any) -> JSON:
        match = self.matcher(rt, t, q)
        keys = sorted(k for k in self.objects if k[:2] == (rt.group, rt.plural))
        # Paging: `continue` is the last key served; the real server pins a snapshot, we read live data.
        if q.get("continue"):
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(q["continue"]).decode()))
            except ValueError:
                raise ApiError(410, "Expired", "the provided continue parameter is invalid")
            keys = [k for k in keys if k > after]
        items = [self.render(rt, t.version, self.objects[k]) for k in keys if match(self.objects[k])]
        meta: JSON = {"resourceVersion": str(self.rv)}
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            raise bad_request(f"invalid limit {q.get('limit')!r}")
        if 0 < limit < len(items):
            last = items[limit - 1]["metadata"]
            token = [rt.group, rt.plural, last.get("namespace", ""), last["name"]]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return self.list_of(rt, t.version, items, meta)

    def list_of(self, rt: ResourceType, version: str, items: list[JSON], meta: JSON | None = None) -> JSON:
        return {"apiVersion": rt.gv(version), "kind": f"{rt.kind}List",
                "metadata": meta or {"resourceVersion": str(self.rv)},
                "items": [self.render(rt, version, i) for i in items]}

    # ---- writes ---------------------------------------------------------------------------------

    def commit(self, rt: ResourceType, old: JSON | None, new: JSON | None, dry_run: bool) -> JSON:
        """Store `new` (None deletes `old`) as the next resourceVersion and emit the watch event.
        Writes that change nothing are no-ops: no new resourceVersion, no event (as in the real API)."""
        if old is not None and new is not None and new == old:
            return old
        meta = (new or old or {}).get("metadata", {})
        # An object being deleted whose last finalizer is gone is removed by that very write.
        finished = new is not None and meta.get("deletionTimestamp") and not meta.get("finalizers")
        obj = copy.deepcopy(new if new is not None else old)
        if dry_run:
            return obj
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = self.key(rt, meta.get("namespace"), meta["name"])
        if new is None or finished:
            self.objects.pop(key, None)
            kind = "DELETED"
        else:
            self.objects[key] = obj
            kind = "ADDED" if old is None else "MODIFIED"
        self.events.append(Event(self.rv, kind, (rt.group, rt.plural), obj, old))
        self.changed.set()
        self.changed = asyncio.Event()
        self.after_commit(rt, kind, obj)
        return obj

    def after_commit(self, rt: ResourceType, kind: str, obj: JSON) -> None:
        """Side effects of CRDs and namespaces."""
        if (rt.group, rt.plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
            spec = obj.get("spec", {})
            tkey = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
            if kind == "DELETED":
                crt = self.types.pop(tkey, None)
                for key in [k for k in self.objects if k[:2] == tkey] if crt else []:
                    self.commit(crt, self.objects[key], None, False)
            else:
                self.types[tkey] = type_from_crd(obj)
        elif (rt.group, rt.plural) == ("", "namespaces") and kind == "DELETED":
            # The real namespace controller deletes the contents first and keeps the namespace
            # Terminating meanwhile; here the contents get a DELETE and the namespace goes at once.
            ns = obj["metadata"]["name"]
            for key in [k for k in self.objects if k[2] == ns]:
                if key in self.objects:
                    self.delete(self.types[key[:2]], ns, key[3], {}, False)

    def create(self, rt: ResourceType, version: str, namespace: str | None, body: Any, dry_run: bool) -> JSON:
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        obj = copy.deepcopy(body)
        if obj.get("kind") not in (None, rt.kind):
            raise bad_request(f"the kind {obj['kind']!r} does not match the URL's resource {rt.qualified}")
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        name = meta.get("name") or ""
        self.check_name(rt, name)
        if rt.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request("the namespace of the provided object does not match the namespace sent "
                                  "on the request")
            meta["namespace"] = namespace
            if self.key(self.types[("", "namespaces")], None, namespace) not in self.objects:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                               {"name": namespace, "kind": "namespaces"})
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise self.invalid(rt, name, "metadata.resourceVersion: Invalid value: must not be set on create")
        if self.key(rt, namespace, name) in self.objects:
            raise ApiError(409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', rt.details(name))
        for f in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
            meta.pop(f, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
        obj["apiVersion"], obj["kind"] = rt.gv(version), rt.kind
        if rt.status_subresource:
            obj.pop("status", None)  # status is only written through /status
        obj = self.defaults_on_write(rt, version, obj)
        return self.commit(rt, None, obj, dry_run)

    def replace(self, rt: ResourceType, t: Target, body: Any, dry_run: bool) -> JSON:
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        old = self.get(rt, t.namespace, t.name)
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, t.name):
            raise bad_request("the name of the object does not match the name on the URL")
        rv = meta.get("resourceVersion")
        if not rv and rt.custom:
            raise self.invalid(rt, t.name,
                               "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update")
        self.check_rv(rt, old, rv)
        return self.commit(rt, old, self.finish_update(rt, t, old, body), dry_run)

    def patch(self, rt: ResourceType, t: Target, content_type: str, raw: bytes, dry_run: bool) -> tuple[JSON, int]:
        try:
            patch = json.loads(raw) if raw.strip() else None
        except ValueError:
            patch = None if content_type != "application/apply-patch+yaml" else yaml.safe_load(raw)
        if patch is None:
            raise bad_request("the patch body is empty or not valid JSON")
        key = self.key(rt, t.namespace, t.name)
        old = self.objects.get(key)

        if content_type == "application/apply-patch+yaml":
            # Server-side apply, approximated as a merge of the applied object (no field ownership).
            if not isinstance(patch, dict):
                raise bad_request("an apply patch must be an object")
            if old is None:
                if t.subresource:
                    self.get(rt, t.namespace, t.name)  # raises NotFound
                body = merge_patch({}, patch)
                body.setdefault("metadata", {})["name"] = t.name
                return self.create(rt, t.version, t.namespace, body, dry_run), 201
            self.check_rv(rt, old, (patch.get("metadata") or {}).get("resourceVersion"))
            patched = merge_patch(old, patch)
        else:
            if old is None:
                self.get(rt, t.namespace, t.name)  # raises NotFound
            if content_type == "application/json-patch+json":
                patched = json_patch(old, patch)
            elif content_type == "application/merge-patch+json":
                if isinstance(patch, dict):
                    self.check_rv(rt, old, (patch.get("metadata") or {}).get("resourceVersion"))
                patched = merge_patch(old, patch)
            elif content_type == "application/strategic-merge-patch+json":
                if rt.custom:  # exactly what the real API server answers for custom resources
                    raise ApiError(415, "UnsupportedMediaType",
                                   "the body of the request was in an unknown format - accepted media types "
                                   "include: application/json-patch+json, application/merge-patch+json, "
                                   "application/apply-patch+yaml")
                patched = merge_patch(old, strip_directives(patch))  # list merge keys are not honoured
            else:
                raise ApiError(415, "UnsupportedMediaType", f"unsupported patch content type {content_type!r}")
        if not isinstance(patched, dict):
            raise bad_request("the patch did not produce an object")
        return self.commit(rt, old, self.finish_update(rt, t, old, patched), dry_run), 200

    def finish_update(self, rt: ResourceType, t: Target, old: JSON, new: JSON) -> JSON:
        """Turn a client's desired object into what the server stores: system fields kept, status vs
        main resource split, generation bumped on spec changes, finalizer rules, schema applied."""
        new = copy.deepcopy(new)
        if t.subresource == "status":
            # /status writes change only .status; everything else the client sent is ignored.
            new = {**copy.deepcopy(old), "status": new.get("status")}
            if new["status"] is None:
                del new["status"]
        elif rt.status_subresource:
            # Writes to the main resource cannot change .status when it has its own endpoint.
            new.pop("status", None)
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            meta = new["metadata"] = {}
        old_meta = old["metadata"]
        for f in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation", "resourceVersion"):
            if f in old_meta:
                meta[f] = old_meta[f]
            else:
                meta.pop(f, None)
        meta.pop("managedFields", None)
        new["apiVersion"], new["kind"] = old.get("apiVersion", rt.gv(t.version)), rt.kind
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                found = " ".join(sorted(added))
                raise self.invalid(rt, t.name, "metadata.finalizers: Forbidden: no new finalizers can be added if the "
                                               f"object is being deleted, found new finalizers [{found}]")
        new = self.defaults_on_write(rt, t.version, new)

        # generation counts changes to the desired state: not metadata, not status when it has /status.
        def content(o: JSON) -> JSON:
            return {k: v for k, v in o.items()
                    if k not in ("metadata", "apiVersion", "kind") and not (k == "status" and rt.status_subresource)}
        if content(new) != content(old):
            meta["generation"] = old_meta.get("generation", 1) + 1
        return new

    def delete(self, rt: ResourceType, namespace: str | None, name: str, opts: JSON,
               dry_run: bool) -> tuple[JSON, bool]:
        """Returns (object, gone). With finalizers the object only gets a deletionTimestamp and stays
        until a later write empties metadata.finalizers."""
        old = self.get(rt, namespace, name)
        pre = opts.get("preconditions") or {}
        if pre.get("uid") not in (None, old["metadata"].get("uid")):
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": '
                                            f"Precondition failed: UID in precondition: {pre['uid']}", rt.details(name))
        self.check_rv(rt, old, pre.get("resourceVersion"))
        dry_run = dry_run or bool(opts.get("dryRun"))
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return old, False
            new = copy.deepcopy(old)
            new["metadata"].update(deletionTimestamp=now_rfc3339(), deletionGracePeriodSeconds=0,
                                   generation=old["metadata"].get("generation", 1) + 1)
            return self.commit(rt, old, new, dry_run), False
        return self.commit(rt, old, None, dry_run), True

    def check_rv(self, rt: ResourceType, old: JSON, rv: str | None) -> None:
        if rv and rv != old["metadata"].get("resourceVersion"):
            name = old["metadata"]["name"]
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object '
                                            f"has been modified; please apply your changes to the latest version "
                                            f"and try again", rt.details(name))

    def check_name(self, rt: ResourceType, name: str) -> None:
        if not name:
            raise self.invalid(rt, name, "metadata.name: Required value: name or generateName is required")
        if len(name) > 253 or not NAME_RE.match(name):
            raise self.invalid(rt, name, f"metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 subdomain "
                                         f"must consist of lower case alphanumeric characters, '-' or '.'")

    @staticmethod
    def invalid(rt: ResourceType, name: str, *problems: str) -> ApiError:
        kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
        return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: ' + ", ".join(problems),
                        {"name": name, "group": rt.group, "kind": rt.kind,
                         "causes": [{"field": f, "message": m} for f, _, m in (p.partition(": ") for p in problems)]})

    def defaults_on_write(self, rt: ResourceType, version: str, obj: JSON) -> JSON:
        """Per-kind behaviour of the real API on every write."""
        name = obj["metadata"].get("name", "")
        if rt.custom and rt.schemas.get(version):
            errors: list[str] = []
            pruned: list[str] = []
            schema = rt.schemas[version]
            rest = apply_schema({k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")},
                                {**schema, "required": [r for r in schema.get("required", [])
                                                        if r not in ("apiVersion", "kind", "metadata")]},
                                "", errors, pruned)
            if pruned and FIELD_VALIDATION.get() == "Strict":
                raise bad_request(f'{rt.kind} in version "{version}" cannot be handled as a {rt.kind}: strict '
                                  f'decoding error: ' + ", ".join(f'unknown field "{p}"' for p in pruned))
            if errors:
                raise self.invalid(rt, name, *(e.lstrip(".") for e in errors))
            obj = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": obj["metadata"], **rest}
        key = (rt.group, rt.plural)
        if key == ("", "secrets"):
            obj.setdefault("type", "Opaque")
            if "stringData" in obj:  # write-only convenience field, merged into data
                data = dict(obj.get("data") or {})
                for k, v in (obj.pop("stringData") or {}).items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
                obj["data"] = data
        elif key == ("", "namespaces"):
            deleting = obj["metadata"].get("deletionTimestamp")
            obj.setdefault("status", {})["phase"] = "Terminating" if deleting else "Active"
        elif key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            crt = type_from_crd(obj)  # validates; registration itself happens in after_commit
            names = obj["spec"]["names"]
            since = {c.get("type"): c.get("lastTransitionTime")
                     for c in (obj.get("status") or {}).get("conditions") or []}
            obj["status"] = {
                "acceptedNames": {"plural": crt.plural, "singular": crt.singular, "kind": crt.kind,
                                  "listKind": names.get("listKind") or f"{crt.kind}List",
                                  **({"shortNames": crt.short_names} if crt.short_names else {}),
                                  **({"categories": crt.categories} if crt.categories else {})},
                "conditions": [
                    {"type": t, "status": "True", "reason": r, "message": m,
                     "lastTransitionTime": since.get(t) or now_rfc3339()}
                    for t, r, m in [("NamesAccepted", "NoConflicts", "no conflicts found"),
                                    ("Established", "InitialNamesAccepted", "the initial names have been accepted")]],
                "storedVersions": [v["name"] for v in obj["spec"]["versions"] if v.get("storage")] or crt.versions[:1],
            }
        return obj

    # ---- watch ----------------------------------------------------------------------------------

    async def watch(self, request: web.Request, rt: ResourceType, t: Target) -> web.StreamResponse:
        q = request.query
        match = self.matcher(rt, t, q)
        rv_param = q.get("resourceVersion", "")
        initial = q.get("sendInitialEvents") == "true"
        bookmarks = q.get("allowWatchBookmarks") == "true"
        try:
            start = int(rv_param) if rv_param not in ("", "0") else None
            timeout = float(q.get("timeoutSeconds") or 1800)
        except ValueError:
            raise bad_request(f"invalid resourceVersion or timeoutSeconds: {rv_param!r}")

        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        table = "as=Table" in request.headers.get("Accept", "")

        async def send(kind: str, obj: JSON) -> None:
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                obj = self.render(rt, t.version, obj)
                if table:
                    obj = self.table(rt, t.version, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, q)
            await resp.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

        def bookmark(extra: JSON | None = None) -> JSON:
            return {"kind": rt.kind, "apiVersion": rt.gv(t.version),
                    "metadata": {"resourceVersion": str(self.rv), **(extra or {})}}

        try:
            if start is None or initial:
                # No resourceVersion (or streaming list): synthetic ADDED for what exists now.
                start = self.rv
                snapshot = [copy.deepcopy(o) for k, o in sorted(self.objects.items())
                            if k[:2] == (rt.group, rt.plural) and match(o)]
                for obj in snapshot:
                    await send("ADDED", obj)
                if initial:
                    await send("BOOKMARK", bookmark({"annotations": {"k8s.io/initial-events-end": "true"}}))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            last = start
            while True:
                changed = self.changed  # taken before reading the log, so no commit is missed
                oldest = self.events[0].rv if self.events else self.rv + 1
                if self.events and last < oldest - 1:
                    expired = ApiError(410, "Expired", f"too old resource version: {last} ({oldest - 1})")
                    await send("ERROR", expired.status())
                    break
                # rvs are consecutive in the log, so the resume point is an index; copy it, as sends yield.
                for ev in list(itertools.islice(self.events, max(0, last + 1 - oldest), None)):
                    last = ev.rv
                    if ev.tkey != (rt.group, rt.plural):
                        continue
                    now_in, was_in = match(ev.obj), ev.old is not None and match(ev.old)
                    if ev.type == "MODIFIED" and now_in != was_in:  # moved into or out of the selection
                        await send("ADDED" if now_in else "DELETED", ev.obj)
                    elif now_in or (ev.type == "DELETED" and was_in):
                        await send(ev.type, ev.obj)
                remaining = deadline - loop.time()
                if remaining <= 0 or request.transport is None or request.transport.is_closing():
                    break
                try:
                    await asyncio.wait_for(changed.wait(), min(remaining, BOOKMARK_EVERY))
                except asyncio.TimeoutError:
                    if bookmarks and loop.time() < deadline:  # idle, not ending: tell the client it is current
                        await send("BOOKMARK", bookmark())
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away
        return resp

    # ---- server-side printing ---------------------------------------------------------------------

    def table(self, rt: ResourceType, version: str, items: list[JSON], meta: JSON, q: Any) -> JSON:
        """A meta.k8s.io/v1 Table, which `kubectl get` asks for to print the CRD's printer columns."""
        cols = rt.columns.get(version) if rt.custom else None
        if not cols:
            cols = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
        defs = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
                 "description": "Name must be unique within a namespace."}]
        defs += [{"name": c["name"], "type": c.get("type", "string"), "format": c.get("format", ""),
                  "description": c.get("description", ""), "priority": c.get("priority", 0)} for c in cols]

        def cell(obj: JSON, col: JSON) -> Any:
            value = jsonpath(obj, col.get("jsonPath", ""))
            if col.get("type") == "date":
                return human_age(value) if value is not None else "<unknown>"
            if value is None or isinstance(value, (dict, list)):
                return None if value is None else json.dumps(value)
            return value

        include = q.get("includeObject", "Metadata")
        rows = []
        for obj in items:
            if include == "Object":
                embedded = obj
            elif include == "None":
                embedded = None
            else:
                embedded = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                            "metadata": obj["metadata"]}
            row = {"cells": [obj["metadata"]["name"]] + [cell(obj, c) for c in cols]}
            if embedded is not None:
                row["object"] = embedded
            rows.append(row)
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                "columnDefinitions": defs, "rows": rows}


def load_crds(emulator: Emulator, paths: list[str]) -> None:
    crds = emulator.types[("apiextensions.k8s.io", "customresourcedefinitions")]
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    emulator.create(crds, "v1", None, doc, False)
                    log.info("registered %s from %s", doc["metadata"]["name"], path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=16443)
    parser.add_argument("--crd", action="append", default=[], help="CRD YAML file to register at start")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not ipaddress.ip_address(args.host).is_loopback:
        parser.error("--host must be a loopback address: this server has no authentication")

    async def build() -> web.Application:
        emulator = Emulator(args.port)
        load_crds(emulator, args.crd)
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", emulator.handle)
        return app

    web.run_app(build(), host=args.host, port=args.port, print=None, shutdown_timeout=2,
                access_log_format='%a "%r" %s %b %Tfs')


if __name__ == "__main__":
    main()
