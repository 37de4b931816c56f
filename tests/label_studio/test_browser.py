"""An annotator in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) logs in to Label Studio, opens a task the bridge made,
picks a class, submits, and the label reaches the model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.label_studio.harness import N_TEXTS, gold_of
from tests.stream.harness import produce_ag, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.label_studio]

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "label-studio-task.png"


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium "
                                    "(extra label-studio)")
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.exists() and DRIVER.exists()):
        pytest.skip("no /usr/bin/chromium and /usr/bin/chromedriver: run "
                    "deploy/label-studio.sh install as root (apt-get install chromium "
                    "chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,760"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    yield driver
    driver.quit()


def test_a_class_picked_and_submitted_in_the_browser_reaches_the_model(stack, browser,
                                                                       tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    gold = gold_of("ls")  # a few labels first, so that the model guesses on later tasks
    first = wait_for(lambda: len(ts := [t for t in stack.tasks() if t["data"]["item_id"] in gold
                                        and not t["annotations"]]) >= 8 and ts, 120, "tasks",
                     state=lambda: f"{len(stack.tasks())} tasks, {len(stack.selected())} "
                                   "items on selected")
    for t in first:
        stack.user.annotate(t["id"], gold[t["data"]["item_id"]])
    wait_for(lambda: (m := stack.model()) and len(m.classes) >= 2, 120, "a model")
    done = produce_ag(stack.config, N_TEXTS, "lsb")
    assert done.returncode == 0, done.stderr
    gold = gold_of("lsb")
    task = wait_for(lambda: next((t for t in stack.tasks() if t["data"]["item_id"] in gold
                                  and t["predictions"]), None), 120,
                    "a task with the model's guess")
    item_id, label = task["data"]["item_id"], gold[task["data"]["item_id"]]
    before = stack.model()
    project = stack.user.project(stack.project)["id"]
    url = stack.server.url

    browser.get(f"{url}/user/login/")
    browser.find_element(By.NAME, "email").send_keys(stack.server.username)
    browser.find_element(By.NAME, "password").send_keys(stack.server.password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 60).until(lambda b: "/user/login" not in b.current_url)

    browser.get(f"{url}/projects/{project}/data?task={task['id']}")
    submit = "button[aria-label='Submit current annotation']"
    choice = f"//label[.//span[normalize-space(text())='{label}']]"
    wait = WebDriverWait(browser, 120, ignored_exceptions=[StaleElementReferenceException])
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, submit)
               and b.find_elements(By.XPATH, choice))

    def picked(b) -> bool:  # the editor re-renders as it loads: find the choice afresh
        return b.find_element(By.XPATH, f"{choice}//input").is_selected()

    if not wait.until(lambda b: (picked(b),))[0]:  # the model's guess may be this class
        wait.until(lambda b: b.find_element(By.XPATH, choice).click() or True)
    wait.until(picked)
    browser.save_screenshot(str(tmp_path / "task.png"))
    wait.until(lambda b: b.find_element(By.CSS_SELECTOR, submit).click() or True)

    me = f"label-studio/{stack.user.whoami()}"
    labels = wait_for(lambda: stack.labels_covering({item_id}, me), 60,
                      "the browser's label on the labels topic")
    assert [x.label for x in labels if x.item_id == item_id and x.annotator_id == me] == [label]
    wait_for(lambda: (m := stack.model()) and m.version > (before.version if before else -1)
             and m.n_labels > (before.n_labels if before else 0), 120,
             "a model version that learned the browser's label")
    if os.environ.get("STREAM_AL_UPDATE_SCREENSHOT") == "1":  # the docs' picture, on request
        shutil.copyfile(tmp_path / "task.png", SCREENSHOT)  # (a test run leaves the tree clean)
