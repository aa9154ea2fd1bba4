"""A fault-injecting HTTP proxy in front of the Route 53 stand-in (moto_server), on loopback.

Each request is classified by Route 53 operation and then, from a seeded schedule, passed
through or met with a fault:

  pass         forwarded unchanged
  delay        forwarded after a pause (a slow Route 53)
  reset        the connection is reset before anything is forwarded (nothing was applied)
  drop         forwarded, then the connection is reset instead of the answer: the change is
               applied and its answer lost (the client cannot know which)
  throttling   400 Throttling, answered here in Route 53's XML error format
  prior        400 PriorRequestNotComplete
  invalid      for a ChangeResourceRecordSets holding a DELETE: that record set is really
               deleted first (as by someone else, meanwhile), then 400 InvalidChangeBatch
               "Tried to delete ... but it was not found" is answered
  unavailable  503 ServiceUnavailable
  internal     500 InternalFailure

moto never throttles, never fails with a 5xx and never loses an answer: these are the faults
only a proxy can produce against it. One answer is not a fault but Route 53's own behaviour,
which moto lacks: a CreateHostedZone reusing a caller reference already sent gets 409
HostedZoneAlreadyExists (moto would make a second zone), and a DELETE of a record set that is
not there gets InvalidChangeBatch "... but it was not found" (moto answers a misleading
InvalidInput); those are counted under "emulated".

Control, on the proxy's own port (paths Route 53 does not use):
  PUT  /__faults  {"seed": 7, "rates": {"drop": 0.1, ...}, "script": ["drop", ...],
                   "operations": ["ChangeResourceRecordSets", ...]}
       a new schedule; counts start again. "script" lists the faults of the first matching
       requests, in order, before the seeded rates apply; "operations" limits faults to those
       operations (default: all).
  GET  /__faults  {"requests": N, "injected": {"drop": N, ...}, "by_operation": {...}}

Two options make it Route 53's account-wide request budget too (benches/fleet.py); without
them nothing above changes:
  --limit-rps R  a token bucket of R requests a second holding at most R, shared by every
                 connection, as AWS applies the budget per account: a request that finds it
                 empty is answered 400 Throttling and not forwarded. These answers are counted
                 under "enforced" in the control answer, not as injected faults, and come before
                 the schedule (a throttled request draws nothing from it).
  --log FILE     one line per Route 53 request, written when it has been read and its fate
                 decided, tab-separated: arrival time in milliseconds since the epoch and on the
                 monotonic clock, the operation, the hosted zone id of the path (or -), the DNS
                 name the request names (CreateHostedZone's Name, ListHostedZonesByName's
                 dnsname; or -), and what was done: pass, a fault's kind, throttled (enforced)
                 or emulated.

Usage: r53proxy.py --upstream http://127.0.0.1:4566 [--port 0] [--port-file FILE]
                   [--limit-rps R] [--log FILE]
The port it listens on is printed on the first line of standard output ("port N").
"""
import argparse
import asyncio
import json
import random
import re
import sys
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

NS = "https://route53.amazonaws.com/doc/2013-04-01/"
KINDS = ["delay", "reset", "drop", "throttling", "prior", "invalid", "unavailable", "internal"]

# (status, code, type, message) of the errors answered here, as Route 53 words them.
ERRORS = {
    "throttling": (400, "Throttling", "Sender", "Rate exceeded"),
    "prior": (400, "PriorRequestNotComplete", "Sender",
              "The request was rejected because Route 53 was still processing a prior request."),
    "unavailable": (503, "ServiceUnavailable", "Receiver", "Service Unavailable"),
    "internal": (500, "InternalFailure", "Receiver",
                 "The request processing has failed because of an unknown error, exception or failure."),
}


