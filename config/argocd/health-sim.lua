-- Argo CD health of a SIM (onomondo.sim-operator.dev):
--   Healthy     Ready=True: the SIM in the API matches the spec
--   Degraded    Synced=False with a terminal API error, or DuplicateSIM:
--               nothing changes until someone changes the spec
--   Progressing anything else (not yet reconciled, retrying, observing)
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
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end
if ready ~= nil and ready.reason == "DuplicateSIM" then
  hs.status = "Degraded"
  hs.message = ready.message
  return hs
end
if synced ~= nil and synced.status == "False" and obj.status.lastError ~= nil
   and obj.status.lastError.terminal == true then
  hs.status = "Degraded"
  hs.message = synced.reason .. ": " .. (synced.message or "")
  return hs
end
if synced ~= nil and synced.status == "False" then
  hs.message = "retrying: " .. synced.reason .. ": " .. (synced.message or "")
elseif ready ~= nil then
  hs.message = ready.reason .. ": " .. (ready.message or "")
end
return hs
