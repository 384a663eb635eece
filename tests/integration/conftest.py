"""conftest.py - fixtures for the integration tests: Apache instances per
test, one redis-server and one mock provider per module, and the error-log
discipline (STYLE.md 15): after a test, any line at warn or above carrying
an OA number the test did not declare fails it; with the `secrets` fixture,
any registered secret found in an error log fails it too. Declare with
@pytest.mark.expect_lognos("OA00612", ...) or apache.expect("OA00612")."""
import pytest

import harness


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "expect_lognos(*nos): OA numbers this test expects at "
        "warn or above in the error log")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach each Apache's error log to the report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        item._oauth2_failed = True  # keep the temp dirs for a post-mortem
        for a in getattr(item, "_oauth2_apaches", []):
            rep.sections.append((f"apache error_log ({a.root})",
                                 a.error_log() or "(empty)"))
            if a.output:
                rep.sections.append((f"apache output ({a.root})", a.output))


def _marker_lognos(item):
    nos = set()
    for m in item.iter_markers("expect_lognos"):
        nos.update(m.args)
    return nos


@pytest.fixture
def apache_factory(request):
    """make(extra_conf="", **kw) -> harness.Apache (not started). All are
    stopped after the test, then their logs are checked."""
    made = []
    request.node._oauth2_apaches = made

    def make(extra="", **kw):
        a = harness.Apache(extra, **kw)
        made.append(a)
        return a

    yield make
    for a in made:
        a.stop()
    expected = _marker_lognos(request.node)
    problems = []
    for a in made:
        bad = a.violations(expected)
        if bad:
            problems.append(f"{a.root}: undeclared numbered lines:\n  " +
                            "\n  ".join(bad) + "\n--- error_log ---\n" +
                            a.error_log())
    reg = getattr(request.node, "_oauth2_secrets", None)
    if reg is not None:
        reg.resolve()
        for a in made:
            hits = reg.hits(a.error_log())
            if hits:
                problems.append(f"{a.root}: secrets in the error log: " +
                                ", ".join(h[:12] + "..." for h in hits))
    failed = getattr(request.node, "_oauth2_failed", False)
    if not problems and not failed:
        for a in made:
            a.cleanup()
    if problems:
        pytest.fail("error-log discipline:\n" + "\n".join(problems),
                    pytrace=False)


@pytest.fixture
def secrets(request, monkeypatch):
    """harness.Secrets for this test: register every secret used (and
    everything `requests` sends or receives is registered automatically).
    At teardown, apache_factory fails the test when any registered value
    occurs in the error log of an Apache it made. Use with
    loglevel=harness.SECRETS_LOGLEVEL so debug and trace lines count."""
    reg = harness.Secrets()
    request.node._oauth2_secrets = reg
    reg.capture_requests(monkeypatch)
    yield reg
    reg.resolve()


@pytest.fixture(scope="module")
def redis_server():
    r = harness.Redis().start()
    yield r
    r.stop()
    r.cleanup()


@pytest.fixture(scope="module")
def mock_provider():
    """The mock provider with auto-approve on; skipped while the script
    does not exist in this checkout."""
    if not harness.MockProvider.available():
        pytest.skip(f"{harness.MOCK_PROVIDER} not present yet")
    m = harness.MockProvider(auto_approve=True).start()
    yield m
    m.stop()
    m.cleanup()
