-- Argo CD health check for zoneshift.io/HostedZoneMigration.
--
-- Maps the resource's status to an Argo CD health status:
--   Progressing  status not written yet or behind metadata.generation; the migration is moving
--                or waiting on a gate that opens by itself (Route 53 change pending, shadow
--                not yet verified, NS TTLs, caches expiring after the switch); deletion
--   Degraded     an invalid spec, an error, a gate only a person can open, the old provider
--                unhealthy (SourceHealthy False), or kstatus Stalled
--   Suspended    waiting for approval (spec.cutover.approved), or held by spec.cutover.rollback
--   Healthy      Ready is True and nothing above applies; or a finished rollback
-- The conditions and their reasons are described in docs/migration-runbook.md.
--
-- Argo CD runs this with gopher-lua (Lua 5.1); it uses nothing newer, and only the base,
-- string and table libraries. tests/packaging/argocd-health.py runs it under lua5.4 (and
-- lua5.1 when installed) against deploy/argocd/testdata/.

-- Reasons that need a person or report an error, whatever condition carries them.
local DEGRADED_REASONS = {
  -- The spec or what it points at is wrong: nothing moves until a person fixes it.
  InvalidRecord = true,           -- a record Route 53 would refuse
  InvalidSpec = true,
  InvalidZoneFile = true,         -- spec.source.zoneFile does not parse
  SourceNotFound = true,          -- the zone file's ConfigMap or the TSIG Secret is missing
  NoSourceNameservers = true,     -- ShadowVerified: set spec.source.nameservers
  ZoneConflict = true,            -- spec.hostedZone.id is missing or names another domain
  NoUid = true,
  Conflict = true,
  DeleteThresholdExceeded = true, -- the sync would delete too much; nothing was changed
  DSPresent = true,               -- CutoverReady: an unsigned zone under a DS record never switches
  DsRecordAtParent = true,
  SwitchedBeforeGate = true,      -- CutoverReady: the registrar was switched before the gate opened
  SwitchedBeforeApproval = true,  -- ... or before approval: watch the old provider closely
  DelegationChanged = true,       -- Delegated: the parent left Route 53 without a rollback
  PartialDelegation = true,       -- Delegated: the parent serves only part of the Route 53 set
  -- Errors, retried with backoff, that a person should see while they last.
  ChangeRejected = true,          -- Route 53 refused a change batch
  TransferFailed = true,          -- no source nameserver gave the zone by AXFR
  SourceUnreachable = true,       -- the old provider does not answer
  SourceUnhealthy = true,         -- SourceHealthy: the old provider stopped answering as before
  SourceNsTtlUnknown = true,      -- CutoverReady: the source's NS TTL cannot be observed
  ParentUnreachable = true,       -- Delegated: the parent zone cannot be asked
  RegistrarError = true,          -- Delegated: Route 53 Domains did not change the nameservers
  UpdateFailed = true,
}

-- Reasons that hold the migration on purpose until a person acts: Suspended.
local SUSPENDED_REASONS = {
  AwaitingApproval = true,        -- CutoverReady: set spec.cutover.approved to true
  RollbackRequested = true,       -- CutoverReady: spec.cutover.rollback holds it before the switch
}

-- Phases in which the migration moves or waits on something that passes by itself.
local MOVING_PHASES = {
  Pending = true,
  Provisioning = true,
  Verifying = true,
  CuttingOver = true,
  Propagating = true,
  RollingBack = true,
}

local function is_degraded_reason(reason)
  if reason == nil then
    return false
  end
  -- Error categories (Route53Error, KubernetesError, FinalizerError, ...).
  return DEGRADED_REASONS[reason] == true or string.sub(reason, -5) == "Error"
end

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
  local current = {}
  for _, c in ipairs(status.conditions) do
    if c.type ~= nil and (generation == nil or c.observedGeneration == nil or c.observedGeneration >= generation) then
      by_type[c.type] = c
      table.insert(current, c)
    end
  end

  -- kstatus: Stalled means the controller gave up until something changes.
  local stalled = by_type["Stalled"]
  if stalled ~= nil and stalled.status == "True" then
    return "Degraded", describe(stalled)
  end
  local source = by_type["SourceHealthy"]
  if source ~= nil and source.status == "False" then
    return "Degraded", describe(source)
  end
  for _, c in ipairs(current) do
    if c.type ~= "Ready" and c.status == "False" and is_degraded_reason(c.reason) then
      return "Degraded", describe(c)
    end
  end
  local ready = by_type["Ready"]
  if ready ~= nil and ready.status == "False" and is_degraded_reason(ready.reason) then
    return "Degraded", describe(ready)
  end

  for _, c in ipairs(current) do
    if c.status == "False" and SUSPENDED_REASONS[c.reason] then
      return "Suspended", describe(c)
    end
  end
  local cutover = by_type["CutoverReady"]
  -- Every other gate is open but nobody said go (in case the reason is not written yet).
  local approved = obj.spec and obj.spec.cutover and obj.spec.cutover.approved == true
  if status.phase == "AwaitingCutover" and not approved and (cutover == nil or cutover.status ~= "False") then
    return "Suspended", "Waiting for approval: set spec.cutover.approved to true to switch the nameservers."
  end

  -- A finished rollback: the domain is back with the old provider, as asked.
  if status.phase == "RolledBack" then
    local delegated = by_type["Delegated"]
    return "Healthy", "Rolled back: " .. describe(delegated or ready or { type = "Delegated" })
  end

  local reconciling = by_type["Reconciling"]
  if reconciling ~= nil and reconciling.status == "True" then
    return "Progressing", describe(reconciling)
  end
  -- The first condition that is not True says what the migration waits for.
  for _, c in ipairs(current) do
    if c.type ~= "Ready" and c.type ~= "Reconciling" and c.type ~= "Stalled" and c.status ~= "True" then
      return "Progressing", describe(c)
    end
  end
  if ready ~= nil and ready.status ~= "True" then
    return "Progressing", describe(ready)
  end
  -- Ready may already be True in a phase that still moves on by itself.
  if status.phase ~= nil and (MOVING_PHASES[status.phase] or status.phase == "AwaitingCutover") then
    return "Progressing", "Phase " .. status.phase .. "."
  end
  if ready == nil then
    return "Progressing", "Waiting for zoneshift to report the Ready condition."
  end
  return "Healthy", ready.message or ""
end

local hs = {}
hs.status, hs.message = health(obj)
return hs
