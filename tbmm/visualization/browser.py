"""Open a local HTML page in headless Chromium and report what rendered (stdlib only).

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe``: commands are
JSON messages ended by a NUL byte, written to the browser's file descriptor 3, answers and events
read from its descriptor 4 (the transport Puppeteer's ``pipe: true`` uses), so no websocket client,
Selenium or Playwright is needed. :func:`render_page` loads the page, waits for its load event and
returns a :class:`PageRender`: a PNG screenshot of the whole page, every ``<img>`` with its natural
size, the tables, the console errors and uncaught exceptions, and every URL the page requested.
"""
import base64
import json
import os
import os.path as osp
import select
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

from tbmm.errors import UserInputError

#: Executables tried in this order (Debian's ``chromium``, then other common names).
CHROMIUM_NAMES = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')
#: Environment variable naming the browser executable explicitly.
CHROMIUM_ENV = 'TBMM_CHROMIUM'

# Everything the page does after its load event is measured in the browser itself.
_PAGE_FACTS_JS = """(() => {
  const images = Array.from(document.images).map(img => ({
    src: img.currentSrc.startsWith('data:') ? img.currentSrc.slice(0, 80) : img.currentSrc,
    complete: img.complete,
    natural_width: img.naturalWidth, natural_height: img.naturalHeight}));
  const tables = Array.from(document.querySelectorAll('table')).map(t => ({
    id: t.id, rows: t.rows.length}));
  return {images, tables, title: document.title,
          width: document.documentElement.scrollWidth,
          height: document.documentElement.scrollHeight};
})()"""


class BrowserError(UserInputError, RuntimeError):
    """Chromium missing, failing to start, or not answering in time: a problem of the machine the
    tool runs on, reported as one error line (a :class:`~tbmm.errors.UserInputError`)."""


@dataclass
class PageRender:
    """What :func:`render_page` saw."""
    screenshot_png: bytes
    title: str
    images: List[dict]  # {src (a data: URI's first 80 chars), complete, natural_width, ...}
    tables: List[dict]  # {id, rows}
    width: int  # scroll size of the page, CSS pixels
    height: int
    console_errors: List[str] = field(default_factory=list)  # console.error, exceptions, log
    requested_urls: List[str] = field(default_factory=list)
    failed_urls: List[str] = field(default_factory=list)

    @property
    def broken_images(self):
        """Images that did not load (``naturalWidth`` 0 after the load event)."""
        return [img for img in self.images if not img['complete'] or img['natural_width'] == 0]


def find_chromium():
    """Path of a Chromium executable (``$TBMM_CHROMIUM``, then :data:`CHROMIUM_NAMES` on PATH),
    or None."""
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        return explicit if osp.isfile(explicit) else shutil.which(explicit)
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _DevToolsPipe:
    """One Chromium process and its DevTools pipe: ``call`` a method, collect events."""

    def __init__(self, executable, user_data_dir, timeout):
        import fcntl  # POSIX only, like the pipe transport itself

        self.timeout = timeout
        self.stderr_path = osp.join(user_data_dir, 'stderr.txt')
        args = [executable, '--headless', '--remote-debugging-pipe', '--no-sandbox',
                '--disable-gpu', '--no-first-run', '--no-default-browser-check',
                '--disable-extensions', '--disable-background-networking', '--disable-sync',
                '--mute-audio', '--hide-scrollbars', f'--user-data-dir={user_data_dir}',
                'about:blank']
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        stderr = os.open(self.stderr_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        # The browser's pipe ends go to descriptors 3 and 4 last, from copies numbered 10 and up,
        # so that no earlier dup2 overwrites a source (a file given to 0-2 may itself be 3 or 4).
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
                for fd in (to_browser_read, from_browser_write)]
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                   (os.POSIX_SPAWN_DUP2, stderr, 2), (os.POSIX_SPAWN_DUP2, high[0], 3),
                   (os.POSIX_SPAWN_DUP2, high[1], 4)]
        try:
            self.pid = os.posix_spawn(executable, args, os.environ, file_actions=actions)
        except OSError as e:
            raise BrowserError(f'cannot start {executable}: {e}') from e
        finally:
            for fd in (to_browser_read, from_browser_write, devnull, stderr, *high):
                os.close(fd)
        self._buffer = b''
        self._next_id = 0
        self.events = []

    def stderr_tail(self):
        try:
            with open(self.stderr_path, encoding='utf-8', errors='replace') as f:
                lines = f.read().strip().splitlines()
        except OSError:
            return ''
        return lines[-1] if lines else ''

    def _read_message(self, deadline):
        while b'\0' not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f'Chromium did not answer within {self.timeout:g} s')
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                tail = self.stderr_tail()
                raise BrowserError('Chromium closed its DevTools pipe'
                                   + (f': {tail}' if tail else ''))
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b'\0', 1)
        return json.loads(message)

    def call(self, method, session=None, **params):
        """Send ``method`` and return its result; events arriving meanwhile are kept."""
        self._next_id += 1
        message = {'id': self._next_id, 'method': method, 'params': params}
        if session is not None:
            message['sessionId'] = session
        data = json.dumps(message).encode('utf-8') + b'\0'
        while data:
            data = data[os.write(self._to_browser, data):]
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get('id') == self._next_id:
                if 'error' in reply:
                    raise BrowserError(f'{method}: {reply["error"].get("message")}')
                return reply.get('result', {})
            if 'method' in reply:
                self.events.append(reply)

    def wait_for(self, method, deadline):
        """Block until an event ``method`` arrived (or was already kept)."""
        while not any(e['method'] == method for e in self.events):
            message = self._read_message(deadline)
            if 'method' in message:
                self.events.append(message)

    def close(self):
        try:
            self.call('Browser.close')
        except (BrowserError, OSError):
            pass
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        deadline = time.monotonic() + 10
        while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                break
            time.sleep(0.05)


