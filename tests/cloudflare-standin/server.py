#!/usr/bin/env python3
"""A local STAND-IN for the part of Cloudflare's v4 API that zoneshift uses. Not Cloudflare.

Written for zoneshift's tests from Cloudflare's published API reference, on 127.0.0.1 only,
standard library only, all state in memory.

What it serves (under /client/v4):
  GET /zones?name=NAME&page=&per_page=          zones the token may read, filtered by name
  GET /zones/{id}                               one zone
  GET /zones/{id}/dns_records?page=&per_page=   the zone's records, paginated, sorted by
                                                type, then name, then id
Every answer has Cloudflare's envelope: success, errors [{code, message}], messages, result,
and result_info {page, per_page, count, total_count, total_pages} on lists.
Authentication is `Authorization: Bearer TOKEN`:
  no or malformed header    HTTP 400, code 9106 / 6003 with 6111
  unknown or revoked token  HTTP 400, code 1000 "Invalid API Token"
  token not scoped to zone  HTTP 403, code 10000 "Authentication error"
Rate limit: 1200 requests per 300 s per token (HTTP 429, code 971, Retry-After), and 429
storms injected by the admin endpoint.

Admin (no authentication; tests drive it):
  GET    /admin/health
  POST   /admin/reset
  POST   /admin/tokens              {"token": T, "zones": [ID, ...] | "*"}
  DELETE /admin/tokens/{T}          revoke
  POST   /admin/zones               {"name": N, "name_servers": [...]?} -> the zone (id)
  POST   /admin/zones/{id}/records  one record or a list -> the stored records (ids)
  PATCH  /admin/zones/{id}/records/{rid}   change fields
  DELETE /admin/zones/{id}/records/{rid}
  DELETE /admin/zones/{id}/records         empty the zone
  POST   /admin/throttle            {"count": N, "retry_after": S, "token": T?, "status": 429?}:
                                    the next N API requests (with token T, or any) get 429 with
                                    Retry-After S, or the given 5xx status
  GET    /admin/stats               {"requests": n, "throttled": n, "by_path": {...}}

What it does NOT do: write endpoints of the real API (create/update/delete DNS records
through /client/v4), any filter other than the zone name, ordering parameters, API keys
(X-Auth-Key), the token verify endpoint, account-level tokens and permission groups (a token
is a list of zones), validation of record content, DNS itself (it serves no DNS queries:
proxying and CNAME flattening exist only as the record fields), TLS.
"""

import argparse
import hashlib
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PREFIX = "/client/v4"
LIMIT, WINDOW = 1200, 300.0
STRUCTURED = {"SRV", "CAA", "URI", "HTTPS", "SVCB"}
PRIORITY = {"MX", "SRV", "URI"}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.zones = {}  # id -> zone
        self.records = {}  # zone id -> {record id -> record}
        self.tokens = {}  # token -> set of zone ids, or "*"
        self.revoked = set()
        self.storms = {}  # token, or "*" for every token -> {"count", "retry_after"}
        self.window = {}  # token -> [timestamps]
        self.stats = {"requests": 0, "throttled": 0, "by_path": {}}


STATE = State()


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def envelope(result, info=None, errors=None):
    body = {"success": not errors, "errors": errors or [], "messages": [], "result": result}
    if info is not None:
        body["result_info"] = info
    return body


def error(code, message, chain=None):
    e = {"code": code, "message": message}
    if chain:
        e["error_chain"] = chain
    return envelope(None, errors=[e])


