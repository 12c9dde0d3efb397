"""Human-readable outputs of an evaluation result: text table, JSON file, FROC curve PNG."""
import json

from tbmm.utils import ensure_parent_dir

from .bootstrap import ci_key
from .evaluate import froc_key, image_keys


def _fmt(value, digits=3):
    return 'n/a' if value is None else f'{value:.{digits}f}'


def _fmt_ci(entry, metric, confidence):
    """``'0.512 [0.448, 0.577]'``: a value and its interval (``n/a`` without a value)."""
    value, interval = entry[metric], entry.get(ci_key(metric, confidence))
    if value is None:
        return 'n/a'
    if interval is None:
        return _fmt(value)
    return f'{_fmt(value)} [{_fmt(interval[0])}, {_fmt(interval[1])}]'


def _bootstrap_note(settings):
    units = ('images' if settings['unit'] == 'image'
             else 'patients (groups of images drawn together)')
    return (f'{100 * settings["confidence"]:g}% CI: percentile bootstrap, '
            f'{settings["n_resamples"]} resamples of the {settings["n_units"]} {units}, '
            f'seed {settings["seed"]}.')


def format_table(result):
    """One row per class (GT count, AP50, COCO AP, FROC avgrecall), the mean row, then notes.

    With bootstrap intervals attached (``result['bootstrap']``, see
    :func:`.bootstrap.attach_intervals`) each metric shows ``value [low, high]``.
    """
    classes = result['classes']
    overall = result['overall']
    mean_label = f'mean ({overall["n_classes_with_gt"]}/{len(classes)} classes)'
    name_width = max(len(c) for c in [*classes, mean_label])
    bootstrap = result.get('bootstrap')
    columns = (('ap50', 'AP50', 6), ('coco_ap', 'COCO AP', 7), ('froc_avgrecall', 'FROC', 6))
    if bootstrap:
        confidence = bootstrap['confidence']
        ci_label = f'({100 * bootstrap["confidence"]:g}% CI)'
        columns = tuple((m, f'{label} {ci_label}', 20) for m, label, _ in columns)

        def cells(entry):
            return '  '.join(f'{_fmt_ci(entry, m, confidence):>{max(w, len(label))}}'
                             for m, label, w in columns)
    else:
        def cells(entry):
            return '  '.join(f'{_fmt(entry[m]):>{w}}' for m, _, w in columns)

    header = f'{"Class":<{name_width}}  {"GT":>6}  ' + '  '.join(
        f'{label:>{max(w, len(label))}}' for _, label, w in columns)
    rule = '-' * len(header)
    lines = [header, rule]
    for name in classes:
        entry = result['per_class'][name]
        lines.append(f'{name:<{name_width}}  {entry["n_gt"]:>6d}  {cells(entry)}')
    lines.append(rule)
    lines.append(f'{mean_label:<{name_width}}  {overall["n_gt"]:>6d}  {cells(overall)}')

    froc_fps = result['settings']['froc_fps']
    points = ', '.join(f'{_fmt(overall[froc_key(f)])} @ {f:g}' for f in froc_fps)
    lines.append(f'FROC: mean of recall at {", ".join(f"{f:g}" for f in froc_fps)} FP/image '
                 f'(ChestX-Det10 protocol); class means: {points}.')
    if overall['na_classes']:
        lines.append(f'n/a: no ground truth for {", ".join(overall["na_classes"])}; '
                     'excluded from the means.')
    images = result['images']
    specificity = result['settings']['image_specificity']
    sens_key, threshold_key = image_keys(specificity)
    auc = _fmt_ci(overall, 'image_auc', confidence) if bootstrap else _fmt(overall['image_auc'])
    lines.append(
        f'Image level ({images["n_abnormal"]} abnormal / {images["n_negative"]} negative images, '
        f'score = top box score): AUC {auc}, sensitivity '
        f'{_fmt(overall[sens_key])} at specificity >= {specificity:g} '
        f'(threshold {_fmt(overall[threshold_key], 4)}).')
    if bootstrap:
        lines.append(_bootstrap_note(bootstrap))
    for kind, label in (('gt', 'ground truth'), ('pred', 'predictions')):
        ignored = result['ignored_classes'][kind]
        if ignored:
            listing = ', '.join(f'{name} x{count}' for name, count in sorted(ignored.items()))
            lines.append(f'Ignored boxes of classes outside the class list in {label}: {listing}.')
    if images['n_pred_files_not_in_gt']:
        lines.append(f'Ignored {images["n_pred_files_not_in_gt"]} prediction record(s) for files '
                     f'not in the ground truth (e.g. {images["pred_files_not_in_gt"][0]!r}).')
    return '\n'.join(lines)


def write_result_json(result, path):
    """Write the structured result (see :func:`evaluate_records`) as JSON."""
    ensure_parent_dir(path)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=2)
        f.write('\n')


def style_froc_axes(ax, fps, title):
    """FROC axes: log2 FP/image with a tick at each of ``fps``, recall in [0, 1.02], grid."""
    ax.set_xscale('log', base=2)
    ax.set_xticks(fps)
    ax.set_xticklabels([f'{f:g}' for f in fps])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel('False positives per image')
    ax.set_ylabel('Recall (sensitivity)')
    ax.set_title(title)
    ax.grid(True, alpha=0.3)


def plot_froc(result, path, title=None):
    """Save a PNG of recall vs FP/image at the FROC curve points: each class and the class mean."""
    if title is None:
        title = f'FROC (ChestX-Det10 score {_fmt(result["overall"]["froc_avgrecall"])})'
    # Figure + Agg canvas directly: no pyplot global state, no dependence on the default backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fps = result['settings']['froc_curve_fps']
    labels = [f'{f:g}' for f in fps]
    fig = Figure(figsize=(7, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name in result['classes']:
        curve = result['per_class'][name]['froc_curve']
        if curve[labels[0]] is None:
            continue  # no ground truth: no curve
        ax.plot(fps, [curve[label] for label in labels], marker='.', linewidth=1, alpha=0.8,
                label=name)
    mean_curve = result['overall']['froc_curve']
    if mean_curve[labels[0]] is not None:
        ax.plot(fps, [mean_curve[label] for label in labels], color='black', linewidth=2.5,
                marker='o', label='mean')
    style_froc_axes(ax, fps, title)
    ax.legend(fontsize=8, loc='lower right')
    fig.tight_layout()
    ensure_parent_dir(path)
    fig.savefig(path, format='png')
