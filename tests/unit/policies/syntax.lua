local policy = require "oauth2.policy"
return policy.routes {
  { "GET" "/x" },
}
