"""What is on the plate, studied in grouped cross-validation on the cached features of a params file (the run's folds):

1. **the presence head**: its two parts as `train` fits them, the closed-form logistic regressions (`fit_ingredient_head`)
   and the fastai network trained with a multi-label loss (`fit_presence_network`), and their mean, which the head
   answers (chosen by this comparison): median
   ROC AUC over the ingredients on at least 40 dishes, expected calibration error, and the list's cross-fitted
   precision and recall at `shown_precision`;
2. **multi-task**: the totals' network (the `mlp` head, alone, as `train` builds it) trained with each dish's
   ingredient grams (log(1 + g), standardised) as extra targets, against the same network without them: MAE% per
   nutrient with 95% group-bootstrap intervals, and the paired difference's interval. Two weightings: each grams
   target weighs as much as a total, or all of them together as much as one total;
3. **the list**: its cross-fitted precision, recall and length per dish for several `shown_precision` targets and
   seasoning cut-offs (`shown_min_grams`), from the out-of-fold probabilities the head answers (the mean of its parts),
   and which ingredients the longest list adds.

    python benchmarks/ingredients.py params/offline.yaml

The JSON goes to benchmarks/results/ingredients-<time>.json.
"""
import argparse, json, platform, time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from nutrition_predictor.config import config_dishes, read_params
from nutrition_predictor.data import (TARGETS, check_data_dir, dish_groups, grouped_folds, ingredient_grams, n5k_dir,
                                      read_all_ingredients)
from nutrition_predictor.evaluate import fold_baseline, group_bootstrap_weights, score
from nutrition_predictor.features import FeatureDataset, dish_features, target_stats, target_values
from nutrition_predictor.ingredients import (COMMON_DISHES, cross_fitted_list, cross_fitted_listing, expected_calibration_error,
                                             shown_ingredients)
from nutrition_predictor.model import NutritionRegressor, regression_head
from nutrition_predictor.runs import git_commit
from nutrition_predictor.train import fit_ingredient_head, fit_presence_network, fit_projection, plate_vocabulary


def _fit_network(x, y, n_out, cfg, loss):
    "A fastai `Learner` trained like `train`'s network on tensors `x` (projected features) and targets `y`; returns the network."
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.torch_core import set_seed
    set_seed(cfg.seed, reproducible=True)
    ds = torch.utils.data.TensorDataset(x, y)
    dls = DataLoaders(DataLoader(ds, bs=cfg.bs, shuffle=True, drop_last=True), DataLoader(ds, bs=cfg.bs))
    net = regression_head(x.shape[1], cfg.hidden, cfg.dropout, n_out)
    learn = Learner(dls, net, loss_func=loss)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(cfg.epochs, cfg.lr, wd=cfg.wd)
    return net.eval()


def _weighted_l1(w):
    "L1 on the totals (the first `len(TARGETS)` columns) plus `w` times L1 on the extra targets, each a mean."
    n = len(TARGETS)
    return lambda pred, y: (pred[:, :n] - y[:, :n]).abs().mean() + w * (pred[:, n:] - y[:, n:]).abs().mean()


def _paired(a, b, truth, groups, n_boot=1000):
    "Per nutrient: the 95% group-bootstrap interval of MAE%(a) - MAE%(b) on the same dishes."
    w = group_bootstrap_weights(groups, n_boot)
    out = {}
    for t in TARGETS:
        y = truth[t].to_numpy()
        ea, eb = np.abs(a[t].to_numpy() - y), np.abs(b[t].to_numpy() - y)
        d = 100 * ((w @ ea) - (w @ eb)) / (w @ y)
        out[t] = [round(float(q), 2) for q in np.quantile(d, [0.025, 0.975])]
    return out


