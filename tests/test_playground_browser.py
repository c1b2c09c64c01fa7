"""The playground in a real browser: the page served on 127.0.0.1 and loaded by Debian's headless
Chromium; clicking "step" changes the loss the page shows; a screenshot is saved. Afterwards
neither the server nor the browser is left running. Skipped (with the reason) without
Streamlit, Selenium, ``/usr/bin/chromium`` or ``/usr/bin/chromedriver``
(``apt-get install chromium chromium-driver``; ``pip install -e ".[playground]"``).

Every wait is bounded (``browser.TIMEOUT`` seconds); the whole test takes about 10 s.
"""

import os
from pathlib import Path

import pytest

from stage4_analysis.playground import browser

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))


def command_lines() -> list[str]:
    """The command lines of every running process (from /proc)."""
    lines = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass
    return lines


def test_step_in_chromium_changes_the_loss(tmp_path):
    shot = tmp_path / "playground-step.png"
    with browser.served() as url, browser.chromium() as driver:
        assert url.startswith("http://127.0.0.1:")
        step0, loss0 = browser.open_page(driver, url, graph=False)
        step1, loss1 = browser.step_and_wait(driver, "step")
        driver.save_screenshot(str(shot))
        profile = driver.profile_dir
    print(f"step {step0} loss {loss0} -> step {step1} loss {loss1}; screenshot {shot}")
    assert (step0, step1) == (0, 1) and float(loss1) != float(loss0)
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    port = url.rsplit(":", 1)[1]
    assert not browser._healthy(url)
    left = [c for c in command_lines() if profile in c or f"--server.port {port}" in c]
    assert not left, f"left running: {left}"
    assert not Path(profile).exists()
