"""Starts ../serve (throwaway PostgreSQL + fixture.sql + tusk) once for the Python tests."""

import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVE = Path(__file__).resolve().parent.parent / "serve"
STARTUP_TIMEOUT_S = 150


@dataclass
class Server:
    url: str
    secret: str
    bin: str

    def token(self, role, exp="10m", claims=None):
        """A JWT from `tusk token` (the CLI is part of what is tested)."""
        args = [self.bin, "token", "--role", role]
        if exp is not None:
            args += ["--exp", exp]
        for k, v in (claims or {}).items():
            args += ["--claim", f"{k}={v}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PGRST_")}
        env["PGRST_JWT_SECRET"] = self.secret
        return subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="session")
def server():
    proc = subprocess.Popen(
        [str(SERVE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stderr = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()
    timer = threading.Timer(STARTUP_TIMEOUT_S, proc.kill)
    timer.start()
    env = {}
    try:
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line == "READY":
                break
            key, _, value = line.partition("=")
            env[key] = value
        else:
            proc.wait()
            pytest.fail(f"serve did not become ready (exit {proc.returncode}):\n{''.join(stderr)}")
    finally:
        timer.cancel()
    yield Server(env["TUSK_URL"], env["TUSK_JWT_SECRET"], env["TUSK_BIN"])
    proc.stdin.close()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