def shape(zone, rec):
    """A record as the API lists it: content, priority and data as the type has them."""
    out = {
        "id": rec["id"],
        "zone_id": zone["id"],
        "zone_name": zone["name"],
        "name": rec["name"],
        "type": rec["type"],
        "content": rec.get("content", ""),
        "proxiable": rec["type"] in ("A", "AAAA", "CNAME"),
        "proxied": bool(rec.get("proxied", False)),
        "ttl": int(rec.get("ttl", 1)),
        "settings": rec.get("settings", {}),
        "meta": {},
        "comment": rec.get("comment"),
        "tags": rec.get("tags", []),
        "created_on": rec["created_on"],
        "modified_on": rec["modified_on"],
    }
    if rec["type"] in PRIORITY and "priority" in rec:
        out["priority"] = rec["priority"]
    if rec["type"] in STRUCTURED and "data" in rec:
        out["data"] = rec["data"]
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare-standin"

    def log_message(self, fmt, *args):  # quiet by default; errors still go to stderr
        if self.server.verbose:
            super().log_message(fmt, *args)

    def send(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(n) or b"null") if n else None

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PATCH(self):
        self.route("PATCH")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        try:
            if parts[:1] == ["admin"]:
                return self.admin(method, parts[1:])
            if url.path.startswith(PREFIX) and method == "GET":
                return self.api(parts[2:], parse_qs(url.query))
            self.send(404, error(7003, "Could not route to %s, perhaps your object identifier is invalid?" % url.path))
        except (ValueError, KeyError, TypeError) as e:
            self.send(400, error(1004, "bad request: %s" % e))

    # --- the API ---------------------------------------------------------------------------

    def authenticate(self):
        """The token, or None after an error answer was sent."""
        header = self.headers.get("authorization")
        if header is None:
            self.send(400, error(9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers"))
            return None
        if not header.startswith("Bearer ") or not header[7:].strip():
            self.send(400, error(6003, "Invalid request headers", [{"code": 6111, "message": "Invalid format for Authorization header"}]))
            return None
        token = header[7:].strip()
        with STATE.lock:
            known = token in STATE.tokens and token not in STATE.revoked
        if not known:
            self.send(400, error(1000, "Invalid API Token"))
            return None
        return token

    def throttled(self, token):
        """Whether an injected storm or the rate limit answered instead (the answer is sent)."""
        status, wait = None, None
        with STATE.lock:
            STATE.stats["requests"] += 1
            storm = STATE.storms.get(token) or STATE.storms.get("*")
            if storm and storm["count"] > 0:
                storm["count"] -= 1
                STATE.stats["throttled"] += 1
                status, wait = storm["status"], storm["retry_after"]
            else:
                t = time.monotonic()
                w = [x for x in STATE.window.get(token, []) if t - x < WINDOW]
                if len(w) >= LIMIT:
                    STATE.stats["throttled"] += 1
                    status, wait = 429, int(WINDOW - (t - w[0])) + 1
                else:
                    w.append(t)
                STATE.window[token] = w
        if status is None:
            return False
        if status == 429:
            self.send(429, error(971, "Please wait and consider throttling your request speed"), {"retry-after": str(wait)})
        else:
            self.send(status, error(10002, "An unknown error has occurred"))
        return True

    def api(self, parts, query):
        key = "/".join(p if i != 1 else "{id}" for i, p in enumerate(parts))
        with STATE.lock:
            STATE.stats["by_path"][key] = STATE.stats["by_path"].get(key, 0) + 1
        token = self.authenticate()
        if token is None or self.throttled(token):
            return
        with STATE.lock:
            scope = STATE.tokens[token]
            allowed = lambda zid: scope == "*" or zid in scope  # noqa: E731
            if parts == ["zones"]:
                name = (query.get("name") or [None])[0]
                zones = [z for z in STATE.zones.values() if allowed(z["id"]) and (name is None or z["name"] == name.lower())]
                return self.page(sorted(zones, key=lambda z: z["name"]), query, 20, 50)
            if len(parts) >= 2 and parts[0] == "zones":
                zone = STATE.zones.get(parts[1])
                if zone is None or not allowed(zone["id"]):
                    if zone is not None:
                        return self.send(403, error(10000, "Authentication error"))
                    return self.send(404, error(7003, "Could not route to /zones/%s, perhaps your object identifier is invalid?" % parts[1]))
                if len(parts) == 2:
                    return self.send(200, envelope(zone))
                if parts[2:] == ["dns_records"]:
                    recs = [shape(zone, r) for r in STATE.records[zone["id"]].values()]
                    recs.sort(key=lambda r: (r["type"], r["name"], r["id"]))
                    return self.page(recs, query, 100, 5000000)
        self.send(404, error(7003, "Could not route to %s" % self.path))

    def page(self, items, query, default, maximum):
        page = int((query.get("page") or ["1"])[0])
        per_page = int((query.get("per_page") or [str(default)])[0])
        if page < 1 or per_page < 5 or per_page > maximum:
            return self.send(400, error(1004, "page must be >= 1 and per_page between 5 and %d" % maximum))
        total = len(items)
        chunk = items[(page - 1) * per_page : page * per_page]
        info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": total, "total_pages": max(1, -(-total // per_page))}
        self.send(200, envelope(chunk, info))

    # --- admin -----------------------------------------------------------------------------

    def admin(self, method, parts):
        body = self.body() if method in ("POST", "PATCH") else None
        with STATE.lock:
            if parts == ["health"]:
                return self.send(200, {"ok": True})
            if parts == ["reset"] and method == "POST":
                STATE.reset()
                return self.send(200, {"ok": True})
            if parts == ["stats"]:
                return self.send(200, STATE.stats)
            if parts == ["throttle"] and method == "POST":
                storm = {"count": int(body["count"]), "retry_after": int(body.get("retry_after", 1)),
                         "status": int(body.get("status", 429))}
                STATE.storms[body.get("token", "*")] = storm
                return self.send(200, storm)
            if parts == ["tokens"] and method == "POST":
                zones = body["zones"]
                STATE.tokens[body["token"]] = "*" if zones == "*" else set(zones)
                STATE.revoked.discard(body["token"])
                return self.send(200, {"ok": True})
            if parts[:1] == ["tokens"] and len(parts) == 2 and method == "DELETE":
                STATE.revoked.add(parts[1])
                return self.send(200, {"ok": True})
            if parts == ["zones"] and method == "POST":
                name = body["name"].rstrip(".").lower()
                zid = hashlib.md5(name.encode()).hexdigest()
                ns = body.get("name_servers") or ["ana.ns.cloudflare.com", "bob.ns.cloudflare.com"]
                STATE.zones[zid] = {"id": zid, "name": name, "status": "active", "name_servers": ns, "type": "full"}
                STATE.records.setdefault(zid, {})
                return self.send(200, STATE.zones[zid])
            if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "records":
                zid = parts[1]
                if zid not in STATE.zones:
                    return self.send(404, {"error": "no zone %s" % zid})
                recs = STATE.records[zid]
                if len(parts) == 3 and method == "POST":
                    stored = []
                    for r in body if isinstance(body, list) else [body]:
                        r = dict(r)
                        r.setdefault("id", uuid.uuid4().hex)
                        r["created_on"] = r["modified_on"] = now()
                        recs[r["id"]] = r
                        stored.append(shape(STATE.zones[zid], r))
                    return self.send(200, stored)
                if len(parts) == 3 and method == "DELETE":
                    recs.clear()
                    return self.send(200, {"ok": True})
                if len(parts) == 4 and parts[3] in recs:
                    if method == "PATCH":
                        recs[parts[3]].update(body)
                        recs[parts[3]]["modified_on"] = now()
                        return self.send(200, shape(STATE.zones[zid], recs[parts[3]]))
                    if method == "DELETE":
                        del recs[parts[3]]
                        return self.send(200, {"ok": True})
                return self.send(404, {"error": "no record %s" % "/".join(parts[3:])})
        self.send(404, {"error": "no admin endpoint %s %s" % (method, "/".join(parts))})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4580)
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args()
    if not a.host.startswith("127.") and a.host not in ("localhost", "::1"):
        p.error("the stand-in listens on loopback only")
    server = ThreadingHTTPServer((a.host, a.port), Handler)
    server.verbose = a.verbose
    server.daemon_threads = True
    print("cloudflare-standin on http://%s:%d%s" % (a.host, a.port, PREFIX), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