def operation(method, path):
    """The Route 53 operation a request is, from its method and path."""
    p = urllib.parse.urlsplit(path).path.rstrip("/")
    if re.fullmatch(r"/2013-04-01/hostedzone/[^/]+/rrset", p):
        return "ChangeResourceRecordSets" if method == "POST" else "ListResourceRecordSets"
    if p == "/2013-04-01/hostedzone":
        return "CreateHostedZone" if method == "POST" else "ListHostedZones"
    if re.fullmatch(r"/2013-04-01/hostedzone/[^/]+", p):
        return {"GET": "GetHostedZone", "DELETE": "DeleteHostedZone"}.get(method, "Other")
    if p.startswith("/2013-04-01/change/"):
        return "GetChange"
    if p == "/2013-04-01/hostedzonesbyname":
        return "ListHostedZonesByName"
    return "Other"


def zone_of(path, body):
    """The hosted zone id in a request's path, and the DNS name it names, each or "-"."""
    u = urllib.parse.urlsplit(path)
    m = re.match(r"/2013-04-01/hostedzone/([^/]+)", u.path)
    zone = m.group(1) if m else "-"
    name = "-"
    if u.path.rstrip("/") == "/2013-04-01/hostedzonesbyname":
        name = urllib.parse.parse_qs(u.query).get("dnsname", ["-"])[0] or "-"
    elif u.path.rstrip("/") == "/2013-04-01/hostedzone":
        n = re.search(rb"<Name>([^<]*)</Name>", body)
        if n:
            name = n.group(1).decode("utf-8", "replace")
    return zone, name


