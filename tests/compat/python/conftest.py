"""Fixtures: a fresh Portcullis server per test session, merchants made with
its CLI, and the official `stripe` library pointed at it.

The binary comes from env PORTCULLIS_BIN (default target/release/portcullis,
relative to the current directory or else to the repository root).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import stripe

REPO_ROOT = Path(__file__).resolve().parents[3]
LISTENING = re.compile(r"portcullis listening on (http://127\.0\.0\.1:(\d+))")
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20


def _binary() -> Path:
    named = Path(os.environ.get("PORTCULLIS_BIN", "target/release/portcullis"))
    candidates = [named] if named.is_absolute() else [Path.cwd() / named, REPO_ROOT / named]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path.resolve()
    raise pytest.UsageError(
        f"portcullis binary not found: {named} (looked at {', '.join(map(str, candidates))}); "
        "build it with `cargo build --release -p portcullis` or set PORTCULLIS_BIN"
    )


# The rate limits CI raises for this suite (it sends faster than the default
# 100 requests/s per key on a quiet machine); nothing else passes through.
KEPT_SETTINGS = {"PORTCULLIS_RATE_LIMIT_PER_KEY_PER_S", "PORTCULLIS_RATE_LIMIT_PER_MERCHANT_PER_S"}


def _clean_env() -> dict:
    """The environment without PORTCULLIS_* settings but the rate limits, so
    that only the flags given here decide where data lives (no stray
    database URL or config)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PORTCULLIS_") or k in KEPT_SETTINGS
    }


class Server:
    def __init__(self, binary: Path, data_dir: Path):
        self.binary = binary
        self.data_dir = data_dir
        self.log_path = data_dir.parent / "server.log"
        self.stdout_lines: list[str] = []
        self.base_url = ""
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            # Private targets allowed: the webhook tests' receivers are on 127.0.0.1.
            [str(self.binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir),
             "--webhooks-allow-private-targets"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=_clean_env(),
            text=True,
        )
        found = threading.Event()

        def read_stdout() -> None:
            # Keeps draining stdout for the server's whole life so it never blocks.
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.stdout_lines.append(line.rstrip("\n"))
                match = LISTENING.search(line)
                if match and not found.is_set():
                    self.base_url = match.group(1)
                    found.set()
            found.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        if not found.wait(START_TIMEOUT_S) or not self.base_url:
            self.stop(check=False)
            raise RuntimeError(
                f"portcullis did not report its address within {START_TIMEOUT_S}s "
                f"(exit code: {self.process.returncode}).\n"
                f"stdout:\n{os.linesep.join(self.stdout_lines)}\nstderr:\n{self.log_tail()}"
            )

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(self.binary), *args, "--data-dir", str(self.data_dir)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=_clean_env(),
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"portcullis {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def create_merchant(self, name: str) -> dict:
        out = self.cli("merchant", "create", "--name", name, "--json")
        merchant = json.loads(out)  # exactly one JSON object, nothing else
        assert set(merchant) >= {"id", "name", "secret_key", "publishable_key"}, merchant
        return merchant

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, check: bool = True) -> int | None:
        if self.process is None:
            return None
        if self.process.returncode is not None:
            return self.process.returncode
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                if check:
                    raise RuntimeError(f"portcullis ignored SIGTERM for {STOP_TIMEOUT_S}s")
        self._log.close()
        code = self.process.returncode
        if check and code != 0:
            raise RuntimeError(f"portcullis exited {code} (on SIGTERM, or it died earlier):\n{self.log_tail()}")
        return code


def pytest_configure(config):
    # Fail once, clearly, rather than with an error per test.
    config.portcullis_bin = _binary()


@pytest.fixture(scope="session")
def server(pytestconfig):
    binary = pytestconfig.portcullis_bin
    tmp = Path(tempfile.mkdtemp(prefix="portcullis-compat-"))
    srv = Server(binary, tmp / "data")
    try:
        srv.start()
        yield srv
        srv.stop()  # checks that SIGTERM stops it cleanly, with exit code 0
    finally:
        srv.stop(check=False)
        if os.environ.get("PORTCULLIS_COMPAT_KEEP_TMP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def merchant(server):
    """The default merchant; its secret key is the library's global key."""
    created = server.create_merchant("Compat Suite")
    stripe.api_key = created["secret_key"]
    stripe.api_base = server.base_url
    # No silent retries: a 5xx or a dropped connection must fail the test.
    stripe.max_network_retries = 0
    return created


@pytest.fixture
def new_merchant(server, merchant):
    """Makes another, empty merchant: for tests that need to see every object."""
    def make(name: str = "Isolated") -> dict:
        return server.create_merchant(f"{name} {uuid.uuid4().hex[:8]}")
    return make


@pytest.fixture
def unique():
    """A short unique token for emails and names, so tests never collide."""
    return uuid.uuid4().hex[:12]


@pytest.fixture(autouse=True)
def stripe_configured(server, merchant):
    """Every test starts with the library pointed at the server, as the default merchant."""
    stripe.api_key = merchant["secret_key"]
    stripe.api_base = server.base_url
    stripe.max_network_retries = 0
    yield
