-- Argo CD health of an SMSMessage (onomondo.sim-operator.dev):
--   Healthy     Sent=True: the API accepted the message
--   Degraded    Sent=False with a terminal API error (never retried), or
--               Sent=Unknown DeliveryUnknown (a person must decide)
--   Progressing anything else (sending, retrying, waiting for a SIM)
local hs = { status = "Progressing", message = "waiting for the operator" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Sent" then
    hs.message = c.reason .. ": " .. (c.message or "")
    if c.status == "True" then
      hs.status = "Healthy"
    elseif c.status == "Unknown" and c.reason == "DeliveryUnknown" then
      hs.status = "Degraded"
    elseif c.status == "False" and obj.status.lastError ~= nil and obj.status.lastError.terminal == true then
      hs.status = "Degraded"
    end
  end
end
return hs
