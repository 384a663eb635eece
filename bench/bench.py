#!/usr/bin/python3
"""bench.py - `make bench`: what the guard costs per request.

Starts a private Apache (mpm_event), redis-server and the mock provider on
127.0.0.1 through tests/integration/harness.py, checks that every guarded
location refuses a missing and a tampered credential and accepts a good one
(aborts otherwise: a fast 401 is no result), then loads each scenario with
wrk (-t2 -c32 -d<BENCH_SECONDS>s --latency) and prints one table row per
scenario: requests/s, p50, p99, httpd CPU microseconds per request (utime +
stime of the Apache processes from /proc, before/after) and the ratio to
the unprotected static file, which is re-measured right before each
scenario so machine drift cancels out. Absolute numbers on a shared box are
noise; the ratios measured back to back are the result.

Environment: BENCH_SECONDS (default 5), BENCH_TOKENS (distinct RS256 tokens,
default 2000), BENCH_LONG=1 (RSS of the Apache children before/after a long
session run, and a long distinct-token run), BENCH_PERF=1 (perf record -g
on the children during each scenario and its static baseline; top
functions printed), BENCH_STAT=1
(perf stat on the children: context switches, page faults and syscalls per
request, for each scenario and its baseline), BENCH_CALLGRIND=1
(instead of the load runs: static, cached bearer and session against httpd
-X under callgrind; instructions per request and top functions; wrk runs
BENCH_CALLGRIND_SECONDS, default 10),
BENCH_STORE_OPTS (extra OAuth2SessionStore words, e.g. pool=32, or cache=0
for a Redis GET on every session request),
BENCH_REPEAT=N ((static, row) pairs per row, the median shown; not for the
session row, whose Redis counts cover one run),
BENCH_POLICY_PAIRS=N (more alternating policy/valid-user pairs, default 3),
BENCH_OPENIDC=0 (no mod_auth_openidc rows even where it is installed),
BENCH_ONLY=name,name (static unused static_tok bearer bearer_es distinct opaque
session policy_vu policy). Never part of `make test`: nothing here asserts
a timing."""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))
import harness  # noqa: E402
import requests  # noqa: E402

PASS = "0123456789abcdef0123456789abcdef"
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
# (static, row) pairs per row; the row shown is the pair of median ratio
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "1")))
NTOKENS = int(os.environ.get("BENCH_TOKENS", "2000"))
WRK = ["wrk", "-t2", "-c32", "--latency", "--timeout", "5s"]
TICK = os.sysconf("SC_CLK_TCK")
OPENIDC_SO = Path("/usr/lib/apache2/modules/mod_auth_openidc.so")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- Apache configuration --------------------------------------------------

def conf(mock, redis, policy):
    v = (f"jwks_uri={mock.url}/jwks issuer={mock.url} audience=api")
    pol = ""
    if policy:
        pol = (f"OAuth2PolicyLibDir {REPO}/policies\n"
               f"OAuth2Policy {REPO}/policies/examples/photos.lua\n")
        # the policy route and its valid-user twin: same nesting, so the
        # rows differ by the decision only
        pol_loc = ("<Location /api/photos>\n    Require oauth2-policy\n"
                   "</Location>\n<Location /api/vu>\n"
                   "    Require valid-user\n</Location>\n")
    else:
        pol_loc = ""
    disc = mock.url + "/.well-known/openid-configuration"
    return f"""
MaxKeepAliveRequests 0
OAuth2Passphrase "{PASS}"
OAuth2SessionStore {redis.url} {os.environ.get("BENCH_STORE_OPTS", "")}
OAuth2CookieSecure Off
OAuth2Provider mock discovery={disc} client_id=demo-client \\
    client_secret=demo-secret scope="openid email profile"
OAuth2RedirectURI /oauth2/callback
{pol}
# module loaded, location not guarded (same file as /index.html)
<Location /unused>
    Require all granted
</Location>
<Location /api>
    AuthType oauth2-bearer
    AuthName bench
    OAuth2TokenVerify {v}
    Require valid-user
</Location>
{pol_loc}
# distinct tokens: a small verdict cache so every request verifies
<Location /full>
    AuthType oauth2-bearer
    AuthName bench
    OAuth2TokenVerify {v} cache_entries=64
    Require valid-user
</Location>
<Location /opaque>
    AuthType oauth2-bearer
    AuthName bench
    OAuth2TokenVerify introspect={mock.url}/introspect issuer={mock.url} \\
        audience=api client_id=demo-client client_secret=demo-secret
    Require valid-user
</Location>
<Location /app>
    AuthType oauth2
    OAuth2Login mock
    Require valid-user
</Location>
"""


