-- oauth2.policy - the helper library for mod_oauth2 authorization policies.
--
--   local policy = require "oauth2.policy"
--   return policy.routes {
--     { "GET",  "/api/photos/*",  scopes = { "photos.read" } },
--     { "*",    "/api/admin/**",  claims = { groups = "admin" } },
--     default = "deny",
--   }
--
-- Owns route tables, path globs, the ambiguous-path rule and the result
-- constructors. It runs inside the engine's sandbox like any script and
-- never sees anything but the `req` copy it is given. See docs/policies.md.

local M = { VERSION = "1" }

-- The engine hands its modules a marker for functions that answer from
-- `req` alone; their decisions may be memoized (docs/policies.md).
local _, mark_pure = ...

-- policy.pure(fn): declare that fn(req) depends on nothing but req: no
-- state kept between calls, no clock, no randomness. Returns fn.
function M.pure(fn)
  if type(fn) ~= "function" then
    error("policy.pure expects a function", 2)
  end
  if mark_pure then mark_pure(fn) end
  return fn
end

local ONE, ANY = {}, {} -- glob segment markers: "*" and "**"

local ROUTE_KEYS = {
  scopes = true, any_scopes = true, claims = true, principal = true,
  deny = true, reason = true, name = true, allow_ambiguous = true,
}

-- Results ---------------------------------------------------------------

function M.allow(reason, rule)
  return { verdict = "allow", reason = reason or "allowed", rule = rule }
end

function M.deny(reason, wanted, rule)
  if wanted ~= nil and type(wanted) ~= "table" then
    error("policy.deny: wanted must be a list of scope strings", 2)
  end
  return { verdict = "deny", reason = reason or "denied", wanted = wanted,
           rule = rule }
end

-- Paths -----------------------------------------------------------------

-- "/a/b/" -> { "a", "b", "" }; "/" -> { "" }. Plain finds only: linear.
local function split(path)
  local segs, n, i = {}, 0, 2
  while true do
    local j = path:find("/", i, true)
    n = n + 1
    if j == nil then
      segs[n] = path:sub(i)
      return segs, n
    end
    segs[n] = path:sub(i, j - 1)
    i = j + 1
  end
end

local ENCODED = { "%2f", "%2e", "%5c", "%00", "%25" }

-- Why `path` (raw, undecoded) is ambiguous, or nil when it is not: a route
-- must never match a path whose meaning depends on who decodes it.
function M.path_ambiguous(path)
  if type(path) ~= "string" or path:sub(1, 1) ~= "/" then
    return "path does not start with /"
  end
  if path:find("%", 1, true) then
    local low = path:lower()
    for _, e in ipairs(ENCODED) do
      if low:find(e, 1, true) then return "encoded " .. e .. " in path" end
    end
  end
  if path:find("\\", 1, true) then return "backslash in path" end
  if path:find("//", 1, true) then return "empty segment (//) in path" end
  if path:find("[%z\1-\31\127]") then return "control character in path" end
  local segs, n = split(path)
  for k = 1, n do
    if segs[k] == "." or segs[k] == ".." then
      return "dot segment in path"
    end
  end
  return nil
end

-- Compile "/api/*/x/**" into segments; nil, message when unusable.
local function compile_glob(glob)
  if type(glob) ~= "string" or glob:sub(1, 1) ~= "/" then
    return nil, "path glob must be a string starting with /"
  end
  local segs, n = split(glob)
  for k = 1, n do
    local s = segs[k]
    if s == "*" then
      segs[k] = ONE
    elseif s == "**" then
      segs[k] = ANY
    elseif s:find("*", 1, true) then
      return nil, "'*' must be a whole segment: " .. glob
    elseif s == "." or s == ".." then
      return nil, "dot segment in glob: " .. glob
    end
  end
  return { segs = segs, n = n, text = glob }
end

-- Wildcard match over segments: "*" is exactly one non-empty segment, "**"
-- any number (zero included). Greedy with one back-track point: O(n*m).
local function glob_match(g, psegs, pn)
  local gs, gn = g.segs, g.n
  local gi, pi, star_gi, star_pi = 1, 1, nil, 0
  while pi <= pn do
    local s = gs[gi]
    if gi <= gn and s == ANY then
      star_gi, star_pi, gi = gi, pi, gi + 1
    elseif gi <= gn and ((s == ONE and psegs[pi] ~= "") or s == psegs[pi]) then
      gi, pi = gi + 1, pi + 1
    elseif star_gi then
      gi, star_pi = star_gi + 1, star_pi + 1
      pi = star_pi
    else
      return false
    end
  end
  while gi <= gn and gs[gi] == ANY do gi = gi + 1 end
  return gi > gn
end

-- A matcher for custom authorize functions: policy.glob("/a/*")(req.path).
function M.glob(glob)
  local g, err = compile_glob(glob)
  if not g then error("policy.glob: " .. err, 2) end
  return function(path)
    if M.path_ambiguous(path) then return false end
    return glob_match(g, split(path))
  end
end

-- Conditions ------------------------------------------------------------

