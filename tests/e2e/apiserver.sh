#!/usr/bin/env bash
# What only a real kube-apiserver can answer, against the one of scripts/test-env:
#   crd        the generated CRD installs, is Established, its CEL rules compiled within the
#              cost budget; kubectl explain and the printer columns of `get -o wide`
#   reject     bad manifests refused at `kubectl apply` time, each message naming the field
#   ssa        server-side apply by a GitOps field manager beside the operator's status writes:
#              no conflict, the operator owns no spec field (managedFields)
#   size       client-side apply of 10,000 records refused (last-applied annotation over
#              256 KiB), server-side apply of them accepted; the largest record lists that fit
#   rbac       least privilege: with each rule of the chart's RBAC removed in turn, the
#              operator fails in a way the test sees (a 403 in its log, or a step not reached)
# Usage: tests/e2e/apiserver.sh [section...]   (default: all, in the order above)
# Prints every check, then "N passed, N failed"; exits non-zero when any check failed.
# ZS_SIZE_MEASURE=1 also measures the limits by bisection (about a minute) and prints them.
set -uo pipefail
shopt -s lastpipe  # `manifest | reject ...` counts in this shell

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${ZS_ROUTE53_ENDPOINT:?run: eval \"\$(scripts/test-env env)\"}"
: "${ZS_OPERATOR_KUBECONFIG:?run: eval \"\$(scripts/test-env env)\"}"
: "${ZS_HELM:?run: eval \"\$(scripts/test-env env)\"}"
BIN="${ZS_BIN:-$ROOT/target/debug/zoneshift}"
PY="$ROOT/.venv/bin/python"
RUN="$$"
WORK="$(mktemp -d)"
PIDS=()
NAMESPACES=()
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "apiserver: ok: $*"; }
bad() { failed=$((failed + 1)); echo "apiserver: FAIL: $*"; }
check() { # description command...
  local d="$1"; shift
  if "$@"; then ok "$d"; else bad "$d"; fi
}
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for p in "${NAMESPACES[@]}"; do kubectl delete namespace "$p" --wait=false >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
new_ns() { # name: a namespace for this run, deleted at the end
  kubectl create namespace "$1" >/dev/null
  NAMESPACES+=("$1")
}
[[ -x "$BIN" ]] || { echo "apiserver: no binary at $BIN: run cargo build"; echo "0 passed, 1 failed"; exit 1; }

# ---------------------------------------------------------------------------------------------
crd() {
  local out
  out="$(kubectl apply -f "$ROOT/crds/hostedzonemigration.yaml" 2>&1)"  # as the README says
  check "the generated CRD installs (schema and CEL rules accepted by the server)" [ $? -eq 0 ]
  [[ -n "$out" ]] && echo "  $out"
  check "the CRD is Established" kubectl wait --for=condition=Established crd/hostedzonemigrations.zoneshift.io --timeout=30s
  local rules
  rules="$(kubectl get crd hostedzonemigrations.zoneshift.io -o json | "$PY" -c '
import json, sys
def walk(n):
    if isinstance(n, dict):
        yield from n.get("x-kubernetes-validations", [])
        for v in n.values(): yield from walk(v)
    elif isinstance(n, list):
        for v in n: yield from walk(v)
print(len(list(walk(json.load(sys.stdin)))))')"
  local want
  want="$(grep -c 'rule:' "$ROOT/crds/hostedzonemigration.yaml")"
  check "the server kept all $want CEL rules of the CRD (it holds $rules)" [ "$rules" = "$want" ]
  # kubectl's discovery cache may predate the CRD: the first miss refreshes it.
  local i explained=1
  for i in 1 2 3 4 5; do
    if kubectl explain hzm.spec.cutover 2>/dev/null | grep -q minimumSoak \
      && kubectl explain hzm.spec.records.type 2>/dev/null | grep -q 'ENUM'; then explained=0; break; fi
    sleep 1
  done
  check "kubectl explain reads the schema (fields, enums) from the server" [ "$explained" = 0 ]
  local ns="zs-api-crd-$RUN"
  new_ns "$ns"
  kubectl apply -n "$ns" -f - >/dev/null <<'YAML'
apiVersion: zoneshift.io/v1alpha1
kind: HostedZoneMigration
metadata: {name: columns}
spec: {domain: columns.example.com}
YAML
  local header
  header="$(kubectl get hzm -n "$ns" -o wide | head -n 1)"
  echo "  $header"
  check "kubectl get -o wide shows the printer columns" \
    bash -c "[[ \"$header\" =~ ^NAME\ +DOMAIN\ +PHASE\ +IN\ SYNC\ +DESIRED\ +GATE\ OPENS\ +NAMESERVERS\ +AGE ]]"
  local def
  def="$(kubectl get hzm -n "$ns" columns -o jsonpath='{.spec.policy.maxDeletePercent} {.spec.cutover.mode} {.spec.hostedZone.deletionPolicy}')"
  check "the server applies the schema's defaults ($def)" [ "$def" = "25 Manual Retain" ]
}