def _paired_presence(probs:dict, there, eligible, common, folds, groups, precision, n_boot=300):
    """Each method against the first, 95% group-bootstrap intervals of the differences: median ROC AUC (common
    ingredients), the list's recall and precision."""
    from sklearn.metrics import roc_auc_score
    w = group_bootstrap_weights(groups, n_boot, seed=1)
    on = there & eligible
    def stats(prob, lst, weights):
        auc = np.median([roc_auc_score(there[:, j], prob[:, j], sample_weight=weights) for j in common])
        hit = weights @ (lst & on).sum(1)
        return auc, hit / (weights @ on.sum(1)), hit / max(weights @ lst.sum(1), 1e-9)
    names = list(probs)
    lists = {k: cross_fitted_listing(p, there, eligible, folds, precision) for k, p in probs.items()}
    draws = {k: np.array([stats(probs[k], lists[k], wi) for wi in w]) for k in names}
    out = {}
    for k in names[1:]:
        d = draws[k] - draws[names[0]]
        out[k] = {m: [round(float(q), 4) for q in np.quantile(d[:, i], [0.025, 0.975])] for i,
                  m in enumerate(('median_auc', 'recall', 'precision'))}
    return out


def _summary(s):
    return dict(pct={t: round(v, 2) for t, v in s.mae_pct.items()},
                ci={t: [round(a, 2), round(b, 2)] for t, (a, b) in s.mae_pct_ci.items()},
                vs_baseline={t: round(v, 3) for t, v in s.vs_baseline.items()})


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('params', nargs='?', default='params/offline.yaml', help="params file (default: params/offline.yaml)")
    p.add_argument('--out', default='benchmarks/results', help="folder for the JSON (default: benchmarks/results)")
    args = p.parse_args()
    t0 = time.perf_counter()
    cfg = replace(read_params(args.params), wandb='disabled')
    dishes = config_dishes(cfg)
    rows = read_all_ingredients(check_data_dir(n5k_dir(cfg.data_dir)))
    folds = grouped_folds(dishes, cfg.cv_folds, cfg.group_gap_s, cfg.seed)
    groups = dish_groups(dishes.dish_id, cfg.group_gap_s)
    single = replace(cfg, per_gram=False, heads=('mlp',))
    model0 = NutritionRegressor(single.model_config(), cfg.pretrained, cfg.weights_path)
    feats = dish_features(model0, dishes, cfg, 'cpu')
    totals = {k: [] for k in ('single', 'each grams target as a total', 'all grams targets as one total')}
    presence = {k: [] for k in ('logistic regression (closed form)', 'fastai network (binary cross-entropy)', 'both averaged')}
    vocab_all = plate_vocabulary(cfg, dishes)[1]
    truth_grams = ingredient_grams(rows, dishes.dish_id, list(vocab_all[:-1]))
    for f in range(cfg.cv_folds):
        t = dishes.assign(split=np.where(folds == f, 'test', 'train'))
        trn, val = (t.split == 'train').to_numpy(), (t.split == 'test').to_numpy()
        tm, ts = target_stats(t, TARGETS, cfg.log_targets)
        _, vocab = plate_vocabulary(cfg, t[trn])
        model = NutritionRegressor(cfg.model_config(tm, ts, None, int(trn.sum()), vocab), cfg.pretrained, cfg.weights_path)
        y = (target_values(t, TARGETS, cfg.log_targets) - tm) / ts
        fit_projection(model, FeatureDataset(feats[trn][:, None], y[trn]), cfg.seed)
        with torch.no_grad(): z = model.project(feats)
        g = ingredient_grams(rows, t.dish_id, list(vocab[:-1]))
        aux = torch.log1p(torch.tensor(g.to_numpy(np.float32)))
        aux = (aux - aux[trn].mean(0)) / (aux[trn].std(0) + 1e-6)
        units = lambda out: pd.DataFrame(torch.expm1(out[:,
                                                         :len(TARGETS)] * ts + tm).clamp_min(0).detach().numpy()
                                                         if cfg.log_targets
                                         else (out[:, :len(TARGETS)] * ts + tm).clamp_min(0).detach().numpy(),
                                         columns=TARGETS, index=t.dish_id[val])
        n_aux = aux.shape[1]
        for name, w in (('single', None), ('each grams target as a total', n_aux / len(TARGETS)),
                        ('all grams targets as one total', 1 / len(TARGETS))):
            target = y if w is None else torch.cat([y, aux], 1)
            net = _fit_network(z[trn], target[trn], target.shape[1], cfg, nn.L1Loss() if w is None else _weighted_l1(w))
            with torch.no_grad(): totals[name].append(units(net(z[val])).assign(fold=f))
        # presence: the head's two parts as `train` fits them, and their mean (what the head answers)
        data = FeatureDataset(feats[trn][:, None], y[trn])
        fit_ingredient_head(model, data, t[trn], g[trn], cfg)
        fit_presence_network(model, data, g[trn].to_numpy() > 0, cfg, 'cpu')
        with torch.no_grad(): p_lr, p_net = (p.numpy() for p in model.ingredient_head.eval().presence(z[val]))
        cols = [c for c in vocab_all if c in vocab]                              # the final vocabulary's entries this fold has
        frame = lambda p: pd.DataFrame(p, columns=list(vocab), index=t.dish_id[val]).reindex(columns=list(vocab_all),
                fill_value=0.)
        for name, pr in zip(presence, (p_lr, p_net, (p_lr + p_net) / 2)): presence[name].append(frame(pr))
        print(f"fold {f}: {len(cols)} of {len(vocab_all)} ingredients, {time.perf_counter() - t0:.0f} s", flush=True)
    from sklearn.metrics import roc_auc_score
    truth = dishes.set_index('dish_id')[TARGETS]
    there = truth_grams.to_numpy() > 0
    common = [j for j, i in enumerate(vocab_all[:-1]) if there[:, j].sum() >= COMMON_DISHES]
    eligible = np.array([i in set(shown_ingredients(rows, dishes.dish_id, list(vocab_all),
                                                    cfg.shown_min_grams)) for i in vocab_all])
    res = dict(what=__doc__.split('\n\n')[0], params=args.params, n_dishes=len(dishes), folds=cfg.cv_folds,
               vocabulary=len(vocab_all), git_commit=git_commit(),
               machine=f"{platform.machine()}, {__import__('os').cpu_count()} cores, "
                       f"{'CUDA' if torch.cuda.is_available() else 'CPU only'}")
    res['presence'], probs = {}, {}
    for name, parts in presence.items():
        prob = probs[name] = pd.concat(parts).loc[dishes.dish_id].to_numpy()
        lists = cross_fitted_list(prob, there, eligible, folds, cfg.shown_precision)
        res['presence'][name] = dict(median_auc=round(float(np.median([roc_auc_score(there[:, j],
                prob[:, j]) for j in common])), 4),
                                     ece=round(expected_calibration_error(prob, there), 4),
                                     **{k: round(v, 3) for k, v in lists.items()})
    answered = probs['both averaged']
    res['presence_minus_closed_form'] = _paired_presence(probs, there, eligible, common, folds, groups, cfg.shown_precision)
    oof = {k: pd.concat(v).loc[dishes.dish_id] for k, v in totals.items()}
    base = fold_baseline(oof['single'], dishes)
    res['multitask'] = {k: _summary(score(o[TARGETS], truth.loc[o.index], base, cfg.group_gap_s, 1000,
                                          k=cfg.cv_folds)) for k, o in oof.items()}
    res['multitask_minus_single'] = {k: _paired(o, oof['single'], truth.loc[o.index], groups) for k,
                                     o in oof.items() if k != 'single'}
    res['list'] = {}
    for min_g in (0., 2., 5.):
        elig = np.array([i in set(shown_ingredients(rows, dishes.dish_id, list(vocab_all), min_g)) for i in vocab_all])
        for target in (0.5, 0.6, 0.7, 0.8):
            res['list'][f'shown_min_grams {min_g:g}, shown_precision {target}'] = {
                k: round(v, 3) for k, v in cross_fitted_list(answered, there, elig, folds, target).items()}
    every, seasoned = (cross_fitted_listing(answered, there, e, folds, cfg.shown_precision)
                       for e in (np.array([i in set(shown_ingredients(rows, dishes.dish_id, list(vocab_all),
                               g)) for i in vocab_all]) for g in (0., cfg.shown_min_grams)))
    names = dict(zip(rows.ingr_id, rows.name))
    added = pd.Series((every & ~seasoned).sum(0), index=[names.get(i, i) for i in vocab_all])
    res['list_without_the_seasoning_rule_adds'] = {k: int(v) for k, v in added[added > 0].sort_values(ascending=False).items()}
    res['seconds'] = round(time.perf_counter() - t0, 1)
    out = Path(args.out)/f"ingredients-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps({k: res[k] for k in ('presence', 'presence_minus_closed_form', 'multitask',
                                          'multitask_minus_single')}, indent=1))
    print(f"Written to {out}")


if __name__ == '__main__': main()
