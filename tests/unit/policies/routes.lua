-- Fixture for test_policy.c: a route table covering the glob edge cases.
local policy = require "oauth2.policy"
return policy.routes {
  { "GET", "/api/photos/*", scopes = { "photos.read" } },
  { "POST", "/api/photos/*", scopes = { "photos.write" } },
  { "GET", "/api/photos/", scopes = { "photos.list" }, name = "trailing" },
  { "*", "/api/admin/**", claims = { groups = "admin" } },
  { "GET", "/raw/**", allow_ambiguous = true, name = "raw" },
  default = "deny",
}
