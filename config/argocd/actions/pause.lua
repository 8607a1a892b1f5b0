-- No API call and no write until resumed; a deletion waits too.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["onomondo.sim-operator.dev/paused"] = "true"
return obj