def policy_accepted(mock):
    """configtest of a one-line config: is OAuth2Policy known here?"""
    a = harness.Apache(
        f"OAuth2PolicyLibDir {REPO}/policies\n"
        f"OAuth2Policy {REPO}/policies/examples/photos.lua\n",
        loglevel="warn")
    try:
        rc, out = a.configtest()
        return rc == 0, out.strip().splitlines()[-1:] or [""]
    finally:
        a.cleanup()


def write_docs(a):
    page = "<h1>bench</h1>\n" + "x" * 400 + "\n"
    for d in ("", "unused/", "api/", "api/photos/", "api/vu/", "full/",
              "opaque/", "app/"):
        a.write_file(f"htdocs/{d}index.html", page)


# ---- credentials -----------------------------------------------------------

def mint(mock, alg="RS256", scope="openid photos.read", http=None):
    # an hour: a full run outlasts the mock's default 300 s (the mock
    # ignored ttl here until it learned it; the settings above say it too)
    body = {"alg": alg, "claims": {"sub": "alice", "scope": scope},
            "ttl": 3600}
    r = (http or requests).post(mock.url + "/_control/mint", json=body,
                                timeout=10)
    r.raise_for_status()
    return r.json()["token"]


def session_cookie(a):
    s = requests.Session()
    r = s.get(a.url + "/app/index.html", timeout=20)
    c = s.cookies.get("oauth2_session")
    if r.status_code != 200 or not c:
        sys.exit(f"bench: sign-in failed ({r.status_code})")
    return c


def tamper(tok):
    """Flip the last significant character (signature or secret)."""
    i = len(tok) - 2
    return tok[:i] + ("A" if tok[i] != "A" else "B") + tok[i + 1:]


def check_guard(a, name, path, header, good):
    """Missing and tampered credentials refused, the good one accepted."""
    url = a.url + path
    codes = [requests.get(url, timeout=10, allow_redirects=False).status_code]
    for cred in (tamper(good), good):
        h = {header[0]: header[1] % cred}
        codes.append(requests.get(url, headers=h, timeout=10,
                                  allow_redirects=False).status_code)
    if codes[0] == 200 or codes[1] == 200 or codes[2] != 200:
        sys.exit(f"bench: {name}: missing/tampered/good gave {codes}; "
                 "refusing to measure an open or broken guard")
    log(f"  guard ok: {name:<22} missing={codes[0]} tampered={codes[1]} "
        f"good={codes[2]}")


# ---- measurement -----------------------------------------------------------

def apache_pids(a):
    parent = a.pid()
    kids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            st = (d / "stat").read_text()
        except OSError:
            continue
        if int(st.rsplit(")", 1)[1].split()[1]) == parent:
            kids.append(int(d.name))
    return parent, kids


def cpu_ticks(a):
    """utime+stime of parent and live children, plus reaped children."""
    parent, kids = apache_pids(a)
    total = 0
    for pid in [parent] + kids:
        try:
            f = (Path(f"/proc/{pid}/stat").read_text()
                 .rsplit(")", 1)[1].split())
        except OSError:
            continue
        total += int(f[11]) + int(f[12])
        if pid == parent:
            total += int(f[13]) + int(f[14])
    return total


def rss_kb(a):
    _, kids = apache_pids(a)
    total = 0
    for pid in kids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def to_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    if not m and os.environ.get("BENCH_DEBUG"):
        log(f"unparsed latency {s!r}")
    if not m:
        return float("nan")
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000,
            "m": v * 60000}[m.group(2)]


