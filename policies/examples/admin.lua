-- admin.lua - admin routes for members of the "admin" group (the `groups`
-- claim may be a string or an array); a health check open to any token.
local policy = require "oauth2.policy"

return policy.routes {
  { "GET", "/api/health", name = "health" },
  { "*", "/api/admin/audit/**", claims = { groups = { "admin", "auditor" } } },
  { "*", "/api/admin/**", claims = { groups = "admin" }, name = "admin" },
  { "*", "/internal/**", deny = true, reason = "internal routes are never exposed" },
  default = "deny",
}