def _console_errors(events):
    """Console errors, uncaught exceptions and browser log errors (e.g. a failed resource)."""
    errors = []
    for event in events:
        method, params = event['method'], event.get('params', {})
        if method == 'Runtime.consoleAPICalled' and params.get('type') in ('error', 'assert'):
            texts = [str(arg.get('value', arg.get('description', ''))) for arg in params['args']]
            errors.append('console.error: ' + ' '.join(texts))
        elif method == 'Runtime.exceptionThrown':
            details = params.get('exceptionDetails', {})
            text = details.get('exception', {}).get('description') or details.get('text')
            errors.append(f'uncaught exception: {text}')
        elif method == 'Log.entryAdded' and params.get('entry', {}).get('level') == 'error':
            entry = params['entry']
            errors.append(f'{entry.get("source")}: {entry.get("text")} {entry.get("url", "")}'
                          .strip())
    return errors


def render_page(html_path, width=1280, height=900, executable=None, timeout=60.0):
    """Load ``html_path`` in headless Chromium at a ``width`` x ``height`` viewport; return a
    :class:`PageRender` with a screenshot of the whole page (up to 16,000 px tall).

    Raises :class:`BrowserError` when no Chromium is found (see :func:`find_chromium`) or it
    fails.
    """
    executable = executable or find_chromium()
    if executable is None:
        raise BrowserError(f'no Chromium found (tried {", ".join(CHROMIUM_NAMES)} on PATH and '
                           f'${CHROMIUM_ENV}); on Debian/Ubuntu: apt-get install chromium')
    url = Path(html_path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix='tbmm_chromium_') as profile:
        browser = _DevToolsPipe(executable, profile, timeout)
        try:
            target = browser.call('Target.createTarget', url='about:blank')['targetId']
            session = browser.call('Target.attachToTarget', targetId=target,
                                   flatten=True)['sessionId']
            for domain in ('Page', 'Runtime', 'Log', 'Network'):
                browser.call(f'{domain}.enable', session)
            browser.call('Emulation.setDeviceMetricsOverride', session, width=width,
                         height=height, deviceScaleFactor=1, mobile=False)
            browser.events.clear()  # what about:blank did is not the page's
            navigation = browser.call('Page.navigate', session, url=url)
            if navigation.get('errorText'):
                raise BrowserError(f'cannot open {url}: {navigation["errorText"]}')
            browser.wait_for('Page.loadEventFired', time.monotonic() + timeout)
            facts = browser.call('Runtime.evaluate', session, expression=_PAGE_FACTS_JS,
                                 returnByValue=True)['result']['value']
            page_height = min(int(facts['height']), 16000)
            browser.call('Emulation.setDeviceMetricsOverride', session, width=width,
                         height=max(height, page_height), deviceScaleFactor=1, mobile=False)
            shot = browser.call('Page.captureScreenshot', session, format='png',
                                captureBeyondViewport=True)
        finally:
            browser.close()
    events = browser.events
    requested = [e['params']['request']['url'] for e in events
                 if e['method'] == 'Network.requestWillBeSent']
    failed = [e['params'].get('errorText', '') for e in events
              if e['method'] == 'Network.loadingFailed']
    return PageRender(screenshot_png=base64.b64decode(shot['data']), title=facts['title'],
                      images=facts['images'], tables=facts['tables'], width=int(facts['width']),
                      height=int(facts['height']), console_errors=_console_errors(events),
                      requested_urls=requested, failed_urls=failed)


def save_screenshot(html_path, png_path, width=1280, crop_height=None, **kwargs):
    """Render ``html_path`` (:func:`render_page`) and save its screenshot to ``png_path``, cropped
    to the top ``crop_height`` pixels when given; returns the :class:`PageRender`."""
    render = render_page(html_path, width=width, **kwargs)
    data = render.screenshot_png
    if crop_height is not None:
        import cv2
        import numpy as np
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        data = cv2.imencode('.png', pixels[:crop_height])[1].tobytes()
    from tbmm.utils import ensure_parent_dir
    with open(ensure_parent_dir(os.fspath(png_path)), 'wb') as f:
        f.write(data)
    return render
