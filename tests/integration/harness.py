"""harness.py - start and stop the processes the integration tests talk to:
a private Apache httpd per test configuration, redis-server and the mock
OIDC provider, each on a free 127.0.0.1 port in its own temp dir. Stops only
what it started (fixture finalizers, plus atexit as a safety net). Also the
error-log discipline: numbered (OAnnnnn) lines at warn or above must be
declared by the test."""
import atexit
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
APACHE_BIN = os.environ.get("APACHE_BIN", "/usr/sbin/apache2")
APACHE_MODDIR = Path("/usr/lib/apache2/modules")
PYTHON = "/usr/bin/python3"
MOCK_PROVIDER = REPO / "tests" / "mock_provider" / "mock_provider.py"
# Static in Debian's apache2 (log_config, unixd) are skipped when absent.
BASE_MODULES = ["mpm_event", "authz_core", "authn_core", "authz_user",
                "authz_host", "mime", "dir", "alias", "cgid", "headers",
                "env", "setenvif", "log_config", "unixd"]
IS_ROOT = os.geteuid() == 0

_live = []  # everything started and not yet stopped, for atexit


def module_path():
    return Path(os.environ.get("OAUTH2_MODULE",
                               REPO / "build" / "mod_oauth2.so"))


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tempdir(prefix):
    """A temp dir under /tmp that www-data can traverse (CI runs as root)."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(d, 0o755)
    return d


def wait_port(port, timeout=10.0, proc=None):
    """True once 127.0.0.1:port accepts a connection."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], text=True,
                         stdout=subprocess.PIPE).stdout.split()
    return [int(p) for p in out]


def _wait_pid_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    return not _pid_alive(pid)


# ---- error-log discipline -------------------------------------------------

_LEVEL = re.compile(r"^\[[^\]]*\] \[[\w.]*:(emerg|alert|crit|error|warn)\]")
_LOGNO = re.compile(r"OA\d{5}")


def log_violations(text, expected):
    """Lines at warn or above carrying an OA number not in `expected`."""
    bad = []
    for line in text.splitlines():
        if not _LEVEL.match(line):
            continue
        if any(n not in expected for n in _LOGNO.findall(line)):
            bad.append(line)
    return bad


# ---- Apache ---------------------------------------------------------------