class TokenBucket:
    """Route 53's account-wide budget as AWS enforces it: `rate` tokens a second, at most
    `rate` held; a request takes one or is throttled."""

    def __init__(self, rate):
        self.rate = float(rate)
        self.tokens = self.rate
        self.last = time.monotonic()

    def take(self, now):
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def error_body(code, kind, message):
    return (
        f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{NS}"><Error><Type>{kind}</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()


def first_delete(body):
    """The first DELETE change of a ChangeResourceRecordSets body: (name, type, change XML)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for change in root.iter(f"{{{NS}}}Change"):
        if change.findtext(f"{{{NS}}}Action") == "DELETE":
            rr = change.find(f"{{{NS}}}ResourceRecordSet")
            if rr is None:
                continue
            name = rr.findtext(f"{{{NS}}}Name") or ""
            rtype = rr.findtext(f"{{{NS}}}Type") or ""
            xml = ET.tostring(change, encoding="unicode").replace("ns0:", "")
            return name, rtype, re.sub(r' xmlns:ns0="[^"]*"', "", xml)
    return None


class Schedule:
    def __init__(self, seed=0, rates=None, script=None, operations=None):
        self.rng = random.Random(seed)
        self.rates = {k: float(v) for k, v in (rates or {}).items() if k in KINDS}
        self.script = list(script or [])
        self.operations = set(operations or [])
        self.requests = 0
        self.injected = {}
        self.by_operation = {}
        # Answers given here where moto differs from Route 53 (not faults).
        self.emulated = {}
        # Requests refused by --limit-rps, by operation (None: no limit, not reported).
        self.enforced = None

    def pick(self, op, body):
        self.requests += 1
        if self.operations and op not in self.operations:
            return "pass"
        if self.script:
            kind = self.script.pop(0)
        else:
            kind, roll, acc = "pass", self.rng.random(), 0.0
            for k in KINDS:
                acc += self.rates.get(k, 0.0)
                if roll < acc:
                    kind = k
                    break
        if kind == "invalid" and (op != "ChangeResourceRecordSets" or first_delete(body) is None):
            kind = "pass"
        if kind != "pass":
            self.injected[kind] = self.injected.get(kind, 0) + 1
            key = f"{op}:{kind}"
            self.by_operation[key] = self.by_operation.get(key, 0) + 1
        return kind

    def report(self):
        out = {"requests": self.requests, "injected": self.injected,
               "by_operation": self.by_operation, "emulated": self.emulated}
        if self.enforced is not None:
            out["enforced"] = {"Throttling": sum(self.enforced.values()),
                               "by_operation": self.enforced}
        return out


class Proxy:
    def __init__(self, upstream, limit_rps=None, log=None):
        u = urllib.parse.urlsplit(upstream)
        self.host, self.port = u.hostname, u.port or 80
        self.limit_rps = limit_rps
        self.bucket = TokenBucket(limit_rps) if limit_rps else None
        self.log = log
        self.schedule = self.new_schedule()
        self.caller_references = set()

    def new_schedule(self, *args):
        schedule = Schedule(*args)
        if self.bucket is not None:
            schedule.enforced = {}
        return schedule

    def arrived(self, arrival, op, path, body, outcome):
        """One line of the arrival log (--log), if there is one."""
        if self.log is None:
            return
        epoch_ms, mono_ms = arrival
        zone, name = zone_of(path, body)
        self.log.write(f"{epoch_ms:.1f}\t{mono_ms:.1f}\t{op}\t{zone}\t{name}\t{outcome}\n")
        self.log.flush()

    def over_budget(self, op, mono):
        """--limit-rps: whether this request finds the account's budget empty (then counted)."""
        if self.bucket is None or self.bucket.take(mono):
            return False
        self.schedule.enforced[op] = self.schedule.enforced.get(op, 0) + 1
        return True

    async def forward(self, method, path, headers, body):
        """Sends one request to moto on a fresh connection; returns the raw answer."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {path} HTTP/1.1"]
        for k, v in headers:
            if k.lower() not in ("connection", "keep-alive", "content-length", "host"):
                lines.append(f"{k}: {v}")
        lines += [f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}",
                  "Connection: close"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        raw = await reader.read()
        writer.close()
        return raw

    async def delete_meanwhile(self, path, headers, change_xml):
        """Deletes one record set in moto directly, as another writer would (with the
        request's own headers: moto picks the service from its signature)."""
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="{NS}">'
            f"<ChangeBatch><Changes>{change_xml}</Changes></ChangeBatch>"
            "</ChangeResourceRecordSetsRequest>"
        ).encode()
        raw = await self.forward("POST", path, headers, body)
        if b" 200 " not in raw.split(b"\r\n", 1)[0]:
            print(f"deleting meanwhile failed: {raw[:300]!r}", file=sys.stderr, flush=True)

    def reused_caller_reference(self, body):
        """Route 53 refuses a second CreateHostedZone with a caller reference already used
        (HostedZoneAlreadyExists); moto creates a second zone. The proxy answers as Route 53
        does, so a create retried after its answer was lost behaves as it would in AWS."""
        m = re.search(rb"<CallerReference>([^<]*)</CallerReference>", body)
        if not m:
            return False
        if m.group(1) in self.caller_references:
            self.schedule.emulated["HostedZoneAlreadyExists"] = (
                self.schedule.emulated.get("HostedZoneAlreadyExists", 0) + 1)
            return True
        return False

    def remember_caller_reference(self, body):
        """A CreateHostedZone that reached moto: its caller reference is used from now on."""
        m = re.search(rb"<CallerReference>([^<]*)</CallerReference>", body)
        if m:
            self.caller_references.add(m.group(1))

    def as_route53_answers(self, raw, body):
        """moto answers a DELETE of a record set that is not there with a misleading
        InvalidInput (tests/README.md); Route 53 answers InvalidChangeBatch "... but it was not
        found". The proxy gives Route 53's answer."""
        head = raw.split(b"\r\n", 1)[0]
        if b" 400 " not in head or b"<Code>InvalidInput</Code>" not in raw:
            return raw
        if b"Expected exactly one of [AliasTarget" not in raw:
            return raw
        deleted = first_delete(body)
        if deleted is None:
            return raw
        name, rtype, _ = deleted
        self.schedule.emulated["InvalidChangeBatch"] = (
            self.schedule.emulated.get("InvalidChangeBatch", 0) + 1)
        b = error_body("InvalidChangeBatch", "Sender",
                       f"[Tried to delete resource record set [name='{name}', type='{rtype}'] "
                       "but it was not found]")
        return (f"HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\n"
                f"Content-Length: {len(b)}\r\n\r\n").encode() + b

    @staticmethod
    def answer(writer, status, body, content_type="text/xml", reason="Error"):
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nx-amzn-RequestId: {uuid.uuid4()}\r\n\r\n")
        writer.write(head.encode() + body)

    async def control(self, method, body, writer):
        if method == "PUT":
            spec = json.loads(body or b"{}")
            self.schedule = self.new_schedule(spec.get("seed", 0), spec.get("rates"),
                                              spec.get("script"), spec.get("operations"))
        self.answer(writer, 200, json.dumps(self.schedule.report()).encode(),
                    "application/json", "OK")

    async def serve(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers, length = [], 0
                while True:
                    h = (await reader.readline()).decode("latin-1").rstrip("\r\n")
                    if not h:
                        break
                    k, _, v = h.partition(":")
                    headers.append((k.strip(), v.strip()))
                    if k.strip().lower() == "content-length":
                        length = int(v)
                body = await reader.readexactly(length) if length else b""
                if path.startswith("/__faults"):
                    await self.control(method, body, writer)
                    await writer.drain()
                    continue
                mono = time.monotonic()
                arrival = (time.time() * 1000.0, mono * 1000.0)
                op = operation(method, path)
                if self.over_budget(op, mono):
                    self.arrived(arrival, op, path, body, "throttled")
                    status, code, typ, message = ERRORS["throttling"]
                    self.answer(writer, status, error_body(code, typ, message))
                    await writer.drain()
                    continue
                if op == "CreateHostedZone" and self.reused_caller_reference(body):
                    self.arrived(arrival, op, path, body, "emulated")
                    self.answer(writer, 409, error_body(
                        "HostedZoneAlreadyExists", "Sender",
                        "A hosted zone has already been created with the specified caller reference."))
                    await writer.drain()
                    continue
                kind = self.schedule.pick(op, body)
                self.arrived(arrival, op, path, body, kind)
                if kind == "reset":
                    writer.transport.abort()
                    return
                if kind in ERRORS:
                    status, code, typ, message = ERRORS[kind]
                    self.answer(writer, status, error_body(code, typ, message))
                    await writer.drain()
                    continue
                if kind == "invalid":
                    name, rtype, change_xml = first_delete(body)
                    await self.delete_meanwhile(path, headers, change_xml)
                    message = (f"[Tried to delete resource record set [name='{name}', "
                               f"type='{rtype}'] but it was not found]")
                    self.answer(writer, 400, error_body("InvalidChangeBatch", "Sender", message))
                    await writer.drain()
                    continue
                if kind == "delay":
                    await asyncio.sleep(self.schedule.rng.uniform(0.2, 2.0))
                raw = await self.forward(method, path, headers, body)
                if op == "CreateHostedZone":
                    self.remember_caller_reference(body)
                if op == "ChangeResourceRecordSets":
                    raw = self.as_route53_answers(raw, body)
                if kind == "drop":
                    writer.transport.abort()
                    return
                writer.write(raw)
                await writer.drain()
                # moto's answer was read to its end with Connection: close; this side keeps
                # the client's connection only if the answer said how long it was.
                if b"content-length" not in raw.split(b"\r\n\r\n", 1)[0].lower():
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--limit-rps", type=float, metavar="R",
                    help="answer Throttling beyond a token bucket of R requests a second, at most R held")
    ap.add_argument("--log", metavar="FILE", help="one line per Route 53 request (see above)")
    a = ap.parse_args()
    if a.limit_rps is not None and a.limit_rps <= 0:
        ap.error(f"--limit-rps must be above 0, not {a.limit_rps}")
    log = open(a.log, "a", buffering=1) if a.log else None
    proxy = Proxy(a.upstream, a.limit_rps, log)
    server = await asyncio.start_server(proxy.serve, a.host, a.port)
    port = server.sockets[0].getsockname()[1]
    if a.port_file:
        with open(a.port_file, "w") as f:
            f.write(f"{port}\n")
    print(f"port {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
