"""A machine without Chromium: the report tool's --screenshot ends in one error line."""
from tbmm.utils import run_cli
from tbmm.visualization import browser


def test_no_chromium_is_one_error_line_not_a_traceback(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(browser.CHROMIUM_ENV, raising=False)
    monkeypatch.setenv('PATH', str(tmp_path))  # an empty folder: no chromium on PATH
    page = tmp_path / 'page.html'
    page.write_text('<html><body>x</body></html>')

    def screenshot(argv):
        browser.save_screenshot(str(page), str(tmp_path / 'shot.png'))

    assert run_cli(screenshot, []) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: no Chromium found'), err
    assert 'apt-get install chromium' in err[0]
    assert not (tmp_path / 'shot.png').exists()
