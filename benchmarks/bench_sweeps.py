"""What the paper sweeps cost, and what the sweep design saves, measured side by side.

1. Chapter 4's learners, one teacher: the old scan drew a fresh teacher and data set for every
   alpha (9 alphas: 9 teachers' forward passes) where the sweep's task uses nested prefixes of
   ONE draw for all alphas. Same learners, same sizes; ratio old / new.
2. Chapter 4's trained network: full-batch gradient descent, 2000 epochs (the old default) against
   L-BFGS to the same stopping rule; ratio, and both test errors.
3. The same sweep (Chapter 4 learners, d0 = 200) run on a Dask LocalCluster with 1 and with 2
   workers; the speed-up 1 worker / 2 workers (2 cores: at most 2).
4. The recorded paper sweeps: CPU hours of each table (from its metadata).

Usage: python benchmarks/bench_sweeps.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits

from deepgep.chapters import ch4_bayes_optimal_generalisation_tasks as ch4
from deepgep.simulate.estimators import classification_error, logistic_regression, regression_error, ridge_path
from deepgep.simulate.teachers import deep_teacher_sample
from deepgep.simulate.training import student_predict, train_student
from deepgep.support.recorded import book_results_dir
from deepgep.support.sweeps import Sweep, list_tables, run_sweep

COMMON = dict(base_seed=1, activation="tanh", gain=2.0, depth=2, noise=0.05)


def old_learners(d0: int, alphas: list[float], n_test: int, rng: np.random.Generator) -> None:
    """The former estimator scan for one teacher per alpha: regression and sign data drawn anew."""
    for alpha in alphas:
        n = round(alpha * d0)
        lam = ch4.optimal_penalties(COMMON, alpha)
        for output, noise in (("linear", 0.05), ("sign", 0.0)):
            data = deep_teacher_sample((d0,) * 3, "tanh", n, rng, gain=2.0, output=output, noise=noise,
                                       n_test=n_test)
            if output == "linear":
                (w,) = ridge_path(data.X, data.y, [lam["regression"]])
                regression_error(data.X_test, data.y_test, w)
            else:
                (w,) = ridge_path(data.X, data.y, [lam["classification"]])
                classification_error(data.X_test, data.y_test, w)
                classification_error(data.X_test, data.y_test, logistic_regression(data.X, data.y, 1.0))


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def bench_learners(d0: int, n_test: int) -> None:
    alphas = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    params = {**COMMON, "d0": d0, "alphas": alphas, "n_test": n_test, "logistic_penalty": 1.0}
    old = timed(old_learners, d0, alphas, n_test, np.random.default_rng(0))
    new = timed(ch4.learners_task, params, 0)
    print(f"== 1. learners of one teacher at d0 = {d0}, 9 alphas: old (a teacher per alpha) {old:.2f} s, "
          f"sweep task (nested prefixes) {new:.2f} s: ratio old / new {old / new:.1f}x")


def bench_network(d0: int, alpha: float) -> None:
    rng = np.random.default_rng(3)
    data = deep_teacher_sample((d0,) * 3, "tanh", round(alpha * d0), rng, gain=2.0, output="sign", n_test=2000)
    out = {}
    for name, opts in (("gd", dict(optimizer="gd", epochs=2000, learning_rate=1.0, tol=1e-10)),
                       ("lbfgs", dict(optimizer="lbfgs", epochs=3000, tol=1e-9))):
        t0 = time.perf_counter()
        res = train_student(data.X, data.y, data.teacher.widths, "tanh", 2.0, np.random.default_rng(4),
                            task="classification", weight_decay=0.5, **opts)
        err = float(np.mean(np.where(student_predict(res, data.X_test) >= 0, 1.0, -1.0) != data.y_test))
        out[name] = (time.perf_counter() - t0, err, res.epochs, res.converged)
    (tg, eg, ng, cg), (tl, el, nl, cl) = out["gd"], out["lbfgs"]
    print(f"== 2. trained network, d0 = {d0}, alpha = {alpha:g}, classification: gradient descent "
          f"{tg:.1f} s ({ng} epochs, converged {cg}, test error {eg:.4f}); L-BFGS {tl:.1f} s "
          f"({nl} iterations, converged {cl}, test error {el:.4f}): ratio {tg / tl:.1f}x")


def bench_dask(d0: int, teachers: int, n_test: int) -> None:
    sweep = Sweep(4, "bench", f"{ch4.TASKS_MODULE}:learners_task", grid=[{"d0": d0}], seeds=range(teachers),
                  index=("alpha",), constants={**COMMON, "alphas": [0.5, 1.0, 2.0, 4.0, 7.0], "n_test": n_test,
                                               "logistic_penalty": 1.0})
    walls = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as folder:
            summary = run_sweep(sweep, results_dir=folder, n_workers=workers, progress=False)
            walls[workers] = summary.wall_seconds
    print(f"== 3. the same sweep ({teachers} teachers, d0 = {d0}) on a LocalCluster: 1 worker "
          f"{walls[1]:.1f} s, 2 workers {walls[2]:.1f} s: speed-up {walls[1] / walls[2]:.2f}x "
          "(2 cores: at most 2; includes starting the cluster)")


def recorded() -> None:
    print("== 4. the recorded paper sweeps (CPU hours from their metadata)")
    total = 0.0
    for t in list_tables(book_results_dir()):
        total += t["cpu_hours"]
        print(f"   ch{t['chapter']} {t['name']:<10} {t['key']}: {t['rows']} rows, "
              f"{t['cpu_hours']:.2f} CPU h, complete {t['complete']}")
    print(f"   all recorded sweeps: {total:.2f} CPU h")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    args = parser.parse_args()
    with threadpool_limits(1, "blas"):
        bench_learners(60 if args.quick else 200, 500 if args.quick else 2000)
        bench_network(30 if args.quick else 100, 4.0)
    bench_dask(60 if args.quick else 200, 4 if args.quick else 16, 500 if args.quick else 2000)
    recorded()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
