#!/usr/bin/env python3
"""deploy/argocd/health.lua, Argo CD's health check for HostedZoneMigrations, run by a real Lua
(lua5.4, and lua5.1 where installed: Argo CD's gopher-lua speaks 5.1) in a sandbox holding
only what Argo CD offers, against the samples of deploy/argocd/health_test.yaml. Every
condition reason that src/ writes must have a known health, and the argocd-cm snippet must
hold health.lua unchanged."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from packaging_common import REASON_HEALTH, ROOT, Tally

ARGO = ROOT / "deploy" / "argocd"
LUA = ["lua5.4", "lua5.1"]  # lua5.4 is required; lua5.1 adds gopher-lua's dialect when present

# Runs health.lua with `obj` in an environment of base functions, string, table and math only.
DRIVER = r"""
local path, input = ...
local src = assert(io.open(path)):read("*a")
local obj = assert((loadstring or load)("return " .. assert(io.open(input)):read("*a")))()
local env = { ipairs = ipairs, pairs = pairs, next = next, type = type, tostring = tostring,
              tonumber = tonumber, select = select, error = error, pcall = pcall,
              string = string, table = table, math = math, obj = obj }
local chunk
if setfenv then
  chunk = assert(loadstring(src, "health.lua")); setfenv(chunk, env)
else
  chunk = assert(load(src, "health.lua", "t", env))
end
local hs = chunk()
io.write(tostring(hs.status), "\31", tostring(hs.message))
"""



def to_lua(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        # Lua strings are bytes; a decimal escape is always three digits, so a digit after it
        # is never read as part of it.
        safe = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-_/()'*@+=%[]{}<>!?#&")
        return '"' + "".join(chr(b) if b in safe else f"\\{b:03d}" for b in v.encode("utf-8")) + '"'
    if isinstance(v, list):
        return "{" + ", ".join(to_lua(x) for x in v) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"[{to_lua(str(k))}] = {to_lua(x)}" for k, x in v.items() if x is not None) + "}"
    if v is None:
        return "nil"
    raise TypeError(type(v))


def run(lua: str, obj: dict, work: Path) -> tuple[str, str]:
    (work / "obj.lua").write_text(to_lua(obj))
    r = subprocess.run([lua, str(work / "driver.lua"), str(ARGO / "health.lua"), str(work / "obj.lua")],
                       capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        return "ERROR", r.stderr.strip()
    status, _, message = r.stdout.partition("\x1f")
    return status, message


def synthetic(reason: str, health: str) -> dict:
    """A resource whose one interesting condition carries `reason`."""
    ok = health == "Healthy" and reason != "RolledBack"
    phase = reason if reason in ("RolledBack", "RollingBack") else "Syncing"
    cond = {"type": "RecordsSynced", "status": "True" if ok else "False", "reason": reason,
            "message": f"{reason} happened.", "observedGeneration": 1}
    ready = {"type": "Ready", "status": "True" if ok else "False", "reason": reason,
             "message": f"RecordsSynced: {reason} happened.", "observedGeneration": 1}
    return {"metadata": {"name": "x", "generation": 1},
            "status": {"observedGeneration": 1, "phase": phase, "conditions": [cond, ready]}}


def main() -> None:
    import tempfile
    t = Tally("argocd-health")
    luas = [l for l in LUA if shutil.which(l)]
    t.check("lua5.4" in luas, "lua5.4 is installed (apt-get install lua5.4)")
    if not luas:
        t.done()
    print(f"argocd-health: running health.lua under {', '.join(luas)}")

    cm = yaml.safe_load((ARGO / "argocd-cm.yaml").read_text())
    t.check(cm["data"].get("resource.customizations.health.zoneshift.io_HostedZoneMigration") == (ARGO / "health.lua").read_text(),
            "argocd-cm.yaml installs health.lua unchanged, under the key Argo CD reads for zoneshift.io/HostedZoneMigration")
    src = (ARGO / "health.lua").read_text()
    t.check(not re.search(r"\bgoto\b|//|\butf8\.|\bos\.|\bio\.|\brequire\b|\bload(string)?\b|\bdofile\b", src),
            "health.lua uses nothing newer than Lua 5.1 and nothing outside Argo CD's sandbox")

    cases = yaml.safe_load((ARGO / "health_test.yaml").read_text())["tests"]
    seen = set()
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        (work / "driver.lua").write_text(DRIVER)
        for c in cases:
            obj = yaml.safe_load((ARGO / c["inputPath"]).read_text())
            want = (c["healthStatus"]["status"], c["healthStatus"]["message"])
            seen.add(want[0])
            for lua in luas:
                got = run(lua, obj, work)
                t.check(got == want, f"{lua}: {c['inputPath']} is {want[0]}",
                        f"want {want}\n    got  {got}")

        # Every condition reason of the vocabulary has the health it declares.
        for reason in sorted(REASON_HEALTH):
            got = run(luas[0], synthetic(reason, REASON_HEALTH[reason]), work)
            t.check(got[0] == REASON_HEALTH[reason], f"reason {reason} maps to {REASON_HEALTH[reason]}", str(got))
    t.check(seen == {"Healthy", "Progressing", "Degraded", "Suspended"}, "the samples cover all four health states", str(seen))
    t.done()


if __name__ == "__main__":
    main()
