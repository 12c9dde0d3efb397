"""Every tool the README shows exists where it says and answers ``--help`` (exit 0, a usage line):
a moved or broken tool fails here before a user copies the command."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# `python -m tbmm.deploy`, and every script path under tools/, demo/ or .dev_scripts/ the README
# names, run with python or bash or on its own (`tools/dist_train.sh CONFIG 2`).
COMMAND = re.compile(r'\b(?:python|bash) (-m [\w.]+)'
                     r'|(?<![\w./-])((?:tools|demo|\.dev_scripts)/(?:[\w-]+/)*[\w-]+\.(?:py|sh))\b')


def readme_tools():
    text = (REPO / 'README.md').read_text()
    return sorted({m.group(1) or m.group(2) for m in COMMAND.finditer(text)})


def test_the_readme_shows_the_main_tools():
    tools = readme_tools()
    for main in ('tools/train.py', 'tools/test.py', 'tools/infer.py', 'tools/evaluate.py'):
        assert main in tools
    assert len(tools) >= 15


@pytest.mark.parametrize('tool', readme_tools())
def test_each_readme_tool_answers_help(tool):
    if tool.startswith('-m '):
        command = [sys.executable, '-m', tool[3:], '--help']
    else:
        assert (REPO / tool).is_file(), f'the README names {tool}, which does not exist'
        command = (['bash', tool, '--help'] if tool.endswith('.sh')
                   else [sys.executable, tool, '--help'])
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-2000:]
    assert re.search(r'usage|Usage', output), output[-2000:]