local function missing_scopes(req, list)
  local missing = {}
  for _, s in ipairs(list) do
    if not req.scopes[s] then missing[#missing + 1] = s end
  end
  return missing
end

function M.has_scopes(req, list)
  return #missing_scopes(req, list) == 0
end

local function value_matches(have, want)
  if type(want) == "table" then
    for _, w in ipairs(want) do
      if value_matches(have, w) then return true end
    end
    return false
  end
  if type(have) == "table" then -- membership in an array claim
    for _, h in ipairs(have) do
      if h == want then return true end
    end
    return false
  end
  return have == want
end

-- Why the route's conditions fail for `req` (reason, wanted), or nil.
local function check(route, req)
  if route.principal and req.principal ~= route.principal then
    return "needs a " .. route.principal .. " principal"
  end
  if route.scopes then
    local missing = missing_scopes(req, route.scopes)
    if #missing > 0 then
      return "needs scope " .. table.concat(missing, " "), route.scopes
    end
  end
  if route.any_scopes then
    local ok = false
    for _, s in ipairs(route.any_scopes) do
      if req.scopes[s] then ok = true break end
    end
    if not ok then
      return "needs one of scopes " .. table.concat(route.any_scopes, " "),
        route.any_scopes
    end
  end
  if route.claims then
    for _, name in ipairs(route.claim_names) do
      if not value_matches(req.claims[name], route.claims[name]) then
        return "claim " .. name .. " does not match"
      end
    end
  end
  return nil
end

-- Validation (at load time, so configtest reports it) --------------------

local function string_list(v, what)
  if type(v) ~= "table" or #v == 0 then
    return what .. " must be a non-empty list of strings"
  end
  for _, s in ipairs(v) do
    if type(s) ~= "string" or s == "" or s:find("[%s\"\\]") then
      return what .. " must hold scope strings"
    end
  end
end

local function check_claims(c)
  if type(c) ~= "table" then return "claims must be a table" end
  local names = {}
  for k, v in pairs(c) do
    if type(k) ~= "string" then return "claim names must be strings" end
    local t = type(v)
    if t ~= "string" and t ~= "number" and t ~= "boolean" and t ~= "table" then
      return "claim " .. k .. " must be a string, number, boolean or list"
    end
    names[#names + 1] = k
  end
  table.sort(names)
  return nil, names
end

local function methods_of(m)
  local list = type(m) == "table" and m or { m }
  local set = {}
  for _, x in ipairs(list) do
    if type(x) ~= "string" or not (x == "*" or x:find("^%a+$")) then
      return nil, "method must be a name, * or a list of names"
    end
    set[x:upper()] = true
  end
  if next(set) == nil then return nil, "no method given" end
  return set
end

local function compile_route(r, i)
  if type(r) ~= "table" then return nil, "route " .. i .. " is not a table" end
  for k in pairs(r) do
    if k ~= 1 and k ~= 2 and not ROUTE_KEYS[k] then
      return nil, ("route %d (%s %s): unknown key '%s'"):format(i,
        tostring(r[1]), tostring(r[2]), tostring(k))
    end
  end
  local methods, err = methods_of(r[1])
  local g
  if methods then g, err = compile_glob(r[2]) end
  if not err and r.scopes then err = string_list(r.scopes, "scopes") end
  if not err and r.any_scopes then
    err = string_list(r.any_scopes, "any_scopes")
  end
  local names
  if not err and r.claims then err, names = check_claims(r.claims) end
  if not err and r.principal and r.principal ~= "bearer"
     and r.principal ~= "session" then
    err = "principal must be \"bearer\" or \"session\""
  end
  if err then
    return nil, ("route %d (%s %s): %s"):format(i, tostring(r[1]),
      tostring(r[2]), err)
  end
  local m = type(r[1]) == "table" and table.concat(r[1], ",") or r[1]
  return {
    methods = methods, glob = g, scopes = r.scopes, any_scopes = r.any_scopes,
    claims = r.claims, claim_names = names, principal = r.principal,
    deny = r.deny == true, reason = r.reason,
    allow_ambiguous = r.allow_ambiguous == true,
    desc = r.name or ("#" .. i .. " " .. m .. " " .. r[2]),
  }
end

-- The route table -----------------------------------------------------------

local function decide(compiled, default, req)
  local method = type(req.method) == "string" and req.method:upper() or ""
  local path = type(req.path) == "string" and req.path or ""
  local why_ambiguous = M.path_ambiguous(path)
  local psegs, pn = split(path)
  for _, r in ipairs(compiled) do
    if (r.methods["*"] or r.methods[method])
       and (not why_ambiguous or r.allow_ambiguous)
       and glob_match(r.glob, psegs, pn) then
      if r.deny then
        return M.deny(r.reason or "denied by route", nil, r.desc)
      end
      local reason, wanted = check(r, req)
      if reason then return M.deny(reason, wanted, r.desc) end
      return M.allow("route " .. r.desc, r.desc)
    end
  end
  if why_ambiguous then return M.deny("ambiguous path: " .. why_ambiguous) end
  if default == "allow" then return M.allow("default allow") end
  return M.deny("no route matches")
end

-- Compile a route table into authorize(req). Errors name the route and point
-- at the caller's line, so `oauth2-policy check` and configtest show them.
function M.routes(spec)
  if type(spec) ~= "table" then error("policy.routes expects a table", 2) end
  local default = spec.default or "deny"
  if default ~= "deny" and default ~= "allow" then
    error("default must be \"deny\" or \"allow\"", 2)
  end
  for k in pairs(spec) do
    if k ~= "default" and math.type(k) ~= "integer" then
      error("unknown key '" .. tostring(k) .. "' in route table", 2)
    end
  end
  local compiled = {}
  for i, r in ipairs(spec) do
    local c, err = compile_route(r, i)
    if not c then error(err, 2) end
    compiled[i] = c
  end
  return M.pure(function(req) return decide(compiled, default, req) end)
end

return M
