"""The latent panel of notebook 09 in a real browser: headless Chromium against a local JupyterLab.

Opt-in, never part of CI. It needs Debian's ``chromium`` and ``chromium-driver`` and the Selenium
package (see tests/headless_browser.py, which finds them), and runs only with ``TUTORIAL_BROWSER_TESTS=1``::

    TUTORIAL_BROWSER_TESTS=1 TUTORIAL_RUNS=/path/with/models/gan.pt \\
    TUTORIAL_BROWSER_SCREENSHOT=docs/latent_panel.png python -m pytest -p no:cacheprovider tests/test_browser_panel.py

It starts JupyterLab on a free port (with the kernel *not* headless, so the widgets render), opens a
copy of the notebook with smaller sample counts injected after its parameters cell, runs every
cell, presses the right-arrow key on the focused ``slant`` slider, waits for the digit to be
redrawn, checks that no cell raised, and saves a screenshot (to ``TUTORIAL_BROWSER_SCREENSHOT`` if
set). Without a trained model under ``$TUTORIAL_RUNS/models/gan.pt`` the notebook trains a small
one first, with a notice, which takes a few minutes on a CPU.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from headless_browser import REQUIREMENTS, browser, wait_for  # noqa: F401 (browser is a fixture)
from tutorial_lib import runtime

NOTEBOOK = runtime.REPO_ROOT / "notebooks" / "09_latent_exploration.ipynb"
ARROW_PRESSES = 6                            # slant slider step 0.25: 0.00 -> 1.50
SMALLER = {"n_samples": 4000, "n_starts": 24, "fallback_limit": 4096, "fallback_epochs": 1, "fallback_width": 16}

pytestmark = REQUIREMENTS

# JavaScript run in the page; JupyterLab exposes its application object as window.jupyterapp
# when started with --LabApp.expose_app_in_browser=True.
JS_NOTEBOOK = "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
JS_READY = JS_NOTEBOOK + """
return !!(w && w.content && w.sessionContext && w.sessionContext.session
          && w.sessionContext.session.kernel && w.sessionContext.session.kernel.connectionStatus === 'connected');"""
JS_DONE = JS_NOTEBOOK + """
const cells = w.content.widgets.filter(c => c.model.type === 'code');
const pending = cells.filter(c => c.model.executionCount === null).length;
const idle = w.sessionContext.session.kernel.status === 'idle';
return {pending: pending, idle: idle, total: cells.length};"""
JS_ERRORS = JS_NOTEBOOK + """
const errors = [];
for (const c of w.content.widgets.filter(c => c.model.type === 'code')) {
  for (let i = 0; i < c.model.outputs.length; i++) {
    const o = c.model.outputs.get(i).toJSON();
    if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
  }
}
return errors;"""
SLIDER = "//div[contains(@class, 'widget-hslider')][.//label[normalize-space()='{}']]"
PANEL_IMAGE = ".widget-interact img"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_root(tmp_path: Path) -> Path:
    """``tmp_path/lab`` holding only a copy of notebook 09 with smaller settings injected (papermill's
    way); JupyterLab's settings (no news pop-up) go to ``tmp_path/settings``."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = parameterize_notebook(load_notebook_node(str(NOTEBOOK)), SMALLER)
    root = tmp_path / "lab"
    root.mkdir()
    target = root / NOTEBOOK.name
    nbformat.write(nb, target)
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    return target


@pytest.fixture
def jupyterlab(tmp_path):
    """(url of the notebook, process) for a JupyterLab server whose kernels are not headless."""
    notebook = prepare_root(tmp_path)
    port, token = free_port(), "panel-check"
    env = {k: v for k, v in os.environ.items()
           if k not in (runtime.SMOKE_ENV, runtime.HEADLESS_ENV, "CI", "GITHUB_ACTIONS")}
    env.setdefault("OMP_NUM_THREADS", "1")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")   # cookie secret, kernel files: not in ~
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebook.parent}", "--LabApp.expose_app_in_browser=True",
           f"--LabApp.user_settings_dir={tmp_path / 'settings'}", f"--LabApp.workspaces_dir={tmp_path / 'ws'}",
           "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:          # containers often run as root
        cmd.append("--allow-root")
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, cwd=notebook.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"JupyterLab exited: {(tmp_path / 'jupyterlab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 60 s")
        yield f"{base}/lab/tree/{notebook.name}?token={token}&reset", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_panel_redraws_when_a_slider_moves(jupyterlab, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, _ = jupyterlab
    browser.get(url)
    wait_for(lambda: browser.execute_script(JS_READY), 120, "the notebook and its kernel")
    browser.execute_script("window.jupyterapp.shell.collapseLeft();")
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    wait_for(lambda: browser.execute_script(JS_DONE)["pending"] == 0 and browser.execute_script(JS_DONE)["idle"],
             900, "all cells to run", interval=3)
    assert browser.execute_script(JS_ERRORS) == []

    slider = browser.find_element(By.XPATH, SLIDER.format("slant"))
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", slider)
    image = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, PANEL_IMAGE), 60, "the panel's digit")[0]
    before = image.get_attribute("src")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});",
                           browser.find_element(By.CSS_SELECTOR, ".widget-interact"))
    time.sleep(0.5)
    browser.save_screenshot(str(tmp_path / "latent_panel_before.png"))
    readout = slider.find_element(By.CSS_SELECTOR, ".widget-readout")
    assert readout.text.strip() in ("0.00", "0.0", "0")
    handle = slider.find_element(By.CSS_SELECTOR, ".noUi-handle")
    handle.click()
    for _ in range(ARROW_PRESSES):
        handle.send_keys(Keys.ARROW_RIGHT)
        time.sleep(0.3)
    wait_for(lambda: readout.text.strip().startswith("1.5"), 30, "the slider readout to reach 1.50")

    def redrawn():
        imgs = browser.find_elements(By.CSS_SELECTOR, PANEL_IMAGE)
        return imgs and imgs[0].get_attribute("src") != before and browser.execute_script(JS_DONE)["idle"]

    wait_for(redrawn, 60, "the digit to be redrawn")
    time.sleep(1.0)
    panel = browser.find_element(By.CSS_SELECTOR, ".widget-interact")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", panel)
    time.sleep(0.5)
    shot = tmp_path / "latent_panel.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    assert browser.execute_script(JS_ERRORS) == []
    if os.environ.get("TUTORIAL_BROWSER_SCREENSHOT"):
        target = Path(os.environ["TUTORIAL_BROWSER_SCREENSHOT"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