def wrk(a, path, headers=(), script=None, seconds=None, during=None):
    args = WRK + [f"-d{seconds or SECONDS}s"]
    for h in headers:
        args += ["-H", h]
    if script:
        args += ["-s", str(script)]
    t0 = cpu_ticks(a)
    p = subprocess.Popen(args + [a.url + path], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    extra = during() if during else None
    out = p.communicate()[0]
    cpu = (cpu_ticks(a) - t0) * 1e6 / TICK
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    p50 = re.search(r"^\s*50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M)
    if not (rps and total and p50 and p99):
        sys.exit(f"bench: cannot parse wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    n = int(total.group(1))
    return {"rps": float(rps.group(1)), "p50": to_ms(p50.group(1)),
            "p99": to_ms(p99.group(1)), "cpu": cpu / max(n, 1), "n": n,
            "non2xx": int(bad.group(1)) if bad else 0,
            "errors": errs.group(1) if errs else "", "extra": extra}


class Perf:
    """perf record -g on the Apache children while a scenario runs."""

    def __init__(self, a, name, outdir):
        self.a, self.name, self.outdir = a, name, outdir
        self.proc = None

    def __enter__(self):
        if os.environ.get("BENCH_PERF") != "1":
            return self
        _, kids = apache_pids(self.a)
        self.data = self.outdir / f"perf-{self.name}.data"
        self.proc = subprocess.Popen(
            ["perf", "record", "-g", "-F", "999", "-o", str(self.data), "-p",
             ",".join(map(str, kids))], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        if self.proc is None:
            return
        self.proc.send_signal(2)
        self.proc.wait(30)
        rep = subprocess.run(
            ["perf", "report", "-i", str(self.data), "--no-children",
             "--stdio", "-g", "none", "--percent-limit", "0.8",
             "--sort", "symbol"], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True).stdout
        lines = [ln for ln in rep.splitlines()
                 if ln.strip() and not ln.startswith("#")]
        log(f"---- perf top functions: {self.name} ({self.data})")
        log("\n".join(ln.rstrip(' -') for ln in lines[:40]))


STAT_EVENTS = ("context-switches,cpu-migrations,page-faults,raw_syscalls:sys_enter,"
               "syscalls:sys_enter_futex,syscalls:sys_enter_mmap,"
               "syscalls:sys_enter_munmap,syscalls:sys_enter_madvise,"
               "syscalls:sys_enter_mprotect,syscalls:sys_enter_brk")


def stat_run(a, label, fn):
    """BENCH_STAT=1: perf stat on the children around fn(); kernel events
    per request, to tell a path's own cost from the scheduling it causes."""
    if os.environ.get("BENCH_STAT") != "1":
        return fn()
    _, kids = apache_pids(a)
    out = Path(tempfile.mkstemp(prefix="oauth2-stat-")[1])
    p = subprocess.Popen(["perf", "stat", "-x,", "-o", str(out), "-e",
                          STAT_EVENTS, "-p", ",".join(map(str, kids))],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    r = fn()
    p.send_signal(2)
    p.wait(30)
    counts = []
    for ln in out.read_text().splitlines():
        f = ln.split(",")
        if len(f) > 2 and f[0].replace(".", "").isdigit():
            counts.append(f"{f[2].split(':')[-1]} {float(f[0]) / r['n']:.3f}")
    out.unlink()
    log(f"---- per request, {label}: " + ", ".join(counts))
    return r


def malloc_calls(out):
    """malloc() calls in a callgrind profile (from the callers' counts)."""
    tree = subprocess.run(["callgrind_annotate", "--tree=caller", str(out)],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True).stdout
    total, block = 0, []
    for ln in tree.splitlines():
        if not ln.strip():
            block = []
            continue
        if re.search(r"\*\s+\S*malloc\.c:malloc \[", ln):
            total += sum(int(c.replace(",", "")) for c in
                         (re.findall(r"\(([\d,]+)x\)", "".join(block))))
        block.append(ln)
    return total


def callgrind(a, tmp, name, path, headers, script=None):
    """BENCH_CALLGRIND=1: the scenario once more against a single-process
    httpd -X under valgrind --tool=callgrind (deterministic instruction
    counts, no scheduler noise); prints the top functions (self cost)."""
    cg = tmp / "callgrind"
    cg.mkdir(exist_ok=True)
    os.chmod(cg, 0o1777)  # httpd -X drops to www-data before the dump
    out = cg / f"{name}.out"
    a.stop()
    p = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         "--collect-atstart=yes", harness.APACHE_BIN, "-X", "-f",
         str(a.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not harness.wait_port(a.port, 120, p):
            sys.exit("bench: httpd -X under callgrind did not start")
        os.chmod(out, 0o666)  # created as root, dumped as www-data
        for _ in range(20):  # warm caches (discovery, JWKS, verdicts)
            requests.get(a.url + path, timeout=60, headers=dict(
                h.split(": ", 1) for h in headers))
        secs = os.environ.get("BENCH_CALLGRIND_SECONDS", "10")
        w = subprocess.run(["wrk", "-t1", "-c1", f"-d{secs}s", *sum(
            (["-H", h] for h in headers), []),
            *(["-s", str(script)] if script else []), a.url + path],
            stdout=subprocess.PIPE, text=True).stdout
        n = 20 + int(re.search(r"(\d+) requests in", w).group(1))
    finally:
        p.terminate()
        p.wait(120)
        a.start()
    rep = subprocess.run(["callgrind_annotate", "--inclusive=no", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout
    lines = [ln for ln in rep.splitlines() if re.match(r"\s*[\d,]+ ", ln)]
    inc = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout
    m = re.search(r"([\d,]+) \([^)]*\)\s+\S*:ap_process_async_request ",
                  inc)
    per = int(m.group(1).replace(",", "")) / n if m else float("nan")
    mallocs = malloc_calls(out)
    log(f"---- callgrind: {name}: {n} requests, {per:,.0f} instructions "
        f"per request (ap_process_async_request inclusive); malloc() "
        f"{mallocs / n:.2f} per request (startup included; {mallocs} in "
        f"all: runs of two lengths give the per-request slope)")
    log(f"---- callgrind self cost: {name} ({out})")
    log("\n".join(lines[:32]))


def redis_stats(redis):
    """Total commands processed, excluding the ones this script sends and
    the read cache listener's (CLIENT, SUBSCRIBE, PING every 200 ms)."""
    out = redis.cli("INFO", "commandstats")
    n = 0
    for m in re.finditer(r"cmdstat_(\w+):calls=(\d+)", out):
        if m.group(1) not in ("info", "client", "ping", "subscribe"):
            n += int(m.group(2))
    return n, out


def redis_conns_total(redis):
    m = re.search(r"total_connections_received:(\d+)",
                  redis.cli("INFO", "stats"))
    return int(m.group(1)) if m else 0


def redis_clients(redis):
    out = redis.cli("CLIENT", "LIST")
    return sum(1 for ln in out.splitlines() if ln.startswith("id=")) - 1


# ---- scenarios -------------------------------------------------------------

def token_script(tmp, tokens, path, name="rotate.lua"):
    tf = tmp / "tokens.txt"
    tf.write_text("\n".join(tokens) + "\n")
    sf = tmp / name
    sf.write_text(f"""-- rotate through {len(tokens)} distinct tokens
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  toks = {{}}
  for line in io.lines("{tf}") do toks[#toks + 1] = line end
  i = id * math.floor(#toks / 2)
end
function request()
  i = i % #toks + 1
  return wrk.format("GET", "{path}",
                    {{ ["Authorization"] = "Bearer " .. toks[i] }})
end
""")
    return sf


def fmt_row(name, r, base, note=""):
    ratio = r["rps"] / base["rps"] if base else 1.0
    # httpd CPU per request of the static file over this row's: steadier
    # than req/s when other jobs compete for the cores
    cratio = base["cpu"] / r["cpu"] if base and r["cpu"] else 1.0
    flag = ""
    # "read" errors are keep-alive closes; anything else is a real failure
    errs = re.sub(r"read \d+,? ?", "", r["errors"])
    if r["non2xx"] or re.search(r"[1-9]", errs):
        flag = f" !non2xx={r['non2xx']} {r['errors']}"
    return (f"| {name:<40} | {r['rps']:>8.0f} | {r['p50']:>7.2f} | "
            f"{r['p99']:>7.2f} | {r['cpu']:>7.0f} | {ratio:>5.2f} | "
            f"{cratio:>5.2f} |"
            f" {note}{flag}")


HEAD = ("| scenario                                 |    req/s | p50 ms  |"
        " p99 ms  | CPU us/req | ratio | CPU ratio | note\n"
        "|------------------------------------------|---------:|--------:|"
        "--------:|--------:|------:|------:|-----")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--module", default=str(harness.module_path()))
    args = ap.parse_args()
    os.environ["OAUTH2_MODULE"] = args.module
    only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
    tmp = harness.make_tempdir("oauth2-bench-")
    rows, notes = [], []

    redis = harness.Redis().start()
    mock = harness.MockProvider(auto_approve=True).start()
    # every token of the run (minted, the session's) outlives it: at the
    # mock's default 300 s the later rows measured expiry, not the cache
    mock.ctl("/_control/settings", {"access_token_ttl": 3600,
                                    "id_token_ttl": 3600})
    pol_ok, pol_msg = policy_accepted(mock)
    a = harness.Apache(loglevel="warn")
    a.set_config(conf(mock, redis, pol_ok))
    write_docs(a)
    a.start()
    try:
        run(a, mock, redis, tmp, pol_ok, pol_msg, only, rows, notes)
    finally:
        a.stop()
        bad = a.violations()
        mock.stop()
        redis.stop()
    print(f"\nmod_oauth2 bench: wrk -t2 -c32 -d{SECONDS}s, "
          f"{os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} (shared machine: ratios, not absolutes)")
    print(HEAD)
    print("\n".join(rows))
    for n in notes:
        print("- " + n)
    if bad:
        print("error log:\n" + "\n".join(bad[:20]))
    a.cleanup()


def run(a, mock, redis, tmp, pol_ok, pol_msg, only, rows, notes):
    http = requests.Session()
    log("minting credentials ...")
    rs = mint(mock, "RS256", http=http)
    es = mint(mock, "ES256", http=http)
    opaque = http.post(mock.url + "/_control/opaque",
                       json={"claims": {"sub": "alice"}, "ttl": 3600},
                       timeout=10).json()["token"]
    cookie = session_cookie(a)
    bearer = ("Authorization", "Bearer %s")
    ck = ("Cookie", "oauth2_session=%s")
    log("checking the guards ...")
    check_guard(a, "bearer RS256", "/api/index.html", bearer, rs)
    check_guard(a, "bearer ES256", "/api/index.html", bearer, es)
    check_guard(a, "full verification", "/full/index.html", bearer, rs)
    check_guard(a, "opaque", "/opaque/index.html", bearer, opaque)
    check_guard(a, "session", "/app/index.html", ck, cookie)
    if pol_ok:
        check_guard(a, "policy", "/api/photos/index.html", bearer, rs)
        wrong = mint(mock, "RS256", scope="openid", http=http)
        code = requests.get(a.url + "/api/photos/index.html", timeout=10,
                            headers={"Authorization": "Bearer " + wrong}
                            ).status_code
        if code != 403:
            sys.exit(f"bench: policy without photos.read gave {code}")
    ntok = NTOKENS if not only or "distinct" in only else 0
    log(f"minting {ntok} distinct RS256 tokens ...")
    tokens = [mint(mock, "RS256", http=http) for _ in range(ntok)]

    def want(n):
        return not only or n in only

    def pair(name, label, path, headers=(), script=None, during=None,
             note="", base_script=None):
        if not want(name):
            return None
        log(f"running {label} ...")
        # a scripted row's baseline runs the same wrk script against the
        # static file: wrk's Lua costs CPU on the same two cores
        runs = []
        # the session row counts Redis commands over its one run
        reps = 1 if during else REPEAT
        for k in range(reps):
            with Perf(a, f"{name}-static", tmp):
                base = stat_run(a, "static", lambda: wrk(
                    a, "/index.html", script=base_script))
            with Perf(a, name, tmp):
                r = stat_run(a, name, lambda: wrk(
                    a, path, headers, script, during=during))
            runs.append((r["rps"] / base["rps"], base, r))
        runs.sort(key=lambda x: x[0])
        ratio, base, r = runs[len(runs) // 2]
        r = dict(r, ratio=ratio)
        if reps > 1:
            note = (note + "; " if note else "") + (
                f"median of {reps} pairs, ratios "
                f"{min(x[0] for x in runs):.2f}..{max(x[0] for x in runs):.2f}")
        rows.append(fmt_row(label, r, base, note))
        return r

    if os.environ.get("BENCH_CALLGRIND") == "1":
        for name, path, hdrs in (
                ("static", "/index.html", []),
                ("static_tok", "/index.html", ["Authorization: Bearer " + rs]),
                ("bearer", "/api/index.html", ["Authorization: Bearer " + rs]),
                ("session", "/app/index.html",
                 ["Cookie: oauth2_session=" + cookie]),
                ("policy_vu", "/api/vu/index.html",
                 ["Authorization: Bearer " + rs]),
                ("policy", "/api/photos/index.html",
                 ["Authorization: Bearer " + rs])):
            if want(name) and (not name.startswith("policy") or pol_ok):
                callgrind(a, tmp, name, path, hdrs)
        if tokens:
            callgrind(a, tmp, "distinct", "/full/index.html", [],
                      script=token_script(tmp, tokens, "/full/index.html"))
        return
    wrk(a, "/index.html", seconds=1)  # warm-up
    if want("static"):
        r = wrk(a, "/index.html")
        rows.append(fmt_row("static file (ceiling)", r, None))
    pair("unused", "static, module loaded, location unused",
         "/unused/index.html")
    # what a request carrying the token costs Apache before we look at
    # it: the ceiling of the bearer rows
    tok = pair("static_tok", "static file, RS256 token sent, unchecked",
               "/index.html", ["Authorization: Bearer " + rs])
    rsr = pair("bearer", "bearer JWT RS256, one token (cached)",
               "/api/index.html", ["Authorization: Bearer " + rs])
    if tok and rsr:
        notes.append(
            "bearer RS256 (cached) against the same request unchecked: "
            f"{rsr['ratio'] / tok['ratio']:.2f} (median ratios "
            f"{rsr['ratio']:.2f} / {tok['ratio']:.2f})")
    pair("bearer_es", "bearer JWT ES256, one token (cached)",
         "/api/index.html", ["Authorization: Bearer " + es])
    if tokens:
        pair("distinct", f"bearer RS256, {len(tokens)} distinct tokens",
             "/full/index.html",
             script=token_script(tmp, tokens, "/full/index.html"),
             base_script=token_script(tmp, tokens, "/index.html",
                                      "rotate_static.lua"),
             note="cache_entries=64: every request verifies; ratio to "
                  "static with the same wrk script")
    pair("opaque", "opaque token, cached introspection",
         "/opaque/index.html", ["Authorization: Bearer " + opaque])
    session_row(a, redis, cookie, pair, notes)
    if pol_ok and want("policy"):
        vu = pair("policy_vu", "bearer RS256, Require valid-user",
                  "/api/vu/index.html", ["Authorization: Bearer " + rs])
        po = pair("policy", "bearer RS256, Require oauth2-policy",
                  "/api/photos/index.html", ["Authorization: Bearer " + rs],
                  note="photos.lua")
        if vu and po:
            policy_cost(a, rs, vu, po, notes)
    elif not pol_ok:
        notes.append("Require oauth2-policy: skipped, OAuth2Policy is not "
                     f"accepted by this build ({pol_msg[0][:100]})")
    if OPENIDC_SO.exists() and os.environ.get("BENCH_OPENIDC") != "0":
        import openidc  # bench/openidc.py: a second Apache, same table
        openidc.run(sys.modules[__name__], mock, redis, tmp, only, rows,
                    notes, rs, tokens)
    elif OPENIDC_SO.exists():
        notes.append("mod_auth_openidc: left out (BENCH_OPENIDC=0)")
    else:
        notes.append("mod_auth_openidc: absent (Debian's "
                     "libapache2-mod-auth-openidc is not installed); no "
                     "comparison rows")
    if os.environ.get("BENCH_LONG") == "1":
        long_run(a, cookie, notes, tokens and token_script(
            tmp, tokens, "/full/index.html"))


def policy_cost(a, rs, vu, po, notes):
    """The policy's cost is a few per cent, below the drift between two
    runs: measure the twin routes alternately, BENCH_POLICY_PAIRS (3)
    more times each, and report medians of the pairwise ratios."""
    h = ["Authorization: Bearer " + rs]
    rps, cpu = [po["rps"] / vu["rps"]], [po["cpu"] / vu["cpu"]]
    for _ in range(int(os.environ.get("BENCH_POLICY_PAIRS", "3"))):
        v = wrk(a, "/api/vu/index.html", h)
        p = wrk(a, "/api/photos/index.html", h)
        rps.append(p["rps"] / v["rps"])
        cpu.append(p["cpu"] / v["cpu"])
    rps.sort()
    cpu.sort()
    mid = len(rps) // 2
    notes.append(
        "Require oauth2-policy vs Require valid-user, same nesting, "
        f"{len(rps)} alternating pairs: req/s ratio median "
        f"{(rps[mid - 1] + rps[mid]) / 2:.3f} (runs "
        f"{', '.join(f'{x:.3f}' for x in rps)}); httpd CPU per request "
        f"ratio median {(cpu[mid - 1] + cpu[mid]) / 2:.3f}")


def session_row(a, redis, cookie, pair, notes):
    seen = []

    def sample():
        time.sleep(SECONDS / 2)
        seen.append(redis_clients(redis))

    before, _ = redis_stats(redis)
    conns0 = redis_conns_total(redis)
    r = pair("session", "session page (cookie, Redis)", "/app/index.html",
             ["Cookie: oauth2_session=" + cookie],
             during=lambda: threading.Thread(target=sample).start())
    if r is None:
        return
    after, stats = redis_stats(redis)
    # minus the redis-cli calls of this function and the sampler
    opened = redis_conns_total(redis) - conns0 - 2 - len(seen)
    per = (after - before) / max(r["n"], 1)
    # the user index (sets) shares the keyspace: size only the records
    sizes = [int(redis.cli("STRLEN", k) or 0)
             for k in redis.cli("KEYS", "*").split()
             if redis.cli("TYPE", k) == "string"]
    notes.append(f"session: Redis commands per request {per:.3f} "
                 f"({after - before} over {r['n']} requests); Redis "
                 f"connections mid-run {seen[0] if seen else '?'}, "
                 f"{opened} opened during the run; "
                 f"sealed session record {max(sizes or [0])} bytes")


def long_run(a, cookie, notes, script=None):
    """RSS of the children before and after BENCH_LONG_SECONDS of session
    requests, and (with distinct tokens) as long of full verifications:
    every one caches a verdict and evicts another, the path that
    allocates most."""
    secs = int(os.environ.get("BENCH_LONG_SECONDS", "60"))
    runs = [("session", "/app/index.html",
             ["Cookie: oauth2_session=" + cookie], None)]
    if script:
        runs.append(("distinct-token", "/full/index.html", [], script))
    for name, path, headers, sc in runs:
        wrk(a, path, headers, script=sc, seconds=5)
        before = rss_kb(a)
        r = wrk(a, path, headers, script=sc, seconds=secs)
        after = rss_kb(a)
        # expired tokens would make this a run of cheap 401s: say so
        errs = re.sub(r"read \d+,? ?", "", r["errors"])
        bad = (f" !non2xx={r['non2xx']} {r['errors']}"
               if r["non2xx"] or re.search(r"[1-9]", errs) else "")
        notes.append(f"BENCH_LONG: children RSS {before} kB -> {after} kB "
                     f"({(after - before) * 100.0 / max(before, 1):+.1f}%) "
                     f"over {r['n']} {name} requests{bad}")


if __name__ == "__main__":
    main()
