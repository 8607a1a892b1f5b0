-- Argo CD actions of a SIM or a Connector (onomondo.sim-operator.dev):
-- sync-now asks for one immediate read and decision; pause and resume set
-- and remove the paused annotation. A paused object offers only resume.
local actions = {}
local paused = obj.metadata.annotations ~= nil
  and obj.metadata.annotations["onomondo.sim-operator.dev/paused"] == "true"
actions["sync-now"] = {["disabled"] = paused}
actions["pause"] = {["disabled"] = paused}
actions["resume"] = {["disabled"] = not paused}
return actions
