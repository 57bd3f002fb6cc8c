"""Take a screenshot of an Odoo page as a logged-in user, with headless Chromium.

Used to refresh the pictures of the README (the Integration Overview):

    python3 scripts/screenshot.py --url http://127.0.0.1:8069 --db mfg_demo \\
        --path /odoo/action-mfg_integration_core.mfg_integration_overview_action \\
        --wait .o_kanban_record \\
        --out addons/mfg_integration_core/static/description/overview.png

It logs in with Odoo's JSON-RPC (``/web/session/authenticate``), starts Chromium with
the DevTools protocol on a free local port, gives it the session cookie, opens the
page, waits until the ``--wait`` CSS selector matches and the page is idle, and saves
a PNG. Chromium comes from Debian's ``chromium`` package; the DevTools protocol is
driven with ``websocket-client``, which Odoo's own browser tests use.
"""

import argparse
import base64
import itertools
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

import requests
import websocket

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class Page:
    """One page target of Chromium, driven over its DevTools websocket."""

    def __init__(self, ws_url):
        self._ws = websocket.create_connection(ws_url, timeout=60)
        self._ids = itertools.count(1)

    def call(self, method, **params):
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True
        )
        return result.get("result", {}).get("value")

    def close(self):
        self._ws.close()


def login(url, db, user, password):
    response = requests.post(
        f"{url}/web/session/authenticate",
        json={
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"db": db, "login": user, "password": password},
        },
        timeout=60,
    )
    response.raise_for_status()
    if response.json().get("error") or "session_id" not in response.cookies:
        raise SystemExit(f"cannot log in as {user}: {response.text[:300]}")
    return response.cookies["session_id"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def page_target(port, deadline):
    """The websocket URL of Chromium's first page, once its DevTools answer."""
    while time.monotonic() < deadline:
        try:
            targets = requests.get(f"http://127.0.0.1:{port}/json", timeout=5).json()
        except requests.RequestException:
            time.sleep(0.2)
            continue
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.2)
    raise SystemExit("Chromium's DevTools did not answer")


def wait_for(page, selector, deadline):
    check = (
        f"!!document.querySelector({json.dumps(selector)}) && "
        "!document.querySelector('.o_loading_indicator, .o-loading')"
    )
    while time.monotonic() < deadline:
        if page.evaluate(check):
            return
        time.sleep(0.25)
    raise SystemExit(f"{selector!r} did not appear")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8069")
    parser.add_argument("--db", required=True)
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--path", required=True, help="the page, e.g. /odoo/...")
    parser.add_argument("--wait", required=True, help="CSS selector to wait for")
    parser.add_argument("--out", required=True, help="the PNG file to write")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args(argv)

    browser = next(
        (shutil.which(name) for name in BROWSERS if shutil.which(name)), None
    )
    if browser is None:
        raise SystemExit("no Chromium found: apt-get install chromium")
    session = login(args.url.rstrip("/"), args.db, args.login, args.password)
    port = free_port()
    deadline = time.monotonic() + args.timeout
    with tempfile.TemporaryDirectory(prefix="mfg_screenshot.") as profile:
        process = subprocess.Popen(
            [
                browser,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--remote-debugging-port={port}",
                f"--user-data-dir={profile}",
                f"--window-size={args.width},{args.height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            page = Page(page_target(port, deadline))
            host = urlsplit(args.url).hostname
            page.call(
                "Network.setCookie",
                name="session_id",
                value=session,
                domain=host,
                path="/",
            )
            page.call("Page.navigate", url=args.url.rstrip("/") + args.path)
            wait_for(page, args.wait, deadline)
            time.sleep(1.0)  # let fonts and late widgets settle
            shot = page.call("Page.captureScreenshot", format="png")
            page.close()
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    with open(args.out, "wb") as file:
        file.write(base64.b64decode(shot["data"]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
