"""No module of tbmm is over MAX_LINES lines unless it is one concept, and then its docstring has a
line starting with MARKER that says why (issue #19: split mixed modules at their seams)."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'tbmm'
MAX_LINES = 400
MARKER = 'One concept:'


def says_why(source):
    """Whether the module docstring of ``source`` has a line starting with :data:`MARKER`."""
    docstring = ast.get_docstring(ast.parse(source)) or ''
    return any(line.strip().startswith(MARKER) for line in docstring.splitlines())


def oversized_without_reason(package=PACKAGE):
    """``'path: N lines'`` of each module over :data:`MAX_LINES` lines that does not say why."""
    offenders = []
    for path in sorted(package.rglob('*.py')):
        source = path.read_text(encoding='utf-8')
        n_lines = len(source.splitlines())
        if n_lines > MAX_LINES and not says_why(source):
            offenders.append(f'{path.relative_to(package.parent)}: {n_lines} lines')
    return offenders


def test_the_check_finds_a_long_module_without_a_reason(tmp_path):
    body = 'x = 1\n' * MAX_LINES
    (tmp_path / 'long.py').write_text('"""Long."""\n' + body)
    (tmp_path / 'why.py').write_text(f'"""Long.\n\n{MARKER} it is.\n"""\n' + body)
    (tmp_path / 'short.py').write_text('"""Short."""\nx = 1\n')
    assert oversized_without_reason(tmp_path) == [f'{tmp_path.name}/long.py: {MAX_LINES + 1} lines']


def test_no_module_over_the_limit_without_saying_why():
    offenders = oversized_without_reason()
    assert not offenders, (
        f'modules over {MAX_LINES} lines: split them at their seams, or, if one is one concept, '
        f'add a docstring line starting "{MARKER}" saying why: ' + '; '.join(offenders))
