"""Imports inside tbmm run one way: no module reaches back, directly or through others, to a module
that imports it (function-level imports included: they only hide a circle until run time)."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'tbmm'


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def tbmm_imports(path, modules):
    """The tbmm modules ``path`` imports anywhere in its body (``from a import b`` counts as
    ``a.b`` when that is a module, else ``a``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f'{node.module}.{alias.name}'
                found.add(sub if sub in modules else node.module)
    return {name for name in found if name in modules}


def import_graph():
    paths = {module_name(p): p for p in PACKAGE.rglob('*.py')}
    return {name: tbmm_imports(path, paths) - {name} for name, path in paths.items()}


def circles(graph):
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_circle_finder_finds_a_circle_through_three_modules():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert circles(graph) == [['a', 'b', 'c']]
    assert circles({'a': {'b'}, 'b': set()}) == []


def test_a_from_import_of_a_submodule_counts_as_that_module(tmp_path):
    source = tmp_path / 'm.py'
    source.write_text('from tbmm.apis import runner\nfrom tbmm.apis import run_train\n'
                      'def f():\n    import tbmm.classes\n')
    modules = {'tbmm.apis', 'tbmm.apis.runner', 'tbmm.classes'}
    assert tbmm_imports(source, modules) == modules


def test_no_import_circle_inside_tbmm():
    graph = import_graph()
    assert len(graph) > 50  # the walk really saw the package
    assert circles(graph) == []


# The layers, lowest first: a module may import its own layer and those below, never above.
# Layers 0-2 are light: they work without torch, mmcv, mmdet or mmengine installed.
LAYERS = [
    ('leaf', ['tbmm', 'tbmm.errors', 'tbmm.classes', 'tbmm.utils']),
    ('light data', ['tbmm.datasets', 'tbmm.datasets.annotations', 'tbmm.datasets.image_io',
                    'tbmm.datasets.image_files', 'tbmm.datasets.validation', 'tbmm.datasets.split',
                    'tbmm.datasets.convert', 'tbmm.datasets.phantom', 'tbmm.datasets.resize',
                    'tbmm.datasets.dataset_cfg', 'tbmm.visualization', 'tbmm.dicom',
                    'tbmm.analysis', 'tbmm.analysis.stats', 'tbmm.analysis.curves',
                    'tbmm.analysis.compare', 'tbmm.analysis.records']),
    ('evaluation and runtime', ['tbmm.evaluation', 'tbmm.deploy']),
    ('mmdet layer', ['tbmm.checkpoint', 'tbmm.datasets.chestxdet', 'tbmm.datasets.transforms',
                     'tbmm.models', 'tbmm.engine', 'tbmm.evaluation.metrics', 'tbmm.setup_env',
                     'tbmm.plugin', 'tbmm.analysis.anchors', 'tbmm.analysis.browse']),
    ('apis', ['tbmm.apis', 'tbmm.benchmark', 'tbmm.cli']),
]
LIGHT_LAYERS = 3
HEAVY_PACKAGES = ('torch', 'mmcv', 'mmdet', 'mmengine')


def layer_of(module):
    """The index of the layer whose longest matching prefix names ``module``."""
    best = (-1, None)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + '.')) and len(prefix) > best[0]:
                best = (len(prefix), index)
    assert best[1] is not None, f'{module} is in no layer: add it to LAYERS'
    return best[1]


def heavy_imports(path):
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                 [node.module] if isinstance(node, ast.ImportFrom) and node.module
                 and node.level == 0 else [])
        found.update(n for n in names if n.split('.')[0] in HEAVY_PACKAGES)
    return found


def test_the_layer_lookup_takes_the_longest_prefix():
    assert LAYERS[layer_of('tbmm.evaluation.metrics.chestxdet_metric')][0] == 'mmdet layer'
    assert LAYERS[layer_of('tbmm.evaluation.functional.froc')][0] == 'evaluation and runtime'
    assert LAYERS[layer_of('tbmm.datasets.chestxdet')][0] == 'mmdet layer'
    assert LAYERS[layer_of('tbmm.datasets.image_io.dicom')][0] == 'light data'


def test_imports_run_down_the_layers_only():
    upward = [f'{module} ({LAYERS[layer_of(module)][0]}) imports {target} '
              f'({LAYERS[layer_of(target)][0]})'
              for module, targets in import_graph().items() for target in sorted(targets)
              if layer_of(target) > layer_of(module)]
    assert upward == []


def test_the_light_layers_import_no_torch_or_openmmlab_package():
    offenders = {}
    for path in PACKAGE.rglob('*.py'):
        name = module_name(path)
        if layer_of(name) < LIGHT_LAYERS and heavy_imports(path):
            offenders[name] = sorted(heavy_imports(path))
    assert offenders == {}
