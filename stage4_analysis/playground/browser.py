"""Serve the playground and drive it with headless Chromium: for the browser test and for the
README's screenshots (``python -m stage4_analysis.playground --screenshots DIR``).

:func:`served` starts ``streamlit run`` on a free port of 127.0.0.1 in its own process group and
stops the whole group on leaving (also after an error or a timeout); :func:`chromium` starts
Debian's ``chromium`` through ``/usr/bin/chromedriver`` (Selenium; no browser is downloaded)
with a new temporary profile, and quits it and removes the profile on leaving. Every wait is
bounded (:data:`TIMEOUT` seconds). Leaves out: other browsers.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from shared.errors import ConfigError

from .serve import streamlit_command

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")
TIMEOUT = 40.0
LOSS = re.compile(r"step (\d+)\s*, epoch \d+ .*?training loss ([0-9.]+|nan)")


def missing() -> str | None:
    """Why the browser cannot be driven here (None when it can)."""
    import importlib.util

    for module in ("streamlit", "selenium"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e \".[playground]\")"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} not found (apt-get install chromium chromium-driver)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    """Terminate ``proc``'s process group; kill it if it has not ended after 5 s."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)


@contextlib.contextmanager
def served(timeout: float = TIMEOUT):
    """The page served on ``http://127.0.0.1:<free port>``; yields the URL."""
    port, log = free_port(), tempfile.TemporaryFile()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(streamlit_command(port), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"streamlit did not start: {log.read()[-2000:].decode()}")
            time.sleep(0.2)
        yield url
    finally:
        _stop(proc)
        log.close()


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 2000):
    """A headless Chromium (Selenium WebDriver) with a fresh temporary profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="playground-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    service = Service(CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.profile_dir = profile                          # lets a test check nothing is left
    try:
        driver.set_page_load_timeout(TIMEOUT)
        yield driver
    finally:
        with contextlib.suppress(Exception):
            driver.quit()
        if service.process is not None and service.process.poll() is None:
            service.process.kill()
        shutil.rmtree(profile, ignore_errors=True)


def status(driver) -> tuple[int, str] | None:
    """``(step, training loss text)`` as the page shows them, or None before it has drawn."""
    m = LOSS.search(driver.find_element("tag name", "body").text)
    return (int(m.group(1)), m.group(2)) if m else None


def wait_until(predicate, timeout: float = TIMEOUT, what: str = "the page"):
    """Poll ``predicate()`` every 0.2 s until it returns something true; TimeoutError after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not appear within {timeout:g} s")
        time.sleep(0.2)


def click(driver, label: str) -> None:
    """Click the button whose text is ``label`` (waiting until the page shows it)."""
    path = f"//button[normalize-space()='{label}']"
    wait_until(lambda: driver.find_elements("xpath", path), what=f"the button {label!r}")[0].click()


def open_page(driver, url: str, graph: bool = True) -> tuple[int, str]:
    """Load the page and wait until it shows the step and loss (and, with ``graph``, until the
    computation graph has been drawn); the status."""
    driver.get(url)
    first = wait_until(lambda: status(driver), what="the training status")
    if graph:
        wait_until(lambda: driver.find_elements("css selector",
                                                "[data-testid='stGraphVizChart'] svg"),
                   what="the computation graph")
    return first


def step_and_wait(driver, label: str = "step") -> tuple[int, str]:
    """Click ``label`` and wait until the page shows a later step; the new status."""
    before = status(driver)
    click(driver, label)
    return wait_until(lambda: (s := status(driver)) and s[0] > before[0] and s,
                      what=f"the step after clicking {label!r}")


def shrink(path: Path, width: int = 900) -> Path:
    """Scale a screenshot to ``width`` pixels and store it as a 256-colour PNG (small enough
    to commit)."""
    from PIL import Image

    img = Image.open(path).convert("RGB")
    img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    img.quantize(256).save(path, optimize=True)
    return path


def take_screenshots(out: Path, epochs: int = 25) -> list[Path]:
    """The disc test before and after ``epochs`` epochs of the default network, and the
    opened-up step, as PNGs in ``out``."""
    why = missing()
    if why:
        raise ConfigError(f"--screenshots: {why}")
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "playground-disc-before.png", out / "playground-disc-after.png",
             out / "playground-step-opened.png"]
    with served() as url, chromium() as driver:
        open_page(driver, url)
        driver.save_screenshot(str(paths[0]))
        for _ in range(epochs):
            step_and_wait(driver, "epoch")
        time.sleep(1.0)                                   # let the graph redraw
        driver.save_screenshot(str(paths[1]))
        driver.find_element("css selector", "[data-testid='stExpander']").screenshot(
            str(paths[2]))
    return [shrink(p) for p in paths]
