"""test_harness.py - the harness's own moving parts that other tests rely
on: redis-server control (pause, resume, restart) and free ports."""
import socket

import harness


def test_free_port_is_bindable():
    p = harness.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", p))


def test_redis_pause_resume_restart(redis_server):
    r = redis_server
    assert r.cli("PING") == "PONG"
    assert r.cli("SET", "k", "v") == "OK"
    r.pause()
    try:
        with socket.create_connection(("127.0.0.1", r.port), timeout=1) as s:
            s.settimeout(0.3)
            s.sendall(b"PING\r\n")
            try:
                got = s.recv(16)
            except socket.timeout:
                got = b""
        assert got == b""  # stopped: the kernel accepts, nobody answers
    finally:
        r.resume()
    assert r.cli("GET", "k") == "v"
    r.restart()
    assert r.cli("PING") == "PONG"
    assert r.cli("GET", "k") == ""  # no persistence
