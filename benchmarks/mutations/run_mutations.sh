#!/usr/bin/env bash
# Mutation check for the solver tests: apply one-line bugs to a copy of the solvers and show that the tests
# fail for each (tests/solvers/test_gaussian_posterior.py without the slow tests, or the files named after the
# description; -x: stop at the first failure). Prints one line per mutation.
#   bash benchmarks/mutations/run_mutations.sh [python] [first mutation number]
set -uo pipefail
py=${1:-python}
from=${2:-1}
root=$(cd "$(dirname "$0")/../.." && pwd)
count=0
mutate() {  # file, sed expression, description, [test files…]
  count=$((count + 1)); [ "$count" -lt "$from" ] && return
  tmp=$(mktemp -d); cp -r "$root"/{invdiff,operators,tests,configs,pyproject.toml} "$tmp"/  # configs: the bench tests read its suites
  case "$1" in benchmarks/*) (cd "$root" && find benchmarks -name '*.py' -exec cp --parents {} "$tmp"/ \;) ;; esac
  sed -i "$2" "$tmp/$1"
  if cmp -s "$root/$1" "$tmp/$1"; then echo "NOT APPLIED: $3"; rm -rf "$tmp"; return; fi
  tests=("${@:4}"); [ ${#tests[@]} -eq 0 ] && tests=(tests/solvers/test_gaussian_posterior.py)
  out=$(cd "$tmp" && $py -m pytest -o addopts="" -q -x -m "not slow" -p no:cacheprovider "${tests[@]}" 2>&1 | grep -E "passed|failed" | tail -n 1)
  echo "$count. $3 -> $out"; rm -rf "$tmp"
}
mutate invdiff/solvers/ddrm.py 's/unmeasured = x0 + (1 - eta\*\*2) \*\* 0.5 \* sigma_next \* eps + eta \* sigma_next \* z/unmeasured = x0 - (1 - eta**2) ** 0.5 * sigma_next * eps + eta * sigma_next * z/' "DDRM: wrong sign of the ε̂ term"
mutate invdiff/solvers/ddrm.py 's/unmeasured = x0 + (1 - eta\*\*2) \*\* 0.5 \* sigma_next \* eps + eta \* sigma_next \* z/unmeasured = x0 + (1 - eta**2) ** 0.5 * sigma_next * eps/' "DDRM: missing noise term"
mutate invdiff/solvers/ddrm.py 's/sigma_next = chain.sigma(i - 1)/sigma_next = chain.sigma(i)/' "DDRM: wrong ᾱ index (σ_t for σ_{t-1})"
mutate invdiff/solvers/repaint.py 's/(x0, _), var_values = denoise(prior, x, chain, i), None/(x0, _), var_values = denoise(prior, x, chain, min(i + 1, len(chain) - 1)), None/' "RePaint: wrong ᾱ index in x̂₀"
mutate invdiff/solvers/ancestral.py 's/    return mean + (var\*\*0.5 if/    return mean + 0 * (var**0.5 if/' "DPS/RePaint: ancestral step without its noise"
mutate invdiff/solvers/repaint.py 's/b\*\*0.5 \* randn(x.shape, self.generator/0 * randn(x.shape, self.generator/' "RePaint: resampling step without its noise"
mutate invdiff/solvers/dps.py 's/x = x_prev - (zeta \* span\[i\]) \* grad/x = x_prev + (zeta * span[i]) * grad/' "DPS: wrong sign of the likelihood step" tests/solvers/test_gaussian_posterior.py::test_structured_prior_lands_near_the_posterior_mean
mutate invdiff/solvers/ancestral.py 's/c0, ct, _ = posterior\[i\]/c0, ct, _ = posterior[i - 1]/' "DPS/RePaint: wrong step index in the ancestral step"
# issue 14: the three mutations the old suite let through, then one per fix
mutate invdiff/solvers/base.py 's/    sigma_y = float(getattr(operator.noise, "sigma_y", 0.0))$/    sigma_y = 0.5 * float(getattr(operator.noise, "sigma_y", 0.0))/' "spectral_measurement: σ_y halved"
mutate invdiff/solvers/ddrm.py 's/towards_y = x0 + (1 - eta\*\*2) \*\* 0.5 \* sigma_next \* (y_bar - x0) \/ safe_std/towards_y = x0 + (1 - eta**2) ** 0.5 * sigma_next * eps/' "DDRM: ignores y in the noisier coordinates"
mutate invdiff/solvers/ddrm.py 's/left = (sigma_next\*\*2 - (eta_b \*/left = (sigma_next**2 - 0 * (eta_b */' "DDRM: the cleaner branch's noise ignores σ_y"
mutate invdiff/solvers/base.py 's/    measured = s > measured_cutoff(s, image_shape, y.dtype)/    measured = s > 0/' "spectral_measurement: no cut-off (every s > 0 measured)"
mutate invdiff/solvers/repaint.py 's/k = torch.where(cleaner, torch.zeros_like(w), v_bar \/ (v_bar + w))/k = torch.zeros_like(w)/' "RePaint: merge keeps only the cleaner coordinates (first version)" tests/solvers/test_gaussian_posterior.py::test_decoupled_prior_matches_the_algorithms_exact_law
mutate invdiff/solvers/repaint.py 's/k = torch.where(std > s_to, gap \/ (std\*\*2 - s_from\*\*2), torch.zeros_like(std))/k = torch.zeros_like(std)/' "RePaint: jump back without the bridge towards y" tests/solvers/test_gaussian_posterior.py::test_repaint_jump_back_bridges_towards_y
mutate invdiff/solvers/dps.py 's/x = x_prev - (zeta \* span\[i\]) \* grad/x = x_prev - zeta * grad/' "DPS: step ignores respacing" tests/solvers/test_gaussian_posterior.py::test_dps_step_follows_the_respaced_schedule
mutate invdiff/solvers/repaint.py 's/var = step_variance(prior, sched, posterior, i, var_values)/var = step_variance(prior, sched, posterior, i, None)/' "RePaint: learned variance ignored" tests/solvers/test_solver_options.py
mutate invdiff/solvers/dps.py 's/var = step_variance(prior, sched, posterior, i, var_values)/var = step_variance(prior, sched, posterior, i, None)/' "DPS: learned variance ignored" tests/solvers/test_solver_options.py
mutate invdiff/solvers/steps.py 's/    return x0, eps_of(x, x0, a)/    return x0, eps_of(x, x0.detach() * 0 + prior.x0(x, t), a)/' "DDRM (all step-core users): ε̂ not recomputed from the clipped x̂₀" tests/solvers/test_solver_options.py
mutate invdiff/solvers/base.py 's/raw=(x + 1.0) \/ 2.0)/raw=to_image(x))/' "SolveResult.raw clamped" tests/solvers/test_solver_options.py
mutate invdiff/priors/fast.py 's/x_in = x.to(self.param_dtype() or x.dtype)/x_in = x.to(next(self.net.parameters()).dtype)/' "network without parameters: bare StopIteration" tests/solvers/test_solver_options.py
# issue 16: the four few-step solvers, each with a wrong sign, a wrong ᾱ (or level) index and a halved σ_y
mutate invdiff/solvers/ddnm.py 's/x0_bar = x0_bar + lam \* (y_bar - x0_bar)/x0_bar = x0_bar - lam * (y_bar - x0_bar)/' "DDNM: wrong sign of the range-space correction" tests/solvers/test_fewstep_laws.py
mutate invdiff/solvers/ddnm.py 's/a_prev, sigma_prev = chain.abar(i - 1), chain.sigma(i - 1)/a_prev, sigma_prev = chain.abar(i - 1), chain.sigma(i)/' "DDNM: λ from the current level instead of the next" tests/solvers/test_fewstep_laws.py
mutate invdiff/solvers/ddnm.py 's/^        y_bar, y_std, measured = spectral$/        y_bar, y_std, measured = spectral; y_std = 0.5 * y_std/' "DDNM: σ_y halved" tests/solvers/test_fewstep_laws.py
mutate invdiff/solvers/diffpir.py 's/return operator.V(x0_bar + k \* (y_bar - x0_bar), image_shape)/return operator.V(x0_bar - k * (y_bar - x0_bar), image_shape)/' "DiffPIR: wrong sign of the data step" tests/solvers/test_fewstep_laws.py
mutate invdiff/solvers/diffpir.py 's/x0 = self._data_step(operator, x0, spectral, lam, chain.sigma(i), image_shape)/x0 = self._data_step(operator, x0, spectral, lam, chain.sigma(i + 1 if i + 1 < len(chain) else i), image_shape)/' "DiffPIR: ρ_t from the wrong ᾱ index" tests/solvers/test_fewstep_laws.py
mutate invdiff/solvers/diffpir.py 's/^        y_bar, y_std, measured = spectral$/        y_bar, y_std, measured = spectral; y_std = 0.5 * y_std/' "DiffPIR: σ_y halved" tests/solvers/test_fewstep_laws.py
mutate invdiff/solvers/pigdm.py 's/x0 = (x0.detach() + w \* (1 - a)/x0 = (x0.detach() - w * (1 - a)/' "ΠGDM: wrong sign of the guidance" tests/solvers/test_fewstep_laws.py
mutate invdiff/solvers/pigdm.py 's/            r2 = 1 - a$/            r2 = 1 - chain.abar(i - 1)/' "ΠGDM: r_t² from the wrong ᾱ index" tests/solvers/test_fewstep_laws.py
mutate invdiff/solvers/pigdm.py 's/finite = torch.where(measured, y_std, torch.zeros_like(y_std))/finite = torch.where(measured, 0.5 * y_std, torch.zeros_like(y_std))/' "ΠGDM: σ_y halved" tests/solvers/test_fewstep_laws.py
mutate invdiff/solvers/daps.py 's/x0 = x0 - step \* grad/x0 = x0 + step * grad/' "DAPS: wrong sign of the Langevin drift" tests/solvers/test_fewstep_laws.py
mutate invdiff/solvers/daps.py 's/x = x0 + levels\[k + 1\] \* randn/x = x0 + levels[k] * randn/' "DAPS: re-noised to the wrong level" tests/solvers/test_fewstep_laws.py
mutate invdiff/solvers/daps.py 's/sigma_y = max(float(getattr(operator.noise, "sigma_y", 0.0)), self.sigma_floor)/sigma_y = 0.5 * max(float(getattr(operator.noise, "sigma_y", 0.0)), self.sigma_floor)/' "DAPS: σ_y halved" tests/solvers/test_fewstep_laws.py
# session 2026-11-26: the CPU's channels_last default
mutate invdiff/api.py 's/^CPU_SPEED: dict\[str, Any\] = {"channels_last": True}/CPU_SPEED: dict[str, Any] = {}/' "API: priors on the CPU without channels_last" tests/cli/test_fast.py
# session 2026-11-26 (second): join_runs --replace drops only the (task, method) pairs the other run brings
mutate benchmarks/results/join_runs.py 's/keep = \[r for r in rows if (r\["task"\], r\["method"\]) not in pairs\]/keep = [r for r in rows if r["method"] not in {m for _, m in pairs}]/' "join_runs --replace: a partial rerun drops the method on every task" tests/bench/test_issue16.py
# session 2026-11-26 (svdcache): operators._linalg.as_torch keeps one device copy per cached factor, device and dtype
mutate operators/_linalg.py 's/    if entry is not None and entry\[0\]() is a:/    if False:/' "factor cache: never reused (a fresh copy every call)" tests/operators/test_factor_cache.py
mutate operators/_linalg.py 's/(weakref.ref(a, lambda ref, key=key: _forget(key, ref)), tensor)/(weakref.ref(a), tensor)/' "factor cache: entries outlive their numpy arrays" tests/operators/test_factor_cache.py
mutate operators/_linalg.py 's/    if entry is not None and entry\[0\]() is a:/    if entry is not None:/; s/(weakref.ref(a, lambda ref, key=key: _forget(key, ref)), tensor)/(weakref.ref(a), tensor)/' "factor cache: no eviction and no identity check (stale tensor for a reused id)" tests/operators/test_factor_cache.py::test_a_reused_id_never_gets_a_stale_tensor
mutate operators/_linalg.py 's/    key = (id(a), like.device, dtype)/    key = (id(a), like.device)/' "factor cache: key without the dtype" tests/operators/test_factor_cache.py
mutate operators/_linalg.py 's/    with torch.inference_mode(False):/    if True:/' "factor cache: a copy made under inference_mode stays an inference tensor" tests/operators/test_factor_cache.py
mutate operators/_linalg.py 's/        if entry\[1\]._version:/        if False:/' "factor cache: a copy changed in place is served again" tests/operators/test_factor_cache.py
mutate operators/_linalg.py 's/        return as_torch(fh.Vt, z).T @ xc @ as_torch(fw.Vt, z)$/        return as_torch(fh.Vt, z).t_() @ xc @ as_torch(fw.Vt, z)/' "factor cache: V transposes the shared factor in place" tests/operators/test_factor_cache.py::test_results_are_bit_identical_to_converting_at_every_call
mutate benchmarks/speed/svd_views.py 's/^    _linalg.as_torch = _fft.as_torch = _fresh$/    pass/' "svd_views.py: the 'uncached' column times the cache" tests/bench/test_svd_views.py::test_uncached_mode_converts_afresh_and_leaves_the_cache_alone
mutate operators/_fft.py 's/^    return as_torch(a, like, torch.long)$/    return torch.tensor(a, device=like.device, dtype=torch.long)/' "FFT operators: index arrays converted afresh at every call" tests/operators/test_factor_cache.py::test_fft_index_arrays_are_converted_once
mutate benchmarks/speed/svd_views.py 's/^    _linalg.as_torch = _fft.as_torch = _fresh$/    _linalg.as_torch = _fresh/' "svd_views.py: the 'uncached' column keeps motion blur's cached index arrays" tests/bench/test_svd_views.py::test_uncached_mode_converts_afresh_and_leaves_the_cache_alone
# session 2026-11-26 (third): bench --tasks and --fast --no-compile
mutate invdiff/bench/parts.py 's/    return \[t for t in suite.tasks if _matches(t.label, patterns)\]/    return list(suite.tasks)/' "bench --tasks ignored (every task runs)" tests/bench/test_parts.py
mutate invdiff/api.py 's/    return dict(FAST_SPEED) if compile else {\*\*FAST_SPEED, "compile": False}/    return dict(FAST_SPEED)/' "bench --fast --no-compile still compiles" tests/bench/test_fast.py
mutate invdiff/bench/meta.py 's/for task in \[t.label for t in suite.tasks\] if task in old_methods or task in methods}/for task in methods}/' "meta.json: a run of some tasks drops the other tasks' records" tests/bench/test_parts.py
# session 2026-11-26 (fourth): shape-aware rank split, warm-up seconds in the rows, the compile probe
mutate invdiff/bench/ranks.py 's/    order = sorted(range(len(images)), key=lambda i: first\[shapes\[i\]\])  # stable: list order within a shape/    order = list(range(len(images)))/' "bench ranks: cut in list order, not sorted by shape" tests/bench/test_ranks.py
mutate invdiff/bench/runner.py 's/"peak_mem_mb": peak, "warmup_seconds": warmup}/"peak_mem_mb": peak, "warmup_seconds": None}/' "bench: the warm-up (compile) seconds not recorded" tests/bench/test_fast.py::test_fast_warm_up_runs_only_the_first_network_calls
mutate benchmarks/speed/compile_probe.py 's/    return "\\n".join(lines) if len(lines) > 2 else None/    return "\\n".join(lines) if lines else None/' "compile_probe: a breakdown reported where nothing compiled" tests/bench/test_compile_probe.py
mutate invdiff/priors/fast.py 's/                                                         dynamic=speed.dynamic)/                                                         dynamic=False)/' "SpeedConfig(dynamic=True) never reaches torch.compile" tests/priors/test_speed_dynamic.py
mutate invdiff/priors/unet_blocks.py 's|    return total / (count_r\[:, None\] \* count_c\[None, :\])|    return total / (count_r[:, None] + count_c[None, :] - 1)|' "windowed attention: overlap count as a sum, not a product" tests/priors/test_windowed_attention.py
# session 2026-11-26 (fifth): the speed report states the reserved memory of a compiled run
mutate benchmarks/speed/report.py 's/^    return max(values) if values else None$/    return None/' "speed report: the reserved GPU memory (CUDA graph pools) never shown" tests/bench/test_speed_sizes.py::test_report_adds_the_natural_section_with_computed_goals
# session 2026-11-26 (sixth): the lease's choice lost the earlier sweep's rows without a word
mutate benchmarks/tuning/choose_settings.py 's/^        if not found:  # a part/        if False:  # a part/' "choose_settings: a validation run without rows silently skipped" tests/bench/test_issue16.py::test_choose_on_a_real_tiny_sweep_writes_a_test_suite_that_runs
mutate benchmarks/device/travel.py 's|^FIGURES = ("benchmarks/\*\*/\*.png", "benchmarks/\*\*/\*.jsonl.gz")|FIGURES = ("benchmarks/**/*.png", "benchmarks/**/*.jsonl.gz", "benchmarks/results/*/results.jsonl")|' "travel --figures: the plain row files (read by a lease's choice) stay home" tests/devtools/test_travel.py::test_figures_leave_with_the_weights_and_come_back
mutate benchmarks/natural/make_val_crops.py 's/    return (long, short) if image_hw\[0\] > image_hw\[1\] else (short, long)/    return (short, long)/' "make_val_crops --shape: portrait images get the landscape crop (skipped)" tests/training/test_pack_crops.py::test_val_crops_follow_each_image_orientation_and_skip_those_too_small
mutate benchmarks/quantize/low_bit_study.py 's|    scale = torch.where(amax > 0, amax / 7.0, torch.ones_like(amax))|    scale = torch.where(amax > 0, amax / 8.0, torch.ones_like(amax))|' "low_bit_study: int4 scale for 8 levels a side (the largest weight clipped)" tests/priors/test_low_bit_study.py
mutate invdiff/priors/native.py 's/    return edge_layers(keys) + ("out.",)/    return edge_layers(keys)/' "int8 export: the output convolution quantised too (not as shipped)" tests/training/test_pack_crops.py::test_int8_export_is_the_shipped_encoding_and_a_checkpoint_exports_its_own_architecture
# session 2026-11-26 (seventh): a linear learning-rate decay for a continued run of known length
mutate invdiff/training/trainer.py 's/^        lr = learning_rate(cfg, self.step)$/        lr = cfg.lr * min(1.0, (self.step + 1) \/ max(1, cfg.warmup_steps))/' "train_step: the linear decay never applied (warm-up then constant)" tests/training/test_trainer.py::test_train_step_uses_the_schedule
mutate invdiff/training/trainer.py 's/    return cfg.lr \* max(0.0, (cfg.steps - step) \/ max(1, cfg.steps - (warm - 1)))/    return cfg.lr * max(0.0, (cfg.steps - step) \/ cfg.steps)/' "learning_rate: the decay measured from step 0, not from the warm-up's peak" tests/training/test_trainer.py::test_learning_rate_warms_up_then_holds_or_decays_linearly_to_zero
mutate benchmarks/natural/ship_run.py 's/    if new\["training"\].get("init_sha256") != old\["sha256"\]:/    if False:/' "ship_run: a run from other weights shipped under the old record" tests/training/test_ship_run.py
mutate benchmarks/natural/ship_run.py 's/        merged\[key\] = sum(r\[key\] for r in runs)/        merged[key] = runs[-1][key]/' "ship_run: the totals are the last run's, not the sum" tests/training/test_ship_run.py
# session 2026-11-26 (eighth): two priors compared each at its own chosen setting; the whole-image denoising probe
mutate benchmarks/natural/compare_priors_val.py 's/            lb = label_of(val\["methods"\], solver, kw_b) if kw_b else None/            lb = la/' "compare_priors_val: prior B read at prior A's setting" tests/bench/test_compare_priors_val.py
mutate benchmarks/natural/fullsize_denoising.py 's/    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))/    eps = torch.randn(x.shape)/' "fullsize_denoising: each prior sees other noise (unseeded)" tests/bench/test_prior_probes.py::test_x0_psnr_uses_the_same_noise_for_every_prior_and_tells_priors_apart
mutate benchmarks/natural/compare_priors_val.py 's/                raise SystemExit(f"{solver} on {task}: the chosen setting/                continue; (f"{solver} on {task}: the chosen setting/' "compare_priors_val: a chosen setting the suite never ran silently dropped" tests/bench/test_compare_priors_val.py::test_a_chosen_setting_the_suite_never_ran_is_refused_in_one_line
