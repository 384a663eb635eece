local policy = require "oauth2.policy"

return policy.routes {
  { "GET", "/api/photos/*", scope = { "photos.read" } },
}
