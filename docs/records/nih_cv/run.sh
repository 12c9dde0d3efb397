#!/usr/bin/env bash
# The README's "Real radiographs" run, from a checkout with data/nih-bbox/ (a copy of the shared
# NIH folder: images/, nih8.json) and `make setup` done. About 1 h on 2 CPU cores.
set -euo pipefail
PY=${PY:-.venv/bin/python}
CFG=configs/tb_retinanet/nih/retinanet_nih8_cpu.py
W=${W:-work_dirs/cv_nih8}
GROUP='^(\d{8})_'

# 1. a patient-grouped test part (15 %) aside; the rest is data/nih-bbox/train.json
$PY tools/split.py data/nih-bbox/nih8.json --test-fraction 0.15 --group-regex "$GROUP" --seed 0 \
    --out-dir data/nih-bbox/
# 2. 5-fold cross-validation on the rest (out-of-fold summary beside the baseline)
$PY tools/cross_validate.py $CFG --ann data/nih-bbox/train.json --folds 5 --group-regex "$GROUP" \
    --work-dir $W
# 3. the 5 fold models, fused by WBF, on the test part; and each model alone
CKPTS=$(for k in 0 1 2 3 4; do echo $W/fold$k/epoch_8.pth; done)
$PY tools/test.py $CFG $CKPTS --work-dir $W/ensemble --metrics-prefix $W/ensemble/test
for k in 0 1 2 3 4; do
    $PY tools/test.py $CFG $W/fold$k/epoch_8.pth --work-dir $W/single --metrics-prefix $W/single/fold$k.test
done
# 4. intervals on the test part (patients resampled), and the baseline trained on the same images
$PY tools/evaluate.py --ann data/nih-bbox/test.json --pred $W/ensemble/test.predictions.json \
    --classes nih8 --bootstrap 1000 --group-regex "$GROUP" --out $W/ensemble/test_ci.metrics.json
$PY tools/baseline.py --train data/nih-bbox/train.json --images data/nih-bbox/test.json --classes nih8 \
    --out $W/baseline/test.predictions.json
$PY tools/evaluate.py --ann data/nih-bbox/test.json --pred $W/baseline/test.predictions.json \
    --classes nih8 --bootstrap 1000 --group-regex "$GROUP" --out $W/baseline/test_ci.metrics.json
# 5. pictures: learning curves of fold 0, ground truth | ensemble prediction on test images
$PY tools/plot_curves.py $W/fold0 --out $W/curves_fold0
$PY tools/draw_predictions.py --ann data/nih-bbox/test.json --pred $W/ensemble/test.predictions.json \
    --img-dir data/nih-bbox/images --out-dir $W/overlays --classes nih8 --num 6 --top-k 3 --score-thr 0.05
# 6. the augmentation choice: the flip-only recipe on folds 0-2 of the same split (21:11-21:42)
$PY tools/cross_validate.py configs/tb_retinanet/nih/retinanet_nih8_cpu_flip.py --ann data/nih-bbox/train.json \
    --folds 5 --group-regex "$GROUP" --work-dir ${W}_flip --only-folds 0,1,2
# 7. where the ensemble's AP50 goes on the test part (confusion matrix, TIDE errors, galleries)
$PY tools/evaluate.py --ann data/nih-bbox/test.json --pred $W/ensemble/test.predictions.json --classes nih8 \
    --analysis $W/analysis --img-dir data/nih-bbox/images --score-thr 0.1
