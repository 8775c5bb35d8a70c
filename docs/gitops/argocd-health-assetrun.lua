-- Argo CD health check for kubeasset's AssetRun. Install it in argocd-cm as
-- resource.customizations.health.kubeasset.dev_AssetRun (see the README's GitOps section).
--   Progressing: no status yet, or phase Pending, Starting or Running (the message says what it waits for)
--   Healthy:     phase Succeeded
--   Degraded:    phase Failed (the message has the reason, e.g. AssetsFailed or OOMKilled)
--   Suspended:   phase Canceled (stopped on purpose with spec.cancel, or replaced by its schedule)
local hs = { status = "Progressing", message = "Waiting for the kubeasset controller" }
local status = obj.status
if status == nil or status.phase == nil then
  return hs
end
local reason = status.phase
for _, condition in ipairs(status.conditions or {}) do
  if condition.type == "Succeeded" and condition.reason ~= nil then
    reason = condition.reason
  end
end
hs.message = reason .. ": " .. (status.message or status.phase)
if status.phase == "Succeeded" then
  hs.status = "Healthy"
elseif status.phase == "Failed" then
  hs.status = "Degraded"
elseif status.phase == "Canceled" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
end
return hs
