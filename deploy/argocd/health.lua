-- Argo CD health check for zoneshift.io/HostedZoneMigration.
--
-- zoneshift's Ready condition summarises the conditions the current phase needs: True only
-- for a completed migration (or, without spec.source, once the records are in sync);
-- otherwise False, with the reason of the first of them that is not True and the message
-- "<Type>: <its message>". This check maps that reason to a health:
--   Healthy      Ready is True
--   Suspended    AwaitingApproval: every other gate is open, spec.cutover.approved is false
--   Progressing  zoneshift goes on by itself, or waits for a gate, a TTL or the registrar
--   Degraded     an invalid spec or source, an error, a person must act, the old provider
--                failing during the soak
-- and besides:
--   Progressing  status not written yet or behind metadata.generation; being deleted
--   Degraded     Delegated is False with DelegationChanged, whatever Ready says: the parent
--                zone left the Route 53 nameservers without a rollback (zoneshift's Ready does
--                not look at Delegated once the switch is seen, and may even say Completed)
-- A reason not listed here follows zoneshift's kstatus conditions: Stalled True is Degraded
-- (as is a reason ending in "Error"), anything else Progressing.
-- The conditions and reasons are described in docs/migration-runbook.md.
--
-- Argo CD runs this with gopher-lua (Lua 5.1); it uses nothing newer, and only the base,
-- string and table libraries. tests/packaging/argocd-health.py runs it under lua5.4 (and
-- lua5.1 when installed) against deploy/argocd/testdata/.

-- zoneshift goes on by itself, or waits for something that comes with time or from outside.
local PROGRESSING_REASONS = {
  Reconciling = true,             -- Ready: a condition is not evaluated yet
  Progressing = true,             -- Ready: every needed condition holds, the phase goes on
  ChangePending = true,           -- RecordsSynced: Route 53 is applying a change
  ZoneNotReady = true,            -- RecordsSynced: waits for ZoneReady
  AwaitingSync = true,            -- ShadowVerified, CutoverReady: waits for RecordsSynced
  AwaitingVerification = true,    -- CutoverReady: waits for ShadowVerified
  Route53NotAnswering = true,     -- CutoverReady: the new zone's nameservers do not answer yet
  LoweringTtl = true,             -- CutoverReady: an NS TTL is being lowered (runbook step 5)
  LoweringRoute53Ttl = true,      -- CutoverReady: zoneshift is setting Route 53's NS TTL
  WaitingForTtlExpiry = true,     -- CutoverReady: the old NS TTL has not expired yet
  RollbackRequested = true,       -- CutoverReady: spec.cutover.rollback holds the gate shut
  NotSwitched = true,             -- Delegated, before the gate opens
  AwaitingRegistrar = true,       -- Delegated: the parent zone does not serve Route 53 yet
  Soaking = true,                 -- Propagated: caches of the old delegation may live on
  RollingBack = true,             -- Delegated: waiting for the parent to serve the old set
}

-- Reasons that need a person, or report an error.
local DEGRADED_REASONS = {
  InvalidRecord = true,           -- a record Route 53 would refuse
  InvalidZoneFile = true,         -- spec.source.zoneFile does not parse
  SourceNotFound = true,          -- the zone file's ConfigMap or the TSIG Secret is missing
  NoSourceNameservers = true,     -- set spec.source.nameservers
  TransferFailed = true,          -- no source nameserver gave the zone by AXFR
  SourceUnreachable = true,       -- the old provider (or the API server) did not answer
  ZoneConflict = true,            -- spec.hostedZone.id is missing or names another domain
  NoUid = true,
  DeleteThresholdExceeded = true, -- the sync would delete too much; nothing was changed
  ChangeRejected = true,          -- Route 53 refused a change batch
  Mismatch = true,                -- ShadowVerified: the old provider and Route 53 differ
  SourceNsTtlUnknown = true,      -- CutoverReady: the old provider's NS TTL cannot be read
  ParentUnreachable = true,       -- CutoverReady, Delegated: the parent zone cannot be asked
  DSPresent = true,               -- CutoverReady: remove the DS record at the registrar
  SwitchedBeforeGate = true,      -- CutoverReady: the registrar was switched before the gate
  SwitchedBeforeApproval = true,  -- ... or before approval
  RegistrarError = true,          -- Delegated: Route 53 Domains did not change the nameservers
  RoleNotAllowed = true,          -- ZoneReady: spec.aws.roleArn is not among --allowed-role-arns
  AssumeRoleFailed = true,        -- ZoneReady: STS refused the role
  PartialDelegation = true,       -- Delegated: the parent serves a mix of nameservers
  DelegationChanged = true,       -- Delegated: the parent left Route 53 without a rollback
  SourceUnhealthy = true,         -- SourceHealthy: the old provider stopped answering
  RolledBack = true,              -- Delegated: back on the old provider; decide what next
}

-- Waiting for a person, on purpose.
local SUSPENDED_REASONS = {
  AwaitingApproval = true,        -- CutoverReady: set spec.cutover.approved to true
}

local function describe(c)
  local text = c.type
  if c.reason ~= nil and c.reason ~= "" then
    text = text .. " (" .. c.reason .. ")"
  end
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

local function health(obj)
  local generation = obj.metadata and obj.metadata.generation
  local status = obj.status

  if obj.metadata and obj.metadata.deletionTimestamp ~= nil then
    return "Progressing", "Being deleted: zoneshift is applying spec.hostedZone.deletionPolicy."
  end
  if status == nil or status.conditions == nil or #status.conditions == 0 then
    return "Progressing", "Waiting for zoneshift to report status."
  end
  if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
    return "Progressing", "Waiting for zoneshift to observe generation " .. tostring(generation) .. "."
  end

  -- Conditions that describe this generation (a condition without observedGeneration counts).
  local by_type = {}
  for _, c in ipairs(status.conditions) do
    if c.type ~= nil and (generation == nil or c.observedGeneration == nil or c.observedGeneration >= generation) then
      by_type[c.type] = c
    end
  end

  local delegated = by_type["Delegated"]
  if delegated ~= nil and delegated.status == "False" and delegated.reason == "DelegationChanged" then
    return "Degraded", describe(delegated)
  end

  local ready = by_type["Ready"]
  if ready == nil then
    return "Progressing", "Waiting for zoneshift to report the Ready condition."
  end
  if ready.status == "True" then
    return "Healthy", ready.message or ""
  end

  -- The condition Ready speaks for: its message starts with that condition's type.
  local shown = ready
  local named = ready.message and string.match(ready.message, "^(%a+): ")
  if named ~= nil and by_type[named] ~= nil and by_type[named].reason == ready.reason then
    shown = by_type[named]
  end
  local reason = ready.reason
  if SUSPENDED_REASONS[reason] then
    return "Suspended", describe(shown)
  end
  if DEGRADED_REASONS[reason] then
    return "Degraded", describe(shown)
  end
  if PROGRESSING_REASONS[reason] then
    return "Progressing", describe(shown)
  end
  local stalled = by_type["Stalled"]
  if (stalled ~= nil and stalled.status == "True") or (reason ~= nil and string.sub(reason, -5) == "Error") then
    return "Degraded", describe(shown)
  end
  return "Progressing", describe(shown)
end

local hs = {}
hs.status, hs.message = health(obj)
return hs
