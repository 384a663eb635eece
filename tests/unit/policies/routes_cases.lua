return {
  { name = "read", method = "GET", path = "/api/photos/1",
    scopes = { "photos.read" }, expect = "allow" },
  { name = "write wanted", method = "POST", path = "/api/photos/1",
    scopes = { "photos.read" }, expect = "deny", wanted = { "photos.write" } },
  { name = "deliberately wrong", method = "GET", path = "/nothing",
    expect = "allow" },
}
