-- photos.lua - a photos API guarded by OAuth 2.0 scopes: reading needs
-- photos.read, changing needs photos.write, deleting needs both.
local policy = require "oauth2.policy"

return policy.routes {
  { { "GET", "HEAD" }, "/api/photos",   scopes = { "photos.read" } },
  { { "GET", "HEAD" }, "/api/photos/*", scopes = { "photos.read" } },
  { "POST",            "/api/photos",   scopes = { "photos.write" } },
  { { "PUT", "POST" }, "/api/photos/*", scopes = { "photos.write" } },
  { "DELETE",          "/api/photos/*", scopes = { "photos.read", "photos.write" } },
  { "GET", "/api/albums/**", any_scopes = { "photos.read", "albums.read" } },
  default = "deny",
}
