-- A new value of requested-at: one immediate read and decision, and a
-- terminal error's block lifted once for the current generation.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["onomondo.sim-operator.dev/requested-at"] = os.date("!%Y-%m-%dT%XZ")
return obj
