"""test_load.py - the module loads into mpm_event, Apache serves, the
module exports only its record, and it announces its version."""
import re
import subprocess

import pytest
import requests

import harness


def test_module_loads_and_serves_static(apache_factory):
    a = apache_factory().start()
    r = requests.get(a.url + "/", timeout=5)
    assert r.status_code == 200
    assert "mod_oauth2 test" in r.text
    r = requests.get(a.url + "/missing.html", timeout=5)
    assert r.status_code == 404


def test_mpm_is_event(apache_factory):
    a = apache_factory(loglevel="info oauth2:debug").start()
    assert requests.get(a.url + "/", timeout=5).status_code == 200
    assert re.search(r"\[mpm_event:notice\].*configured -- resuming",
                     a.error_log())


def test_only_module_record_exported():
    so = harness.module_path()
    out = subprocess.run(["nm", "-D", "--defined-only", str(so)],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    names = {line.split()[2] for line in out.splitlines()
             if len(line.split()) == 3 and line.split()[1] in "TDBRVW"}
    names -= {"_init", "_fini", "__bss_start", "_edata", "_end"}
    assert names == {"oauth2_module"}


def test_version_notice_logged_once(apache_factory):
    a = apache_factory().start()
    version = re.search(r'OAUTH2_VERSION "([^"]+)"',
                        (harness.REPO / "include/oauth2/oauth2.h").read_text())
    lines = [line for line in a.error_log().splitlines()
             if "OA00600:" in line]
    assert len(lines) == 1, a.error_log()
    assert "[oauth2:notice]" in lines[0]
    assert f"mod_oauth2 {version.group(1)} configured" in lines[0]


def test_discipline_catches_undeclared_lognos():
    """The checker itself: only undeclared numbered warn+ lines count."""
    log = "\n".join([
        "[Mon Jan 01 00:00:00.000 2026] [oauth2:warn] [pid 1] OA00612: x",
        "[Mon Jan 01 00:00:00.000 2026] [oauth2:error] [pid 1] OA00613: y",
        "[Mon Jan 01 00:00:00.000 2026] [oauth2:notice] [pid 1] OA00600: z",
        "[Mon Jan 01 00:00:00.000 2026] [core:warn] [pid 1] AH00001: w",
    ])
    assert len(harness.log_violations(log, set())) == 2
    assert len(harness.log_violations(log, {"OA00612"})) == 1
    assert harness.log_violations(log, {"OA00612", "OA00613"}) == []


@pytest.mark.skipif(not harness.MockProvider.available(),
                    reason="tests/mock_provider/mock_provider.py not here yet")
def test_mock_provider_serves_discovery(mock_provider):
    r = requests.get(mock_provider.url +
                     "/.well-known/openid-configuration", timeout=5)
    assert r.status_code == 200
    assert r.json()["issuer"].rstrip("/") == mock_provider.url
