-- Argo CD health check for kubeasset's CodeLocation (also fits AssetJob, AssetSchedule and AssetSensor: every
-- kind whose status has a Ready condition). Install it in argocd-cm as
-- resource.customizations.health.kubeasset.dev_CodeLocation (see the README's GitOps section).
--   Healthy:     Ready=True and the status describes the current generation
--   Progressing: no status yet, a generation not observed yet, Ready=Unknown (discovering), or Ready=False
--                while it waits for another object (its code location or job)
--   Suspended:   spec.suspend is true (schedules and sensors)
--   Degraded:    Ready=False for any other reason (import error, invalid graph, bad cron, ...)
local waiting = {
  Discovering = true,
  WaitingForCodeLocation = true,
  CodeLocationNotReady = true,
  JobNotReady = true,
}
local hs = { status = "Progressing", message = "Waiting for the kubeasset controller" }
local generation = obj.metadata and obj.metadata.generation
local status = obj.status
if status == nil then
  return hs
end
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.message = "Waiting for the controller to observe generation " .. tostring(generation)
  return hs
end
local ready = nil
for _, condition in ipairs(status.conditions or {}) do
  if condition.type == "Ready" then
    ready = condition
  end
end
if ready == nil then
  return hs
end
local message = (ready.reason or "") .. ": " .. (ready.message or "")
if obj.spec ~= nil and obj.spec.suspend == true and ready.status == "True" then
  hs.status = "Suspended"
elseif ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" and not waiting[ready.reason] then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
hs.message = message
return hs
