-- Back to normal: the operator reads the object and decides at once.
if obj.metadata.annotations ~= nil then
  obj.metadata.annotations["onomondo.sim-operator.dev/paused"] = nil
end
return obj
