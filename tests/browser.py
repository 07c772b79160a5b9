"""Open a results page in headless Chromium (Debian's chromium + chromium-driver, through
Selenium) and report what a reader would see: text, and every image with whether it loaded and
has a size on screen. A screenshot of each page is kept in tests/output/ (or $HATESTBED_TEST_OUTPUT).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

OUTPUT = Path(os.environ.get("HATESTBED_TEST_OUTPUT", Path(__file__).resolve().parent / "output"))
# For each <img>: alt text, loaded, natural width, width and height on the page, CSS visibility.
IMAGES_JS = """return [...document.images].map(i => {
    const r = i.getBoundingClientRect(), s = getComputedStyle(i);
    return {alt: i.alt, loaded: i.complete && i.naturalWidth > 0, width: r.width, height: r.height,
            shown: s.display !== 'none' && s.visibility !== 'hidden' && s.opacity !== '0'};
});"""


@contextmanager
def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # --no-sandbox: tests run as root, where Chromium's sandbox refuses to start.
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


def view(driver, page: Path, screenshot: str) -> dict:
    """Load `page`; its title, visible text and images, with a full-page screenshot kept."""
    driver.get(page.resolve().as_uri())
    OUTPUT.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1200, min(max(height, 600), 16000))
    shot = OUTPUT / f"{screenshot}.png"
    driver.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    return {"title": driver.title, "text": driver.find_element("tag name", "body").text,
            "images": driver.execute_script(IMAGES_JS), "screenshot": shot}


def visible(image: dict) -> bool:
    return image["loaded"] and image["shown"] and image["width"] > 50 and image["height"] > 50