class Apache:
    """A private httpd: conf/httpd.conf from conf/base.conf plus `extra`.

    `modules` names Debian modules (mod_NAME.so); mod_oauth2 is loaded
    too unless `oauth2=False` (bench/openidc.py: another module alone)."""

    def __init__(self, extra="", loglevel="warn oauth2:debug",
                 modules=None, module=None, oauth2=True):
        self.root = make_tempdir("oauth2-httpd-")
        for sub in ("conf", "logs", "run", "htdocs"):
            (self.root / sub).mkdir(mode=0o755)
            os.chmod(self.root / sub, 0o755)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = self.root / "conf" / "httpd.conf"
        self.loglevel = loglevel
        self.modules = list(BASE_MODULES if modules is None else modules)
        self.module = Path(module) if module else module_path()
        self.oauth2 = oauth2
        self.expected = set()
        self.output = ""  # stdout+stderr of configtest/start/stop
        self.started = False
        self.write_file("htdocs/index.html", "<h1>mod_oauth2 test</h1>\n")
        self.set_config(extra)

    def expect(self, *lognos):
        """Declare OA numbers this test expects at warn or above."""
        self.expected.update(lognos)

    def write_file(self, rel, content, mode=0o644):
        """A file below the server root, readable by www-data unless `mode`
        says otherwise. Returns its absolute path."""
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
        os.chmod(p, mode)
        return p

    def _loadmodules(self):
        lines = []
        for m in self.modules:
            so = APACHE_MODDIR / f"mod_{m}.so"
            if so.exists():
                lines.append(f"LoadModule {m}_module {so}")
        if self.oauth2:
            lines.append(f"LoadModule oauth2_module {self.module}")
        return "\n".join(lines)

    def set_config(self, extra):
        """(Re)write httpd.conf with `extra` appended to the base."""
        self.extra = extra
        base = (HERE / "conf" / "base.conf").read_text()
        user = "User www-data\nGroup www-data" if IS_ROOT else ""
        text = base.format(root=self.root, port=self.port,
                           loglevel=self.loglevel, user=user,
                           loadmodules=self._loadmodules())
        self.conf.write_text(text + "\n# ---- test config ----\n" + extra +
                             "\n")
        os.chmod(self.conf, 0o644)

    def _run(self, *args, timeout=30):
        p = subprocess.run([APACHE_BIN, "-f", str(self.conf), *args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout)
        self.output += p.stdout
        return p.returncode, p.stdout

    def configtest(self):
        """(returncode, output) of `apache2 -t`."""
        return self._run("-t")

    @property
    def pidfile(self):
        return self.root / "run" / "httpd.pid"

    def pid(self):
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self):
        rc, out = self._run("-k", "start")
        if rc != 0:
            raise RuntimeError(f"apache2 -k start failed ({rc}):\n{out}\n"
                               f"{self.error_log()}")
        self.started = True
        _live.append(self)
        # The pid file is written after post_config, the listener before.
        deadline = time.monotonic() + 15
        while self.pid() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.pid() is None or not wait_port(self.port, 15):
            raise RuntimeError(f"apache2 not listening on {self.port}:\n"
                               f"{out}\n{self.error_log()}")
        return self

    def reload(self):
        """Graceful restart with the current httpd.conf."""
        pid = self.pid()
        rc, out = self._run("-k", "graceful")
        if rc != 0:
            raise RuntimeError(f"graceful failed ({rc}):\n{out}")
        if pid is not None and not wait_port(self.port, 15):
            raise RuntimeError("apache2 did not come back after graceful")

    def stop(self):
        if not self.started:
            return
        pid = self.pid()
        if pid is not None and _pid_alive(pid):
            children = _children(pid)
            self._run("-k", "stop")
            if not _wait_pid_gone(pid, 15):
                # `-k stop` reads the config first: a test that left a
                # broken file behind gets here; the children would outlive
                # a killed parent, so they go too
                os.kill(pid, signal.SIGKILL)
                _wait_pid_gone(pid, 5)
                for c in children:
                    try:
                        os.kill(c, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self.started = False
        if self in _live:
            _live.remove(self)

    def error_log(self):
        p = self.root / "logs" / "error_log"
        return p.read_text(errors="replace") if p.exists() else ""

    def violations(self, expected=()):
        """Undeclared numbered lines at warn+, from the log and stderr."""
        exp = self.expected | set(expected)
        return log_violations(self.output + "\n" + self.error_log(), exp)

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


# ---- Redis ----------------------------------------------------------------

class Redis:
    """redis-server on a free port; no persistence, loopback only.

    persist=True turns on appendonly (data survives stop/start in the same
    dir); extra_args are appended to the command line (e.g. --requirepass,
    --cluster-enabled); cli_auth are redis-cli options (e.g. ["-a", pw])."""

    def __init__(self, port=None, persist=False, extra_args=(),
                 cli_auth=()):
        self.dir = make_tempdir("oauth2-redis-")
        self.port = port or free_port()
        self.proc = None
        self.persist = persist
        self.extra_args = [str(a) for a in extra_args]
        self.cli_auth = list(cli_auth)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly",
             "yes" if self.persist else "no", "--appendfsync", "always",
             "--dir", str(self.dir),
             "--logfile", str(self.dir / "redis.log"), "--daemonize", "no",
             *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=self.dir)
        _live.append(self)
        if not wait_port(self.port, 10, self.proc):
            self.stop()
            raise RuntimeError(f"redis-server did not start:\n{self.log()}")
        return self

    def cli(self, *args):
        """Run one command with redis-cli; its stdout, stripped."""
        p = subprocess.run(["redis-cli", "--no-auth-warning", *self.cli_auth,
                            "-h", "127.0.0.1", "-p",
                            str(self.port), *map(str, args)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=10)
        return p.stdout.strip()

    def pause(self):
        """SIGSTOP: connections hang, as with an overloaded server."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self in _live:
            _live.remove(self)

    def restart(self):
        """Stop and start again on the same port (data is lost)."""
        self.stop()
        return self.start()

    def log(self):
        p = self.dir / "redis.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def client_count(self):
        """Connected clients, from CLIENT LIST (redis-cli's own excluded)."""
        return max(0, len(self.cli("CLIENT", "LIST").splitlines()) - 1)


def wait_until(pred, timeout=20.0, step=0.1):
    """Poll pred() until it is truthy; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def free_cluster_port():
    """A free port whose cluster bus port (+10000) is free too."""
    while True:
        p = free_port()
        if p + 10000 > 65535:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", p + 10000))
            return p
        except OSError:
            continue


class Sentinel:
    """One master, one replica and `n` redis-sentinel processes watching
    master `name`, all on 127.0.0.1. url() gives the redis+sentinel URL."""

    def __init__(self, name="mymaster", n=3, master_args=()):
        self.name = name
        self.master = Redis(extra_args=master_args)
        self.replica = Redis(extra_args=["--replicaof", "127.0.0.1",
                                         self.master.port, *master_args])
        self.sentinels = []
        for _ in range(n):
            r = Redis()
            r.conf = r.dir / "sentinel.conf"
            self.sentinels.append(r)

    def url(self):
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.name}"

    def start(self):
        self.master.start()
        self.replica.start()
        for s in self.sentinels:
            s.conf.write_text(
                f"port {s.port}\nbind 127.0.0.1\ndaemonize no\n"
                f"dir {s.dir}\nlogfile {s.dir / 'redis.log'}\n"
                f"sentinel monitor {self.name} 127.0.0.1 "
                f"{self.master.port} 2\n"
                f"sentinel down-after-milliseconds {self.name} 2000\n"
                f"sentinel failover-timeout {self.name} 10000\n")
            s.proc = subprocess.Popen(
                ["redis-sentinel", str(s.conf)], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, cwd=s.dir)
            _live.append(s)
            if not wait_port(s.port, 10, s.proc):
                raise RuntimeError(f"sentinel did not start:\n{s.log()}")
        ok = wait_until(lambda: self.master.cli(
            "INFO", "replication").find("connected_slaves:1") >= 0 and all(
            "num-other-sentinels" in s.cli("SENTINEL", "master", self.name)
            and self._others(s) == len(self.sentinels) - 1
            for s in self.sentinels), 30)
        if not ok:
            raise RuntimeError("sentinels did not settle")
        return self

    def _others(self, s):
        out = s.cli("SENTINEL", "master", self.name).splitlines()
        i = out.index("num-other-sentinels") if "num-other-sentinels" \
            in out else -1
        return int(out[i + 1]) if i >= 0 else -1

    def master_port(self):
        """The master port the first sentinel names, or None."""
        out = self.sentinels[0].cli("SENTINEL", "get-master-addr-by-name",
                                    self.name).split()
        return int(out[1]) if len(out) == 2 else None

    def failover(self):
        return self.sentinels[0].cli("SENTINEL", "failover", self.name)

    def stop(self):
        for r in [*self.sentinels, self.replica, self.master]:
            r.stop()

    def cleanup(self):
        for r in [*self.sentinels, self.replica, self.master]:
            r.cleanup()


class Cluster:
    """`n` cluster-enabled redis-servers made one cluster (no replicas)
    with `redis-cli --cluster create`. url() gives redis+cluster://."""

    def __init__(self, n=3):
        self.nodes = []
        for _ in range(n):
            port = free_cluster_port()
            self.nodes.append(Redis(port=port, extra_args=[
                "--cluster-enabled", "yes", "--cluster-config-file",
                "nodes.conf", "--cluster-node-timeout", "3000"]))

    def url(self):
        hosts = ",".join(f"127.0.0.1:{r.port}" for r in self.nodes)
        return f"redis+cluster://{hosts}"

    def start(self):
        for r in self.nodes:
            r.start()
        p = subprocess.run(
            ["redis-cli", "--cluster", "create",
             *[f"127.0.0.1:{r.port}" for r in self.nodes],
             "--cluster-replicas", "0", "--cluster-yes"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"cluster create failed:\n{p.stdout}")
        if not wait_until(lambda: all(
                "cluster_state:ok" in r.cli("CLUSTER", "INFO")
                for r in self.nodes), 30):
            raise RuntimeError("cluster not ok")
        return self

    def node_id(self, r):
        return r.cli("CLUSTER", "MYID")

    def owner(self, slot):
        """The Redis of `nodes` serving `slot`."""
        for line in self.nodes[0].cli("CLUSTER", "NODES").splitlines():
            f = line.split()
            for rng in f[8:]:
                if rng.startswith("["):
                    continue
                a, _, b = rng.partition("-")
                if int(a) <= slot <= int(b or a):
                    port = int(f[1].split(":")[1].split("@")[0])
                    return next(r for r in self.nodes if r.port == port)
        return None

    def stop(self):
        for r in self.nodes:
            r.stop()

    def cleanup(self):
        for r in self.nodes:
            r.cleanup()


# ---- mock provider --------------------------------------------------------

class MockProvider:
    """tests/mock_provider/mock_provider.py on a free port.

    clients: iterable of "ID:SECRET:REDIRECT_URI" strings."""

    def __init__(self, clients=(), auto_approve=False, extra_args=()):
        self.dir = make_tempdir("oauth2-mock-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.clients = list(clients)
        self.auto_approve = auto_approve
        self.extra_args = list(extra_args)
        self.proc = None
        self.logfile = self.dir / "mock.log"

    @staticmethod
    def available():
        return MOCK_PROVIDER.exists()

    def start(self, timeout=15.0):
        args = [PYTHON, str(MOCK_PROVIDER), "--port", str(self.port)]
        for c in self.clients:
            args += ["--client", c]
        if self.auto_approve:
            args.append("--auto-approve")
        args += self.extra_args
        self._log = open(self.logfile, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True, bufsize=1,
                                     cwd=REPO)
        _live.append(self)
        if not self._wait_ready(timeout):
            self.stop()
            raise RuntimeError(f"mock provider not READY:\n{self.log()}")
        # Keep draining stdout so the provider never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                if not line:
                    return False
                self._log.write(line)
                if line.startswith("READY "):
                    self.url = line.split()[1].rstrip("/")
                    return True
            elif self.proc.poll() is not None:
                return False
        return False

    def _drain(self):
        try:
            for line in self.proc.stdout:
                self._log.write(line)
        except (ValueError, OSError, AttributeError):
            pass

    def ctl(self, path, json=None, method=None):
        """Call the control API: POST `json` (or GET when None); the
        decoded JSON body, or the text when it is not JSON."""
        import requests
        m = method or ("POST" if json is not None else "GET")
        r = requests.request(m, self.url + path, json=json, timeout=10)
        r.raise_for_status()
        try:
            return r.json()
        except ValueError:
            return r.text

    # ---- sessions branch: helpers for back-channel logout and counting --

    def backchannel_logout(self, uri, sid=None, sub=None,
                           client_id="demo-client"):
        """Have the provider POST a logout token for `sid` and/or `sub` to
        `uri`; the RP's HTTP status (None when unreachable)."""
        body = {"client_id": client_id, "uri": uri}
        if sid:
            body["sid"] = sid
        if sub:
            body["sub"] = sub
        return self.ctl("/_control/backchannel_logout", body)["status"]

    def grants(self, grant_type):
        """Requests to /token with this grant_type, in the request log."""
        out = []
        for x in self.ctl("/_control/requests")["requests"]:
            g = (x.get("form") or {}).get("grant_type")
            if x["path"] == "/token" and g in (grant_type, [grant_type]):
                out.append(x)
        return out

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self in _live:
            _live.remove(self)

    def log(self):
        try:
            self._log.flush()
        except (AttributeError, ValueError):
            pass
        return self.logfile.read_text(errors="replace") \
            if self.logfile.exists() else ""

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- sessions branch: several Apache nodes sharing one store -------------

def start_nodes(make, conf, count=2, files=None):
    """Start `count` Apache instances (from the apache_factory `make`) with
    the same `conf` (its "{root}" replaced per instance), so the same
    passphrase and store: nodes of one site. `files` maps relative paths to
    (content, mode). Returns the started instances."""
    nodes = []
    for _ in range(count):
        a = make()
        a.set_config(conf.replace("{root}", str(a.root)))
        for rel, (content, mode) in (files or {}).items():
            a.write_file(rel, content, mode=mode)
        nodes.append(a.start())
    return nodes


@atexit.register
def _stop_leftovers():
    for thing in list(_live):
        try:
            thing.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


# ---- secrets never logged ---------------------------------------------------

# LogLevel for suites that prove no secret is logged: everything at debug,
# our module at its most verbose.
SECRETS_LOGLEVEL = "debug oauth2:trace8"


class Secrets:
    """Every secret a test used (client secrets, passphrases, tokens,
    codes, PKCE verifiers, cookie values). Values shorter than MIN_LEN are
    ignored (they would match by accident). `add_source(fn)` registers a
    callable returning more values, evaluated at teardown (e.g. what the
    mock provider saw)."""

    MIN_LEN = 8

    def __init__(self):
        self.values = set()
        self.sources = []

    def add(self, *values):
        for v in values:
            if isinstance(v, str) and len(v) >= self.MIN_LEN:
                self.values.add(v)

    def add_source(self, fn):
        self.sources.append(fn)

    def resolve(self):
        """Evaluate the sources once; a source that fails is skipped (its
        process may be gone), the values seen so far stay."""
        sources, self.sources = self.sources, []
        for fn in sources:
            try:
                for v in fn() or ():
                    self.add(v)
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass

    def hits(self, text):
        """The registered values that occur in `text`."""
        return sorted(v for v in self.values if v in text)

    def add_cookie_value(self, value):
        """A cookie value and, for "id.secret" values, each half."""
        self.add(value)
        if value and "." in value:
            self.add(*value.split("."))

    def capture_requests(self, monkeypatch):
        """Register what every `requests` call of the test sends and gets:
        Authorization credentials, Cookie values, Set-Cookie values, and
        code / id_token_hint / access_token values in redirect URLs."""
        import urllib.parse
        import requests
        orig = requests.Session.send
        reg = self

        def send(session, request, **kw):
            auth = request.headers.get("Authorization", "")
            if " " in auth:
                reg.add(auth.split(" ", 1)[1].strip())
            for part in request.headers.get("Cookie", "").split(";"):
                if "=" in part:
                    reg.add_cookie_value(part.split("=", 1)[1].strip())
            r = orig(session, request, **kw)
            for c in r.cookies:
                reg.add_cookie_value(c.value)
            loc = r.headers.get("Location", "")
            q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
            for k in ("code", "id_token_hint", "access_token",
                      "refresh_token", "code_verifier"):
                reg.add(*q.get(k, []))
            return r

        monkeypatch.setattr(requests.Session, "send", send)


def mock_seen_secrets(mock):
    """A Secrets source: every secret-bearing value the mock provider was
    sent (codes, verifiers, client secrets, refresh tokens, tokens given to
    introspection/userinfo/end_session, Authorization headers)."""
    def values():
        out = []
        for x in mock.ctl("/_control/requests")["requests"]:
            for part in ("form", "query"):
                d = x.get(part) or {}
                for k in ("code", "code_verifier", "client_secret",
                          "refresh_token", "token", "id_token_hint",
                          "access_token"):
                    v = d.get(k)
                    out += v if isinstance(v, list) else [v]
            h = x.get("headers") or {}
            for k, v in h.items():
                if k.lower() == "authorization" and " " in str(v):
                    out.append(str(v).split(" ", 1)[1])
        return out
    return values
