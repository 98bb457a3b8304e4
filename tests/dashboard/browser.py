"""The dashboard served by `streamlit run` and driven by Debian's headless Chromium (through its chromedriver): shared
by the browser tests and the benchmark."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,2200")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def dashboard_server(data_dir: Path) -> Iterator[str]:
    """`streamlit run dashboard/app.py` on a free loopback port; yields its URL once Streamlit says it is serving
    (read from its output: a handshake, not a sleep)."""
    port = free_port()
    env = {**os.environ, "OPSDATA_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "OPSDATA_REPO_ROOT": str(REPO)}
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO / "dashboard" / "app.py"), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "You can now view your Streamlit app" in line or f":{port}" in line:
                break
        else:
            raise RuntimeError("streamlit exited before serving:\n" + "".join(seen))
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def chromium_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    for path, package in ((browser, "chromium"), (driver, "chromium-driver")):
        if not Path(path).exists():
            raise RuntimeError(f"{path} not found: install Debian's {package} (`.ci/run` does: apt-get install -y chromium chromium-driver)")
    return browser, driver


@contextmanager
def chromium(user_data_dir: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}"):
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        yield session
    finally:
        session.quit()


def wait_for_page(session: Any, url: str, title: str, timeout: float = 120) -> list[tuple[str, str]]:
    """Load `url`, wait until Streamlit has drawn the page's title and its metrics; return (label, value) pairs."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    session.get(url)
    wait = WebDriverWait(session, timeout)
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "h1"), title))
    wait.until(lambda s: s.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricValue"]')
               or s.find_elements(By.CSS_SELECTOR, '[data-testid="stAlert"]'))
    # Streamlit reruns while it settles: wait until it reports it is no longer running the script.
    wait.until(lambda s: not s.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'))
    out = []
    for metric in session.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
        label = metric.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text.strip()
        value = metric.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text.strip()
        out.append((label, value))
    return out
