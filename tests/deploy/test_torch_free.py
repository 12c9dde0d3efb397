"""tbmm.deploy runs without torch, mmcv, mmdet and mmengine: no module of the package imports them
(checked on the source), and a model runs in a fresh venv where they cannot be imported at all."""
import ast
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.deploy.conftest import FORBIDDEN, REPO, run_deploy

pytest.importorskip('onnxruntime')

# What the runtime may load from site-packages: `pip install '.[deploy]'` brings these.
DEPLOY_PACKAGES = ('numpy', 'numpy.libs', 'cv2', 'opencv_python', 'opencv_python.libs',
                   'onnxruntime', 'pydicom', 'pycocotools')


def _module_files(parts):
    """The files that run when the tbmm module ``parts`` is imported: each package's
    ``__init__.py`` on the way, then the module (a ``.py`` file or a package)."""
    files = []
    for end in range(1, len(parts) + 1):
        path = REPO.joinpath(*parts[:end])
        files += [f for f in (path / '__init__.py', path.with_suffix('.py')) if f.is_file()]
    return files


def tbmm_modules_imported_by(module_path, seen=None):
    """Every tbmm module file reachable from ``module_path`` through imports (top level or in
    functions, absolute or relative; not a lazy ``__getattr__``), with the external top-level
    packages each imports."""
    seen = {} if seen is None else seen
    if module_path in seen:
        return seen
    tree = ast.parse(module_path.read_text(), str(module_path))
    externals = set()
    seen[module_path] = externals
    package = list(module_path.relative_to(REPO).with_suffix('').parts)
    if package[-1] == '__init__':
        package.pop()
    else:
        package = package[:-1]
    # A module's __getattr__ imports only when that name is asked for (tbmm.evaluation's lazy
    # ChestXDetMetric, which the runtime never asks for): its body is not followed.
    lazy = {id(n) for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == '__getattr__'
            for n in ast.walk(f)}
    for node in ast.walk(tree):
        if id(node) in lazy:
            continue
        if isinstance(node, ast.Import):
            targets = [(a.name.split('.'), []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            targets = [(base + (node.module.split('.') if node.module else []),
                        [a.name for a in node.names])]
        else:
            continue
        for parts, names in targets:
            if parts[0] != 'tbmm':
                externals.add(parts[0])
                continue
            files = _module_files(parts)
            for name in names:  # `from tbmm.x import module`
                files += [f for f in _module_files(parts + [name]) if f not in files]
            for file in files:
                tbmm_modules_imported_by(file, seen)
    return seen


def test_no_module_reachable_from_tbmm_deploy_imports_the_training_stack():
    reachable = {}
    for path in (REPO / 'tbmm' / 'deploy').glob('*.py'):
        tbmm_modules_imported_by(path, reachable)
    offenders = {str(p.relative_to(REPO)): sorted(e & set(FORBIDDEN))
                 for p, e in reachable.items() if e & set(FORBIDDEN)}
    assert offenders == {}
    # The walk follows imports, relative ones too: the readers and the thresholds loader.
    reached = {str(p.relative_to(REPO)) for p in reachable}
    assert reached & {'tbmm/datasets/image_io.py', 'tbmm/datasets/image_io/__init__.py'}
    assert 'tbmm/evaluation/functional/coco.py' in reached


def test_the_import_blocker_really_refuses_torch(tmp_path):
    result = run_deploy('--help')
    assert result.returncode == 0, result.stderr
    blocked = subprocess.run([sys.executable, '-c', 'import sys\n'
                              'sys.meta_path.insert(0, type("R", (), {"find_spec": lambda s, n, '
                              'p=None, t=None: (_ for _ in ()).throw(ImportError(n)) if '
                              'n == "torch" else None})())\nimport torch'],
                             capture_output=True, text=True)
    assert blocked.returncode != 0 and 'ImportError' in blocked.stderr


def _torch_free_venv(root):
    """A venv without system site-packages that sees only DEPLOY_PACKAGES (linked from this
    environment's site-packages) and the checkout's tbmm."""
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(root)], check=True,
                   timeout=120)
    site = Path(sysconfig.get_paths()['purelib'])
    allowed = root / 'allowed'
    allowed.mkdir()
    for name in DEPLOY_PACKAGES:
        if (site / name).exists():
            (allowed / name).symlink_to(site / name)
        # Their metadata too: pydicom reads its own version through importlib.metadata.
        for dist_info in site.glob(f'{name}-*.dist-info'):
            (allowed / dist_info.name).symlink_to(dist_info)
    (allowed / 'tbmm').symlink_to(REPO / 'tbmm')
    python = root / 'bin' / 'python'
    venv_site = subprocess.run([str(python), '-c', 'import sysconfig; '
                                'print(sysconfig.get_paths()["purelib"])'],
                               capture_output=True, text=True, check=True).stdout.strip()
    Path(venv_site, 'deploy_packages.pth').write_text(f'{allowed}\n')
    return python


def test_a_model_runs_in_a_venv_without_torch(exported, phantom_images, tmp_path):
    _, _, model = exported('main')
    python = _torch_free_venv(tmp_path / 'venv')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    for module in FORBIDDEN:
        probe = subprocess.run([str(python), '-c', f'import {module}'], capture_output=True,
                               text=True, env=env)
        assert probe.returncode != 0, f'{module} importable in the torch-free venv'
    result = subprocess.run([str(python), '-m', 'tbmm.deploy', str(model), str(phantom_images),
                             '--out-dir', str(tmp_path / 'out'), '--no-progress'],
                            capture_output=True, text=True, env=dict(env, OMP_NUM_THREADS='1'),
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    records = json.loads((tmp_path / 'out' / 'predictions.json').read_text())
    assert {r['file_name'] for r in records} >= {'inverted.dcm', 'wide16.png'}  # DICOM read too
    assert sum(len(r['scores']) for r in records) > 0
    reference = run_deploy(model, phantom_images, '--out-dir', tmp_path / 'ref', '--no-progress')
    assert reference.returncode == 0, reference.stderr[-2000:]
    assert records == json.loads((tmp_path / 'ref' / 'predictions.json').read_text())
