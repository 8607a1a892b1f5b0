-- Argo CD health of a SIM or a Connector (onomondo.sim-operator.dev):
--   Suspended   paused by the onomondo.sim-operator.dev/paused annotation
--   Degraded    Synced=False, whatever Ready says: the operator cannot act on
--               the object (a terminal API error, a duplicate, IdentityMismatch,
--               CredentialsRejected/Missing, or retries in progress): drift is
--               not being corrected, so a last known Ready is no longer a promise
--   Healthy     Ready=True and Synced=True: the object in the API matches the spec
--   Progressing anything else (not yet reconciled, differing while observed)
local hs = { status = "Progressing", message = "waiting for the operator" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
if obj.status.observedGeneration ~= nil and obj.metadata.generation ~= nil
   and obj.status.observedGeneration < obj.metadata.generation then
  hs.message = "the operator has not seen the latest spec yet"
  return hs
end
local ready, synced
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then ready = c end
  if c.type == "Synced" then synced = c end
end
if synced ~= nil and synced.reason == "ReconcilePaused" then
  hs.status = "Suspended"
  hs.message = synced.message or "paused"
  return hs
end
if synced ~= nil and synced.status == "False" then
  hs.status = "Degraded"
  local retrying = ""
  if obj.status.lastError ~= nil and obj.status.lastError.terminal ~= true then
    retrying = "retrying: "
  end
  hs.message = retrying .. synced.reason .. ": " .. (synced.message or "")
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end
if ready ~= nil then
  hs.message = ready.reason .. ": " .. (ready.message or "")
end
return hs
