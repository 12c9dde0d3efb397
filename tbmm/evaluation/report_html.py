"""The HTML of an evaluation report: :func:`render_report` assembles the page of
:class:`.report_sources.ReportSources` from one section builder per part (metrics table, FROC,
confusion matrix, TIDE errors, class curves, galleries, learning curves, data set statistics).

Every image is inlined as a base64 ``data:`` URI and the page has no script (see
:mod:`.report_page`).
"""
import base64
import html
import os
import os.path as osp
import tempfile

from .functional.bootstrap import ci_key
from .functional.evaluate import froc_key, image_keys
from .report_sources import GALLERY_PER_KIND, ReportError, metrics_prefix, read_report_json

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0 auto;
       max-width: 1400px; padding: 0 24px 48px; color: #1d2430; background: #fff; }
h1 { font-size: 1.6em; margin: 24px 0 4px; }
h2 { font-size: 1.25em; margin-top: 36px; border-bottom: 2px solid #d6dbe3; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 20px 0 8px; }
nav a { margin-right: 14px; }
.meta, .note { color: #56607a; font-size: 0.9em; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.9em; }
th, td { border: 1px solid #d6dbe3; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #eef1f6; white-space: normal; }
.wide { overflow-x: auto; max-width: 100%; }
td.name, th.name { text-align: left; }
tr.mean td { font-weight: 600; background: #f6f8fb; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
figure { margin: 0; }
figure img { max-width: 100%; border: 1px solid #e3e7ee; }
figcaption { font-size: 0.8em; color: #56607a; }
.curves img { width: 420px; }
.gallery img { max-height: 260px; }
.missing { color: #8a5a00; }
"""


def _esc(value):
    return html.escape(str(value), quote=True)


def _fmt(value, digits=3):
    return 'n/a' if value is None else f'{value:.{digits}f}'


def _data_uri(data, mime):
    return f'data:{mime};base64,{base64.b64encode(data).decode("ascii")}'


def _image_file(path, alt, caption=None, jpeg=False):
    """A ``<figure>`` with the image at ``path`` inlined; photos (``jpeg``) re-encoded as JPEG,
    which makes gallery crops of radiographs several times smaller than PNG."""
    if jpeg:
        import cv2
        pixels = cv2.imread(path, cv2.IMREAD_COLOR)
        if pixels is None:
            raise ReportError(f'{path}: cannot read the image')
        data, mime = cv2.imencode('.jpg', pixels, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes(), \
            'image/jpeg'
    else:
        with open(path, 'rb') as f:
            data = f.read()
        mime = 'image/png' if path.lower().endswith('.png') else 'image/jpeg'
    caption_html = f'<figcaption>{_esc(caption)}</figcaption>' if caption else ''
    return (f'<figure><img src="{_data_uri(data, mime)}" alt="{_esc(alt)}">'
            f'{caption_html}</figure>')


def _table(header, rows, row_classes=None, table_id=None):
    """``rows`` of already escaped cells; the first column is the name column."""
    id_attr = f' id="{table_id}"' if table_id else ''
    head = ''.join(f'<th class="name">{h}</th>' if i == 0 else f'<th>{h}</th>'
                   for i, h in enumerate(header))
    body = []
    for k, row in enumerate(rows):
        css = f' class="{row_classes[k]}"' if row_classes and row_classes[k] else ''
        cells = ''.join(f'<td class="name">{c}</td>' if i == 0 else f'<td>{c}</td>'
                        for i, c in enumerate(row))
        body.append(f'<tr{css}>{cells}</tr>')
    # In a scrolling box: a table wider than the window does not widen the page.
    return (f'<div class="wide"><table{id_attr}><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _value_ci(entry, metric, confidence):
    value = entry.get(metric)
    if value is None:
        return 'n/a'
    interval = entry.get(ci_key(metric, confidence)) if confidence else None
    if interval is None:
        return _fmt(value)
    return (f'{_fmt(value)} <span class="note">[{_fmt(interval[0])}, '
            f'{_fmt(interval[1])}]</span>')


def _metrics_section(result):
    classes = result['classes']
    bootstrap = result.get('bootstrap')
    confidence = bootstrap['confidence'] if bootstrap else None
    fps = result['settings']['froc_fps']
    ci = f' ({100 * confidence:g}% CI)' if bootstrap else ''
    header = ['Class', 'GT boxes', 'Detections', f'AP50{ci}', f'COCO AP{ci}', f'FROC{ci}',
              *[f'recall @ {f:g} FP/img' for f in fps]]

    def row(name, entry):
        return [_esc(name), str(entry['n_gt']), str(entry.get('n_det', '')),
                _value_ci(entry, 'ap50', confidence), _value_ci(entry, 'coco_ap', confidence),
                _value_ci(entry, 'froc_avgrecall', confidence),
                *[_fmt(entry.get(froc_key(f))) for f in fps]]

    overall = result['overall']
    rows = [row(name, result['per_class'][name]) for name in classes]
    rows.append(row(f'mean ({overall["n_classes_with_gt"]}/{len(classes)} classes)', overall))
    parts = [_table(header, rows, [None] * len(classes) + ['mean'], table_id='metrics')]
    images = result['images']
    sens_key, threshold_key = image_keys(result['settings']['image_specificity'])
    notes = [f'IoU threshold {result["settings"]["iou_thr"]:g}. FROC: mean recall at '
             f'{", ".join(f"{f:g}" for f in fps)} false positives per image (ChestX-Det10 '
             f'protocol).',
             f'Image level ({images["n_abnormal"]} abnormal / {images["n_negative"]} negative '
             f'images, image score = its top box score): AUC '
             f'{_value_ci(overall, "image_auc", confidence)}, sensitivity '
             f'{_fmt(overall.get(sens_key))} at specificity &ge; '
             f'{result["settings"]["image_specificity"]:g} (threshold '
             f'{_fmt(overall.get(threshold_key), 4)}).']
    if overall.get('na_classes'):
        notes.append(f'n/a: no ground truth for {_esc(", ".join(overall["na_classes"]))}; '
                     f'excluded from the means.')
    if bootstrap:
        unit = 'images' if bootstrap['unit'] == 'image' else 'patients'
        notes.append(f'{100 * confidence:g}% intervals: percentile bootstrap, '
                     f'{bootstrap["n_resamples"]} resamples of the {bootstrap["n_units"]} '
                     f'{unit}, seed {bootstrap["seed"]}.')
    else:
        notes.append('No intervals: evaluate with tools/evaluate.py --bootstrap 1000 for them.')
    for kind, label in (('gt', 'ground truth'), ('pred', 'predictions')):
        ignored = result.get('ignored_classes', {}).get(kind)
        if ignored:
            listing = ', '.join(f'{name} x{count}' for name, count in sorted(ignored.items()))
            notes.append(f'Ignored boxes of classes outside the class list in {label}: '
                         f'{_esc(listing)}.')
    parts += [f'<p class="note">{n}</p>' for n in notes]
    return ''.join(parts)


def _froc_section(result, froc_png, scratch):
    if froc_png is None:
        from .functional.report import plot_froc
        froc_png = osp.join(scratch, 'froc.png')
        plot_froc(result, froc_png)
    return f'<div class="figures">{_image_file(froc_png, "FROC curve of every class")}</div>'


def _confusion_section(analysis_dir):
    confusion = read_report_json(osp.join(analysis_dir, 'confusion.json'))
    labels = confusion['labels']
    header = ['ground truth \\ prediction', *[_esc(label) for label in labels]]
    rows = [[_esc(label), *[str(v) for v in confusion['matrix'][r]]]
            for r, label in enumerate(labels)]
    rows[-1][-1] = '-'  # background predicted as background is not counted
    settings = confusion['settings']
    thresholds = set(settings['score_thr'].values())
    thr_text = (f'score &ge; {thresholds.pop():g}' if len(thresholds) == 1
                else 'per-class score thresholds ' + _esc(', '.join(
                    f'{k} {v:g}' for k, v in settings['score_thr'].items())))
    figure = ''
    if osp.isfile(osp.join(analysis_dir, 'confusion.png')):
        image = _image_file(osp.join(analysis_dir, 'confusion.png'), 'confusion matrix')
        figure = f'<div class="figures">{image}</div>'
    return (f'<p class="note">Rows: ground truth, columns: prediction, at IoU &ge; '
            f'{settings["iou_thr"]:g} and {thr_text}. A box of several classes counts for each '
            f'of them. Background row: false positives matching no lesion; background column: '
            f'lesions missed.</p>{figure}'
            f'{_table(header, rows, [None] * (len(rows) - 1) + ["mean"], "confusion")}')


def _errors_section(analysis_dir):
    from .functional.errors import ERROR_TYPES, FP_KINDS, TIDE_NAMES

    summary = read_report_json(osp.join(analysis_dir, 'errors.json'))
    classes = summary['classes']

    def delta(entry, kind):
        value = entry['delta_ap50'].get(kind)
        return _fmt(value)

    header = ['Class', 'AP50', *[f'&Delta;{TIDE_NAMES[t]}' for t in ERROR_TYPES],
              'TP', *[_esc(k.replace('_', ' ')) for k in FP_KINDS], 'missed']
    rows = []
    for name in classes:
        entry = summary['per_class'][name]
        counts = entry.get('counts_at_thr', {})
        rows.append([_esc(name), _fmt(entry['ap50']), *[delta(entry, t) for t in ERROR_TYPES],
                     *[str(counts.get(k, '')) for k in ('tp', *FP_KINDS, 'missed')]])
    overall = summary['overall']
    rows.append(['mean', _fmt(overall['ap50']), *[delta(overall, t) for t in ERROR_TYPES],
                 *[''] * (2 + len(FP_KINDS))])
    definitions = summary.get('definitions', {})
    terms = ''.join(f'<li><b>{_esc(TIDE_NAMES[t])}</b> ({_esc(t.replace("_", " "))}): '
                    f'{_esc(definitions.get(t, ""))}</li>' for t in ERROR_TYPES)
    return (f'<p class="note">&Delta;: AP50 gained by fixing that error type alone, over all '
            f'detections ({_esc(definitions.get("reference", "TIDE"))}). Counts: detections '
            f'scoring at least their class threshold, and lesions without a true positive '
            f'there.</p>{_table(header, rows, [None] * len(classes) + ["mean"], "errors")}'
            f'<ul class="note">{terms}</ul>')


def _class_curves_section(analysis_dir, classes):
    from .analysis import file_slug

    blocks = []
    for name in classes:
        paths = [osp.join(analysis_dir, 'curves', f'{file_slug(name)}_{kind}.png')
                 for kind in ('pr', 'f1', 'froc')]
        present = [p for p in paths if osp.isfile(p)]
        if not present:
            continue
        figures = ''.join(_image_file(p, f'{name}: {osp.basename(p)}') for p in present)
        blocks.append(f'<h3>{_esc(name)}</h3><div class="figures curves">{figures}</div>')
    if not blocks:
        return '<p class="note">No class has ground truth: no curves.</p>'
    return ''.join(blocks)


def _gallery_section(analysis_dir, classes, per_kind):
    from .analysis import file_slug

    root = osp.join(analysis_dir, 'gallery')
    blocks = []
    for name in classes:
        folder = osp.join(root, file_slug(name))
        if not osp.isdir(folder):
            continue
        files = sorted(os.listdir(folder))
        kinds = (('fp_', 'Highest-scoring false positives'), ('missed_', 'Largest missed lesions'))
        parts = []
        for start, label in kinds:
            chosen = [f for f in files if f.startswith(start) and f.endswith('.png')]
            if not chosen:
                continue
            shown = chosen[:per_kind]
            more = (f' <span class="note">({len(shown)} of {len(chosen)})</span>'
                    if len(chosen) > len(shown) else '')
            figures = ''.join(_image_file(osp.join(folder, f), f'{name}: {f}', f, jpeg=True)
                              for f in shown)
            parts.append(f'<p>{label}{more}</p><div class="figures gallery">{figures}</div>')
        if parts:
            blocks.append(f'<h3>{_esc(name)}</h3>{"".join(parts)}')
    if not blocks:
        return ('<p class="note">No gallery crops (the analysis ran without --img-dir, or '
                'nothing to show).</p>')
    return ('<p class="note">Each crop: ground truth | prediction around the box, as written in '
            f'{_esc(osp.join(osp.basename(analysis_dir), "gallery"))}/.</p>' + ''.join(blocks))


def _learning_curves_section(work_dirs, classes, scratch):
    from tbmm.analysis.curves import plot_training_curves, read_training_log

    blocks = []
    for k, (label, work_dir) in enumerate(work_dirs.items()):
        out = osp.join(scratch, f'curves_{k}')
        written = plot_training_curves(read_training_log(work_dir), out, classes)
        if not written:
            continue
        figures = ''.join(_image_file(p, f'{label}: {osp.basename(p)}') for p in written)
        heading = f'<h3>{_esc(label)}: {_esc(work_dir)}</h3>' if len(work_dirs) > 1 else (
            f'<p class="note">{_esc(work_dir)}</p>')
        blocks.append(f'{heading}<div class="figures curves">{figures}</div>')
    return ''.join(blocks)


def _dataset_section(sets, scratch):
    from tbmm.visualization.heatmap import plot_count_matrix

    blocks = []
    for k, (label, stats) in enumerate(sets.items()):
        classes, per_class, n_images = stats['classes'], stats['per_class'], stats['n_images']

        def share(count):
            return f'{100 * count / n_images:.1f}' if n_images else '-'

        rows = [[_esc(name), str(per_class[name]['boxes']), str(per_class[name]['images']),
                 share(per_class[name]['images'])] for name in classes]
        rows.append(['no finding of these classes', '0', str(stats['n_negative']),
                     share(stats['n_negative'])])
        rows.append(['all', str(stats['n_boxes']), str(n_images), share(n_images)])
        table = _table(['Class', 'boxes', 'images', '% images'], rows,
                       [None] * (len(rows) - 1) + ['mean'], table_id=f'dataset_{k}')
        per_image = stats['boxes_per_image']
        note = (f'<p class="note">Boxes per image: mean {per_image["mean"]:.2f}, median '
                f'{per_image["median"]:g}, max {per_image["max"]}.</p>')
        heatmap = ''
        if classes:
            path = osp.join(scratch, f'cooccurrence_{k}.png')
            plot_count_matrix(stats['cooccurrence']['matrix'], classes, path,
                              f'Images with both classes ({label})')
            heatmap = _image_file(path, f'class co-occurrence, {label}')
        blocks.append(f'<h3>{_esc(label)}: {n_images} images</h3>'
                      f'<div class="figures"><div>{table}{note}</div>{heatmap}</div>')
    return ''.join(blocks)


def render_report(sources, gallery_per_kind=GALLERY_PER_KIND):
    """The HTML page (a string) of :class:`ReportSources`."""
    result = read_report_json(sources.metrics)
    if not isinstance(result, dict) or 'per_class' not in result or 'overall' not in result:
        raise ReportError(f'{sources.metrics}: not a metrics file of tools/evaluate.py '
                          f'(no per_class / overall)')
    classes = result['classes']
    analysis = sources.analysis_dir
    title = sources.title or f'Evaluation report: {osp.basename(metrics_prefix(sources.metrics))}'
    sections = []
    with tempfile.TemporaryDirectory(prefix='tbmm_report_') as scratch:
        sections.append(('metrics', 'Per-class metrics', _metrics_section(result)))
        sections.append(('froc', 'FROC', _froc_section(result, sources.froc_png, scratch)))
        missing_analysis = ('<p class="missing">No analysis folder: run tools/evaluate.py with '
                            '--analysis DIR (and --img-dir for galleries), then pass it with '
                            '--analysis.</p>')
        if analysis is not None and osp.isfile(osp.join(analysis, 'confusion.json')):
            sections.append(('confusion', 'Confusion matrix', _confusion_section(analysis)))
        if analysis is not None and osp.isfile(osp.join(analysis, 'errors.json')):
            sections.append(('errors', 'Where AP50 is lost', _errors_section(analysis)))
        if analysis is not None:
            sections.append(('curves', 'Per-class curves', _class_curves_section(analysis,
                                                                                 classes)))
            sections.append(('gallery', 'Galleries',
                             _gallery_section(analysis, classes, gallery_per_kind)))
        else:
            sections.append(('analysis', 'Error analysis', missing_analysis))
        if sources.work_dirs:
            curves = _learning_curves_section(sources.work_dirs, classes, scratch)
            if curves:
                sections.append(('training', 'Learning curves', curves))
        if sources.dataset_stats:
            sections.append(('dataset', 'Data set statistics',
                             _dataset_section(sources.dataset_stats, scratch)))
        nav = ' '.join(f'<a href="#{key}">{_esc(heading)}</a>' for key, heading, _ in sections)
        body = ''.join(f'<section id="{key}"><h2>{_esc(heading)}</h2>{content}</section>'
                       for key, heading, content in sections)
    meta = [f'metrics: {_esc(sources.metrics)}']
    if analysis:
        meta.append(f'analysis: {_esc(analysis)}')
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{_esc(title)}</title><style>{_CSS}</style></head><body>'
            f'<h1>{_esc(title)}</h1><p class="meta">{" &middot; ".join(meta)}</p>'
            f'<nav>{nav}</nav>{body}</body></html>\n')


def write_report(sources, out, gallery_per_kind=GALLERY_PER_KIND):
    """Render :class:`ReportSources` into the HTML file ``out``; returns its path."""
    from tbmm.utils import ensure_parent_dir

    page = render_report(sources, gallery_per_kind)
    with open(ensure_parent_dir(os.fspath(out)), 'w', encoding='utf-8') as f:
        f.write(page)
    return os.fspath(out)