# ---------------------------------------------------------------------------------------------
# reject DESCRIPTION EXPECTED-TEXT < manifest: kubectl apply must fail with EXPECTED-TEXT.
reject() {
  local out
  if out="$(kubectl apply -n "$REJECT_NS" -f - 2>&1)"; then
    bad "refused: $1 (the server accepted it)"
  elif [[ "$out" == *"$2"* ]]; then
    local line
    line="$(grep -F -m1 -- "$2" <<<"$out")"
    ok "refused: $1: ${line:0:240}"
    [[ -n "${ZS_VERBOSE:-}" ]] && echo "  $out"
  else
    bad "refused: $1, but the message does not name '$2': $out"
  fi
}
# One HostedZoneMigration whose spec is the valid base with the given YAML lines added.
hzm() { # name spec-lines
  printf 'apiVersion: zoneshift.io/v1alpha1\nkind: HostedZoneMigration\nmetadata: {name: %s}\nspec:\n%s\n' "$1" "$2"
}
reject_all() {
  REJECT_NS="zs-api-reject-$RUN"
  new_ns "$REJECT_NS"
  local D="  domain: reject.example.com"
  hzm good "$D
  records: [{name: www, type: A, ttl: 300, values: [192.0.2.1]}, {name: '@', type: A, alias: {dnsName: lb.example.net., hostedZoneId: Z35SXDOTRQ7X7K}}]
  policy: {mode: UpsertOnly, maxDeletePercent: 100}
  cutover: {mode: Route53Domains, loweredNameserverTtl: 60, finalNameserverTtl: 86400, minimumSoak: 1h30m}" >"$WORK/good.yaml"
  check "a valid manifest is accepted (the base of the bad ones)" kubectl apply -n "$REJECT_NS" -f "$WORK/good.yaml" -o name
  hzm tld "  domain: io" >"$WORK/tld.yaml"
  check "a top-level domain is a domain (Route 53 hosts it)" kubectl apply -n "$REJECT_NS" --dry-run=server -f "$WORK/tld.yaml" -o name
  hzm classless "  domain: 0/25.2.0.192.in-addr.arpa" >"$WORK/classless.yaml"
  check "an RFC 2317 classless reverse zone is a domain" kubectl apply -n "$REJECT_NS" --dry-run=server -f "$WORK/classless.yaml" -o name
  hzm a "  domain: 'not a domain!'" | reject "malformed domain" "spec.domain"
  hzm a "  domain: example..com" | reject "empty label in the domain" "spec.domain"
  hzm a "  domain: $(printf 'a%.0s' {1..250}).com" | reject "domain longer than 253 characters" "spec.domain"
  hzm a "  hostedZone: {deletionPolicy: Retain}" | reject "missing domain" "spec.domain: Required value"
  printf 'apiVersion: zoneshift.io/v1alpha1\nkind: HostedZoneMigration\nmetadata: {name: a}\n' | reject "missing spec" "spec: Required value"
  sed 's/domain: reject.example.com/domain: other.example.com/' "$WORK/good.yaml" | reject "changing the immutable domain" "domain is immutable"
  hzm a "$D
  hostedZone: {deletionPolicy: Destroy}" | reject "deletionPolicy not Retain or Delete" "spec.hostedZone.deletionPolicy: Unsupported value"
  hzm a "$D
  hostedZone: {id: z-lowercase}" | reject "malformed hosted zone id" "spec.hostedZone.id"
  hzm a "$D
  records: [{name: www, type: SOA, values: ['x']}]" | reject "record type SOA (Route 53's own)" "spec.records[0].type: Unsupported value"
  hzm a "$D
  records: [{name: www, type: a, values: ['192.0.2.1']}]" | reject "record type in lower case" "spec.records[0].type: Unsupported value"
  hzm a "$D
  records: [{name: www, values: ['192.0.2.1']}]" | reject "record without a type" "spec.records[0].type: Required value"
  hzm a "$D
  records: [{type: A, values: ['192.0.2.1']}]" | reject "record without a name" "spec.records[0].name: Required value"
  hzm a "$D
  records: [{name: '', type: A, values: ['192.0.2.1']}]" | reject "record with an empty name" "spec.records[0].name"
  hzm a "$D
  records: [{name: www, type: A, ttl: -1, values: ['192.0.2.1']}]" | reject "negative TTL" "spec.records[0].ttl"
  hzm a "$D
  records: [{name: www, type: A, ttl: 2147483648, values: ['192.0.2.1']}]" | reject "TTL above 2^31-1" "spec.records[0].ttl"
  hzm a "$D
  records: [{name: www, type: A, ttl: 'five', values: ['192.0.2.1']}]" | reject "TTL that is not a number" "spec.records[0].ttl"
  hzm a "$D
  records: [{name: www, type: A, setIdentifier: w, weight: 256, values: ['192.0.2.1']}]" | reject "weight above 255" "spec.records[0].weight"
  hzm a "$D
  records: [{name: www, type: A, setIdentifier: f, failover: TERTIARY, values: ['192.0.2.1']}]" | reject "failover not PRIMARY or SECONDARY" "spec.records[0].failover: Unsupported value"
  hzm a "$D
  records: [{name: www, type: A, setIdentifier: '$(printf 'x%.0s' {1..129})', weight: 1, values: ['192.0.2.1']}]" | reject "setIdentifier over 128 characters" "spec.records[0].setIdentifier"
  hzm a "$D
  records: [{name: www, type: A, alias: {dnsName: lb.example.net.}}]" | reject "alias without hostedZoneId" "spec.records[0].alias.hostedZoneId: Required value"
  hzm a "$D
  records: [{name: www, type: A, values: ['192.0.2.1'], alias: {dnsName: lb.example.net., hostedZoneId: Z1}}]" | reject "values and alias together" "spec.records[0]: Invalid value"
  hzm a "$D
  records: [{name: www, type: A}]" | reject "record with neither values nor alias" "spec.records[0]: Invalid value"
  hzm a "$D
  records: [{name: www, type: A, ttl: 60, alias: {dnsName: lb.example.net., hostedZoneId: Z1}}]" | reject "TTL on an alias record" "an alias record has no TTL"
  hzm a "$D
  records: [{name: www, type: CNAME, values: [a.example.net., b.example.net.]}]" | reject "CNAME with two values" "a CNAME has exactly one value"
  hzm a "$D
  records: [{name: '@', type: CNAME, values: [a.example.net.]}]" | reject "CNAME at the apex" "a CNAME cannot sit at the zone apex"
  hzm a "$D
  records: [{name: '@', type: NS, values: [ns1.example.net.]}]" | reject "apex NS records (the Route 53 delegation set)" "the apex NS records are the Route 53 delegation set"
  hzm a "$D
  records: [{name: www, type: A, setIdentifier: x, values: ['192.0.2.1']}]" | reject "setIdentifier without a routing policy" "setIdentifier needs a routing policy"
  hzm a "$D
  records: [{name: www, type: A, weight: 10, values: ['192.0.2.1']}]" | reject "routing policy without setIdentifier" "a routing policy needs a setIdentifier"
  hzm a "$D
  records: [{name: www, type: A, setIdentifier: x, weight: 10, failover: PRIMARY, values: ['192.0.2.1']}]" | reject "two routing policies" "only one routing policy"
  hzm a "$D
  policy: {mode: Delete}" | reject "policy.mode not Sync or UpsertOnly" "spec.policy.mode: Unsupported value"
  hzm a "$D
  policy: {maxDeletePercent: 101}" | reject "maxDeletePercent above 100" "spec.policy.maxDeletePercent"
  hzm a "$D
  policy: {maxDeletePercent: -5}" | reject "negative maxDeletePercent" "spec.policy.maxDeletePercent"
  hzm a "$D
  cutover: {mode: Automatic}" | reject "cutover.mode not Manual or Route53Domains" "spec.cutover.mode: Unsupported value"
  hzm a "$D
  cutover: {approved: 'yes'}" | reject "approved that is not a boolean" "spec.cutover.approved"
  hzm a "$D
  cutover: {loweredNameserverTtl: -1}" | reject "negative loweredNameserverTtl" "spec.cutover.loweredNameserverTtl"
  hzm a "$D
  cutover: {finalNameserverTtl: 4294967296}" | reject "finalNameserverTtl above 2^31-1" "spec.cutover.finalNameserverTtl"
  hzm a "$D
  cutover: {minimumSoak: 1 day}" | reject "minimumSoak that is not a duration" "spec.cutover.minimumSoak"
  hzm a "$D
  source: {zoneFile: {configMapKeyRef: {name: zone}}}" | reject "zoneFile without its key" "spec.source.zoneFile.configMapKeyRef.key: Required value"
  hzm a "$D
  aws: {roleArn: 'arn:aws:iam::123:role/dns'}" | reject "roleArn with a short account id" "spec.aws.roleArn"
}

# ---------------------------------------------------------------------------------------------
# Server-side apply: a GitOps tool (field manager argocd) owns the spec, the operator the status.
start_operator() { # namespace admin-port log kubeconfig [args...]
  local ns="$1" port="$2" log="$3" kc="$4"; shift 4
  KUBECONFIG="$kc" RUST_LOG="info,zoneshift=debug" POD_NAME="zoneshift-test-$RUN" "$BIN" run --namespace "$ns" \
    --log-format text --admin-addr "127.0.0.1:$port" --change-poll-interval 1s --resync-interval 5s "$@" >"$log" 2>&1 &
  PIDS+=($!)
  OP_PID=$!
}
stop_operator() { # SIGTERM, then SIGKILL after 5 s (noted in the log: a stop that hung)
  kill "$OP_PID" 2>/dev/null || true
  local i
  for i in $(seq 50); do kill -0 "$OP_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$OP_PID" 2>/dev/null; then
    echo "apiserver: note: the operator ignored SIGTERM for 5 s; killed" >&2
    kill -KILL "$OP_PID" 2>/dev/null || true
  fi
  wait "$OP_PID" 2>/dev/null || true
}
ssa() {
  local ns="zs-api-ssa-$RUN" log="$WORK/ssa.log"
  new_ns "$ns"
  start_operator "$ns" 18084 "$log" "$ZS_OPERATOR_KUBECONFIG"
  local doc
  doc() { # www address
    hzm site "  domain: ssa-$RUN.example.com
  hostedZone: {deletionPolicy: Delete}
  records: [{name: www, type: A, ttl: 300, values: ['$1']}]"
  }
  if doc 192.0.2.1 | kubectl apply -n "$ns" --server-side --field-manager=argocd -f - >/dev/null; then
    ok "argocd applies the spec server-side"
  else
    bad "argocd could not apply the spec server-side"
  fi
  if kubectl wait -n "$ns" --for=condition=RecordsSynced hzm/site --timeout=60s >/dev/null; then
    ok "the operator synced and wrote status under its own field manager"
  else
    bad "RecordsSynced never became True"; tail -n 20 "$log"
  fi
  local out
  out="$(doc 192.0.2.2 | kubectl apply -n "$ns" --server-side --field-manager=argocd -f - 2>&1)"
  check "a second GitOps apply of a changed spec meets no conflict ($out)" [ $? -eq 0 ]
  local gen
  gen="$(kubectl get -n "$ns" hzm/site -o jsonpath='{.metadata.generation}')"
  for _ in $(seq 60); do
    [[ "$(kubectl get -n "$ns" hzm/site -o jsonpath='{.status.observedGeneration}')" == "$gen" ]] && break
    sleep 0.5
  done
  check "the changed spec is generation 2 ($gen)" [ "$gen" = 2 ]
  check "the operator observed the new generation $gen" \
    [ "$(kubectl get -n "$ns" hzm/site -o jsonpath='{.status.observedGeneration}')" = "$gen" ]
  kubectl get -n "$ns" hzm/site -o json --show-managed-fields >"$WORK/ssa.json"
  "$PY" - "$WORK/ssa.json" >"$WORK/ssa.out" <<'EOF'
import json, sys
obj = json.load(open(sys.argv[1]))
for m in obj["metadata"]["managedFields"]:
    fields = m.get("fieldsV1", {})
    print(m["manager"], m["operation"], m.get("subresource", "-"), " ".join(sorted(fields)),
          "spec-owned" if "f:spec" in fields else "")
EOF
  sed 's/^/  managedFields: /' "$WORK/ssa.out"
  check "argocd owns the spec (an Apply entry with f:spec)" grep -qE '^argocd Apply - .*f:spec' "$WORK/ssa.out"
  check "the operator owns status through the status subresource" grep -qE '^zoneshift Apply status f:status' "$WORK/ssa.out"
  check "no manager but argocd owns a spec field" bash -c "! grep -v '^argocd ' '$WORK/ssa.out' | grep -q spec-owned"
  out="$(doc 192.0.2.3 | kubectl apply -n "$ns" --server-side --field-manager=someone-else -f - 2>&1)"
  check "another manager changing argocd's field gets a conflict" grep -qi conflict <<<"$out"
  kubectl delete -n "$ns" hzm/site --timeout=60s >/dev/null || bad "delete did not finish"
  stop_operator
}

# ---------------------------------------------------------------------------------------------
# Size: records as `zoneshift import` writes them, in one manifest.
manifest() { # name count
  "$PY" - "$1" "$2" <<'EOF'
import json, sys
name, n = sys.argv[1], int(sys.argv[2])
records = [{"name": f"host-{i:05d}", "type": "A", "ttl": 300, "values": [f"198.51.{i // 250 % 256}.{i % 250 + 1}"]}
           for i in range(n)]
print(json.dumps({"apiVersion": "zoneshift.io/v1alpha1", "kind": "HostedZoneMigration",
                  "metadata": {"name": name}, "spec": {"domain": "big.example.org", "records": records}},
                 separators=(",", ":")))
EOF
}
compact() { "$PY" -c 'import json, sys; print(json.dumps(json.load(sys.stdin), separators=(",", ":")), end="")'; }
fits() { # mode count: does a resource with count records get created?
  local name="fit-$2" rc
  manifest "$name" "$2" >"$WORK/fit.json"
  if [[ "$1" == client ]]; then
    kubectl apply -n "$SIZE_NS" -f "$WORK/fit.json" >/dev/null 2>"$WORK/fit.err"; rc=$?
  else
    kubectl apply -n "$SIZE_NS" --server-side --field-manager=zoneshift-tests -f "$WORK/fit.json" >/dev/null 2>"$WORK/fit.err"; rc=$?
  fi
  if [[ -n "${KEEP_FIT:-}" && $rc == 0 ]]; then
    kubectl get -n "$SIZE_NS" hzm "$name" -o json --show-managed-fields | compact | wc -c >"$WORK/fit.stored"
    kubectl get -n "$SIZE_NS" hzm "$name" -o jsonpath='{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}' | wc -c >"$WORK/fit.annotation"
  fi
  kubectl delete -n "$SIZE_NS" hzm "$name" --ignore-not-found --wait=false >/dev/null 2>&1
  return "$rc"
}
largest() { # mode lo hi: the largest count in [lo, hi) that fits
  local lo="$2" hi="$3" mid
  while ((hi - lo > 1)); do
    mid=$(((lo + hi) / 2))
    if fits "$1" "$mid"; then lo=$mid; else hi=$mid; fi
  done
  echo "$lo"
}
size() {
  SIZE_NS="zs-api-size-$RUN"
  new_ns "$SIZE_NS"
  manifest big 10000 >"$WORK/big.json"
  echo "  the 10,000-record manifest: $(wc -c <"$WORK/big.json") bytes of JSON"
  local out
  out="$(kubectl apply -n "$SIZE_NS" -f "$WORK/big.json" 2>&1)"
  if [[ $? -ne 0 && "$out" == *"Too long: may not be more than 262144 bytes"* || "$out" == *"Too long: must have at most 262144 bytes"* ]]; then
    ok "client-side apply of 10,000 records is refused: ${out:0:200}"
  else
    bad "client-side apply of 10,000 records was not refused for the annotation's size: ${out:0:300}"
  fi
  kubectl delete -n "$SIZE_NS" hzm big --ignore-not-found >/dev/null 2>&1
  check "server-side apply of the same 10,000 records is accepted" \
    kubectl apply -n "$SIZE_NS" --server-side --field-manager=zoneshift-tests -f "$WORK/big.json" -o name
  local stored
  stored="$(kubectl get -n "$SIZE_NS" hzm big -o json --show-managed-fields | compact | wc -c)"
  echo "  stored as $stored bytes of compact JSON, managedFields included"
  check "the stored resource holds all 10,000 records" \
    [ "$(kubectl get -n "$SIZE_NS" hzm big -o jsonpath='{.spec.records[9999].name}')" = host-09999 ]
  kubectl delete -n "$SIZE_NS" hzm big >/dev/null 2>&1
  if [[ "${ZS_SIZE_MEASURE:-}" == 1 ]]; then
    local c s
    c="$(largest client 100 10000)"
    KEEP_FIT=1 fits client "$c"
    echo "  client-side apply: at most $c records: manifest $(manifest m "$c" | wc -c) bytes of compact JSON, annotation $(cat "$WORK/fit.annotation") bytes, stored $(cat "$WORK/fit.stored") bytes"
    fits client "$((c + 1))"
    echo "  $((c + 1)) records: $(grep -m1 -o 'metadata.annotations: Too long[^*]*' "$WORK/fit.err")"
    s="$(largest server 10000 40000)"
    KEEP_FIT=1 fits server "$s"
    echo "  server-side apply: at most $s records: manifest $(manifest m "$s" | wc -c) bytes of compact JSON, stored $(cat "$WORK/fit.stored") bytes"
    fits server "$((s + 1))"
    echo "  $((s + 1)) records: $(head -c 200 "$WORK/fit.err")"
  fi
}

# ---------------------------------------------------------------------------------------------
# Least privilege: every rule of the chart's RBAC is needed.
rbac() {
  "$ZS_HELM" template zoneshift "$ROOT/charts/zoneshift" --namespace zoneshift-system --show-only templates/rbac.yaml >"$WORK/rbac.yaml"
  local n
  n="$("$PY" "$ROOT/tests/e2e/rbac_variant.py" count "$WORK/rbac.yaml")"
  check "the chart renders $n RBAC rules" [ "$n" -gt 0 ]
  local i
  for i in full $(seq 0 $((n - 1))); do
    rbac_case "$i" "$n"
  done
}
# One operator as ServiceAccount lp-<case> with the chart's rules, less rule <case> ("full": none
# removed), leader election on, a zone file from a ConfigMap, until it reaches every step or
# something is refused.
rbac_case() { # case count
  local c="$1" ns="zs-api-rbac-$1-$RUN" log="$WORK/rbac-$1.log" sa="lp-$1"
  new_ns "$ns"
  kubectl create serviceaccount -n "$ns" "$sa" >/dev/null
  local removed
  removed="$("$PY" "$ROOT/tests/e2e/rbac_variant.py" variant "$WORK/rbac.yaml" "$c" "$ns" "$sa" "zs-api-$RUN-$c" 2>&1 >"$WORK/rbac-$c.yaml")"
  kubectl apply -f "$WORK/rbac-$c.yaml" >/dev/null || { bad "rbac $c: could not apply the variant"; return; }
  write_sa_kubeconfig "$ns" "$sa" "$WORK/kc-$c"
  kubectl create configmap -n "$ns" zone --from-literal=zone="\$ORIGIN rbac-$c-$RUN.example.com.
\$TTL 300
@ IN SOA ns1.old-provider.net. hostmaster.old-provider.net. 1 7200 900 1209600 300
@ IN NS ns1.old-provider.net.
www IN A 192.0.2.10" >/dev/null
  kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zoneshift.io/v1alpha1
kind: HostedZoneMigration
metadata: {name: site}
spec:
  domain: rbac-$c-$RUN.example.com
  source: {zoneFile: {configMapKeyRef: {name: zone, key: zone}}}
YAML
  start_operator "$ns" 18085 "$log" "$WORK/kc-$c" --leader-election --leader-election-namespace "$ns"
  local reached="" t0=$SECONDS
  while ((SECONDS - t0 < 25)); do
    reached="$(steps "$ns")"
    [[ "$reached" == "ready leader synced events finalizer" ]] && break
    [[ "$c" != full ]] && grep -qiE 'forbidden' "$log" && sleep 1 && reached="$(steps "$ns")" && break
    sleep 0.5
  done
  stop_operator
  local refused
  refused="$(grep -ioE 'cannot [a-z]+ resource \\?"[a-z./]+\\?"( in API group \\?"[a-z.]*\\?")?' "$log" | tr -d '\\' | sort -u | head -3 | paste -sd ';')"
  if [[ -z "$refused" ]]; then  # a refusal the operator reports in a condition, not in its log
    refused="$(kubectl get hzm -n "$ns" site -o jsonpath='{range .status.conditions[*]}{.type}: {.message}{"\n"}{end}' 2>/dev/null \
      | grep -m1 -i forbidden | cut -c1-200)"
  fi
  if [[ "$c" == full ]]; then
    if [[ "$reached" == "ready leader synced events finalizer" && -z "$refused" ]]; then
      ok "rbac: with every rule the operator is ready, leads, syncs, records events and adds its finalizer"
    else
      bad "rbac: with every rule the operator reached only: $reached ${refused:+(refused: $refused)}"; tail -n 15 "$log"
    fi
  elif [[ "$reached" != "ready leader synced events finalizer" ]]; then
    ok "rbac: without rule $c ($removed) it does not get through (reached: ${reached:-nothing}; ${refused:-no 403 logged})"
  else
    bad "rbac: rule $c ($removed) is granted but nothing needed it"
  fi
}
steps() { # namespace: the steps the operator got through
  local ns="$1" s=()
  [[ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:18085/readyz)" == 200 ]] && s+=(ready)
  [[ -n "$(kubectl get lease -n "$ns" zoneshift-leader -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)" ]] && s+=(leader)
  [[ "$(kubectl get hzm -n "$ns" site -o jsonpath='{.status.conditions[?(@.type=="RecordsSynced")].status}' 2>/dev/null)" == True ]] && s+=(synced)
  [[ -n "$(kubectl get events.v1.events.k8s.io -n "$ns" -o name 2>/dev/null)" ]] && s+=(events)
  [[ "$(kubectl get hzm -n "$ns" site -o jsonpath='{.metadata.finalizers}' 2>/dev/null)" == *zoneshift.io/cleanup* ]] && s+=(finalizer)
  echo "${s[*]}"
}
write_sa_kubeconfig() { # namespace serviceaccount file
  local server ca token
  server="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  ca="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')"
  token="$(kubectl create token -n "$1" "$2" --duration=1h)"
  cat >"$3" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "$server", certificate-authority: "$ca"}}]
users: [{name: u, user: {token: "$token"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
EOF
}

sections=("$@")
((${#sections[@]})) || sections=(crd reject ssa size rbac)
for s in "${sections[@]}"; do
  case "$s" in
    crd) crd ;;
    reject) reject_all ;;
    ssa) ssa ;;
    size) size ;;
    rbac) rbac ;;
    *) echo "apiserver: unknown section $s (crd reject ssa size rbac)"; exit 2 ;;
  esac
done
echo "$passed passed, $failed failed"
((failed == 0))
