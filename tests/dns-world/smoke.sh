#!/usr/bin/env bash
# The DNS world of scripts/dns-world answers as the cutover tests assume: the resolver iterates
# from the fake root to the old provider, the parent's delegation changes by nsupdate, the
# "Route 53" nameservers serve what moto holds (the newest zone of a name, or the pinned one),
# the registry publishes what moto's route53domains holds, and the old provider can be emptied
# and restored. About 10 s. Exits non-zero on the first failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
W="$ROOT/scripts/dns-world"
PY="$ROOT/.venv/bin/python"
"$W" up
eval "$("$ROOT/scripts/test-env" env)"
eval "$("$W" env)"
host() { echo "${1%:*}"; }
RESOLVER="$(host "$ZS_RESOLVER")"
OLD="$(host "$ZS_WORLD_OLD_PROVIDER")"
R53="$(host "$ZS_WORLD_ROUTE53_NS")"
D="smoke-$$.com"
R53_SET=(ns-2048.awsdns-64.com ns-2049.awsdns-65.net ns-2050.awsdns-66.org ns-2051.awsdns-67.co.uk)
passed=0

fail() { echo "dns-world smoke: FAIL: $*" >&2; echo "$passed passed, 1 failed"; exit 1; }
ok() { passed=$((passed + 1)); echo "dns-world smoke: ok: $*"; }
cleanup() {
  "$W" remove-delegation "$D" >/dev/null 2>&1 || true
  rm -f "$ROOT/.test-env/dns-world/route53-zone-$D"
  r53 delete-all "$D" >/dev/null 2>&1 || true
  "$W" restore-old-provider example.com >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Route 53 and Route 53 Domains in moto, through boto3.
r53() {
  "$PY" - "$@" <<'PY'
import os, sys, boto3
kw = dict(endpoint_url=os.environ["ZS_ROUTE53_ENDPOINT"], region_name="us-east-1")
r53, cmd, args = boto3.client("route53", **kw), sys.argv[1], sys.argv[2:]
if cmd == "create":  # domain address-of-www -> zone id
    z = r53.create_hosted_zone(Name=args[0], CallerReference=f"smoke-{os.getpid()}-{args[1]}")["HostedZone"]["Id"].split("/")[-1]
    r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": f"www.{args[0]}", "Type": "A", "TTL": 2, "ResourceRecords": [{"Value": args[1]}]}}]})
    print(z)
elif cmd == "delete-all":  # every zone of this name (the test's own, unique name)
    zones = [z for p in r53.get_paginator("list_hosted_zones").paginate() for z in p["HostedZones"]]
    for z in (z["Id"] for z in zones if z["Name"].rstrip(".") == args[0]):
        for rr in r53.list_resource_record_sets(HostedZoneId=z)["ResourceRecordSets"]:
            if rr["Type"] not in ("SOA", "NS"):
                r53.change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": rr}]})
        r53.delete_hosted_zone(Id=z)
elif cmd == "register":  # domain ns... (moto refuses DurationInYears=1: "ExpirationDate must by between 1 and 10 years")
    d = boto3.client("route53domains", **kw)
    c = {"FirstName": "Zone", "LastName": "Shift", "ContactType": "PERSON", "AddressLine1": "1 Test St", "City": "Testville",
         "State": "CA", "CountryCode": "US", "ZipCode": "12345", "PhoneNumber": "+1.5555555555", "Email": "dns@example.net"}
    d.register_domain(DomainName=args[0], DurationInYears=2, AdminContact=c, RegistrantContact=c, TechContact=c)
    d.update_domain_nameservers(DomainName=args[0], Nameservers=[{"Name": n} for n in args[1:]])
elif cmd == "deregister":
    boto3.client("route53domains", **kw).delete_domain(DomainName=args[0])
PY
}

# Poll until a command prints what is expected (the sync loop runs every second).
expect() { # what want command...
  local what="$1" want="$2" got=""; shift 2
  for _ in $(seq 50); do
    got="$("$@" 2>/dev/null || true)"
    [[ "$got" == "$want" ]] && { ok "$what"; return 0; }
    sleep 0.2
  done
  fail "$what: want '$want', got '$got'"
}
q() { dig +time=2 +tries=1 +short "$@"; }

"$W" status >/dev/null || fail "scripts/dns-world status: $("$W" status 2>&1)"
ok "every server runs and answers"
# Start from the world as `up` made it: earlier tests may have switched example.com and left
# the resolver's cache holding that delegation.
"$W" set-delegation example.com ns1.old-provider.net ns2.old-provider.net >/dev/null
"$W" clear-ds example.com >/dev/null
"$W" restore-old-provider example.com >/dev/null
"$W" flush-cache >/dev/null

expect "Unbound resolves www.example.com from the fake root to the old provider" 192.0.2.80 q @"$RESOLVER" www.example.com A
expect "the old provider answers SOA with its own mname" ns1.old-provider.net. \
  sh -c "dig +short @$RESOLVER example.com SOA | cut -d' ' -f1"
for n in "${R53_SET[@]}"; do expect "$n resolves to the Route 53 server" "$R53" q @"$RESOLVER" "$n" A; done
expect "com. delegates example.com to the old provider with the parent TTL" \
  "$ZS_WORLD_PARENT_NS_TTL ns1.old-provider.net. $ZS_WORLD_PARENT_NS_TTL ns2.old-provider.net." \
  sh -c "'$W' parent-ns example.com | awk '{print \$2, \$5}' | sort | tr '\n' ' ' | sed 's/ \$//'"
expect "the old provider's apex NS carries the child TTL" "$ZS_WORLD_CHILD_NS_TTL" \
  sh -c "dig +norec @$OLD example.com NS +noall +answer | awk '{print \$2}' | sort -u"

[[ "$(dig @"$OLD" example.com AXFR +noall +answer | grep -c 'IN')" -eq 0 ]] || fail "AXFR without the key was allowed"
[[ "$(dig -k "$ZS_WORLD_TSIG_KEY_FILE" @"$OLD" example.com AXFR +noall +answer | grep -c 'IN')" -gt 5 ]] || fail "AXFR with the key failed"
ok "the old provider transfers example.com with the TSIG key only"

# Route 53: the newest zone of a name is served; a pin file selects another.
first="$(r53 create "$D" 192.0.2.1)"
expect "the Route 53 server serves moto's zone $D" 192.0.2.1 q +norec @"$R53" "www.$D" A
expect "with moto's SOA" ns-2048.awsdns-64.com. sh -c "dig +short +norec @$R53 $D SOA | cut -d' ' -f1"
r53 create "$D" 192.0.2.2 >/dev/null
expect "a newer zone of the same name replaces it" 192.0.2.2 q +norec @"$R53" "www.$D" A
echo "$first" >"$ROOT/.test-env/dns-world/route53-zone-$D"
expect "a pin file selects the older zone" 192.0.2.1 q +norec @"$R53" "www.$D" A

# The registrar (Manual mode) and the resolver following the new delegation.
"$W" set-delegation "$D" "${R53_SET[@]}" >/dev/null
expect "set-delegation publishes the Route 53 set in com." "${R53_SET[*]}" \
  sh -c "'$W' parent-ns $D | awk '{print \$5}' | sed 's/\.\$//' | sort | tr '\n' ' ' | sed 's/ \$//'"
expect "Unbound follows it to the Route 53 server" 192.0.2.1 q @"$RESOLVER" "www.$D" A

"$W" set-ds "$D" "12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF" >/dev/null
expect "set-ds puts a DS record at the parent" 1 sh -c "'$W' parent-ns $D | awk '\$4 == \"DS\"' | wc -l"
"$W" clear-ds "$D" >/dev/null
expect "clear-ds removes it" 0 sh -c "'$W' parent-ns $D | awk '\$4 == \"DS\"' | wc -l"

# The registry (Route53Domains mode): what moto's route53domains holds goes into com.
r53 register "$D" ns-2048.awsdns-64.com ns-2049.awsdns-65.net
"$W" publish-registrar "$D" >/dev/null
expect "publish-registrar publishes moto's nameservers" "ns-2048.awsdns-64.com ns-2049.awsdns-65.net" \
  sh -c "'$W' parent-ns $D | awk '{print \$5}' | sed 's/\.\$//' | sort | tr '\n' ' ' | sed 's/ \$//'"
r53 deregister "$D" # the zone register_domain made stays: cleanup deletes every zone named $D

# The careless old provider: emptied but still answering, then restored.
"$W" flush-old-provider example.com >/dev/null
expect "flush-old-provider leaves only SOA and NS (www is NXDOMAIN)" NXDOMAIN \
  sh -c "dig +norec @$OLD www.example.com A | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'"
expect "and the zone holds 3 records: SOA and two NS" 3 \
  sh -c "dig -k '$ZS_WORLD_TSIG_KEY_FILE' @$OLD example.com AXFR +noall +answer | sort -u | grep -c 'IN'"
"$W" restore-old-provider example.com >/dev/null
expect "restore-old-provider puts www back" 192.0.2.80 q +norec @"$OLD" www.example.com A
"$W" old-provider-ns-ttl example.com 2 >/dev/null
expect "old-provider-ns-ttl lowers the apex NS TTL" 2 sh -c "dig +norec @$OLD example.com NS +noall +answer | awk '{print \$2}' | sort -u"
"$W" restore-old-provider example.com >/dev/null
expect "restore-old-provider puts the NS TTL back" "$ZS_WORLD_CHILD_NS_TTL" \
  sh -c "dig +norec @$OLD example.com NS +noall +answer | awk '{print \$2}' | sort -u"

"$W" flush-cache example.com
cache="$("$W" dump-cache)"
[[ "$(grep -c '^example\.com\..*IN[[:space:]]NS' <<<"$cache" || true)" == 0 ]] || fail "flush-cache left example.com's NS in Unbound's cache"
ok "flush-cache empties Unbound's cache for a domain"

echo "$passed passed, 0 failed"
