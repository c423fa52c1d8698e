"""Headless Chromium (Debian's chromium + chromium-driver, installed by envs/install_browser.sh)
driven by Selenium, to check that a built Snakemake report renders."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = "/usr/bin/chromedriver"


def chromium() -> webdriver.Chrome:  # noqa: F821 (imported lazily)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = next((b for b in CHROMIUM if Path(b).is_file()), None)
    driver = DRIVER if Path(DRIVER).is_file() else shutil.which("chromedriver")
    if binary is None or driver is None:
        raise RuntimeError("headless Chromium is not installed: run envs/install_browser.sh (Debian's chromium "
                           "and chromium-driver packages), which install.sh runs where apt-get is usable")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(driver), options=opts)


def wait_for(fn, timeout: float = 15.0, what: str = "condition"):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def open_category(d, name: str) -> list:
    """Click a result category of a Snakemake report; return its result rows."""
    from selenium.webdriver.common.by import By

    link = wait_for(lambda: [a for a in d.find_elements(By.TAG_NAME, "a") if a.text.strip() == name],
                    what=f"category {name!r}")[0]
    link.click()
    return wait_for(lambda: [r for r in d.find_elements(By.TAG_NAME, "tr") if r.find_elements(By.TAG_NAME, "a")],
                    what=f"the results of {name!r}")


def show(d, row):
    """Click a result row's 'view' button; return the shown <img> or <iframe>."""
    from selenium.webdriver.common.by import By

    row.find_elements(By.TAG_NAME, "a")[0].click()

    def shown():
        imgs = [i for i in d.find_elements(By.TAG_NAME, "img")
                if (i.get_attribute("src") or "").startswith("data:image/png") and
                int(i.get_attribute("naturalWidth") or 0) > 100]
        return imgs or d.find_elements(By.TAG_NAME, "iframe")
    return wait_for(shown, what="the result to show")[0]
