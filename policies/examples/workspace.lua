-- workspace.lua - a browser application for one Google Workspace domain:
-- session users must come from example.com (the `hd` claim, which Google
-- sets only for Workspace accounts, and a verified e-mail in that domain).
-- Bearer tokens are refused here: this is the interactive part of the site.
local policy = require "oauth2.policy"

local DOMAIN = "example.com"

local function email_domain(email)
  if type(email) ~= "string" then return nil end
  local at = email:find("@", 1, true)
  if not at or email:find("@", at + 1, true) then return nil end
  return email:sub(at + 1):lower()
end

return function(req)
  if req.principal ~= "session" then
    return policy.deny("sign in with a browser session")
  end
  local c = req.claims
  if c.hd ~= DOMAIN then
    return policy.deny("not a " .. DOMAIN .. " Workspace account")
  end
  if c.email_verified ~= true or email_domain(c.email) ~= DOMAIN then
    return false, "e-mail not verified in " .. DOMAIN
  end
  if policy.glob("/app/admin/**")(req.path) then
    return policy.routes {
      { "*", "/app/admin/**", claims = { groups = "it-admins" } },
    }(req)
  end
  return true, "workspace member"
end
