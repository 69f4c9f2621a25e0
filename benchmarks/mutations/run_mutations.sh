#!/usr/bin/env bash
# Mutation check for the Gaussian-posterior tests: apply one-line bugs to a copy of the solvers and show
# that tests/solvers/test_gaussian_posterior.py fails for each. Prints one line per mutation.
#   bash benchmarks/mutations/run_mutations.sh [python]
set -uo pipefail
py=${1:-python}
root=$(cd "$(dirname "$0")/../.." && pwd)
mutate() {  # file, sed expression, description
  tmp=$(mktemp -d); cp -r "$root"/{invdiff,operators,tests,pyproject.toml} "$tmp"/
  sed -i "$2" "$tmp/$1"
  if cmp -s "$root/$1" "$tmp/$1"; then echo "NOT APPLIED: $3"; rm -rf "$tmp"; return; fi
  out=$(cd "$tmp" && $py -m pytest -o addopts="" -q -p no:cacheprovider tests/solvers/test_gaussian_posterior.py 2>&1 | grep -E "passed|failed" | tail -n 1)
  echo "$3 -> $out"; rm -rf "$tmp"
}
mutate invdiff/solvers/ddrm.py 's/unmeasured = x0 + (1 - eta\*\*2) \*\* 0.5 \* sigma_next \* eps + eta \* sigma_next \* z/unmeasured = x0 - (1 - eta**2) ** 0.5 * sigma_next * eps + eta * sigma_next * z/' "DDRM: wrong sign of the ε̂ term"
mutate invdiff/solvers/ddrm.py 's/unmeasured = x0 + (1 - eta\*\*2) \*\* 0.5 \* sigma_next \* eps + eta \* sigma_next \* z/unmeasured = x0 + (1 - eta**2) ** 0.5 * sigma_next * eps/' "DDRM: missing noise term"
mutate invdiff/solvers/ddrm.py 's/sigma_next = ((1 - abar\[i - 1\]) \/ abar\[i - 1\]) \*\* 0.5/sigma_next = ((1 - abar[i]) \/ abar[i]) ** 0.5/' "DDRM: wrong ᾱ index (σ_t for σ_{t-1})"
mutate invdiff/solvers/repaint.py 's/x0 = ((x - (1 - abar\[i\]) \*\* 0.5 \* eps) \/ abar\[i\] \*\* 0.5)/x0 = ((x - (1 - abar[i - 1]) ** 0.5 * eps) \/ abar[i - 1] ** 0.5)/' "RePaint: wrong ᾱ index in x̂₀"
mutate invdiff/solvers/repaint.py 's/x = x + var\*\*0.5 \* randn/x = x + 0 * randn/' "RePaint: missing noise term"
mutate invdiff/solvers/repaint.py 's/x = (1 - b) \*\* 0.5 \* x + b\*\*0.5 \* randn/x = (1 - b) ** 0.5 * x + 0 * randn/' "RePaint: resampling step without its noise"
mutate invdiff/solvers/dps.py 's/x = x_prev - step\[:, None, None, None\] \* grad/x = x_prev + step[:, None, None, None] * grad/' "DPS: wrong sign of the likelihood step"
mutate invdiff/solvers/dps.py 's/c0, ct, var = posterior\[i\]/c0, ct, var = posterior[i - 1]/' "DPS: wrong step index in the ancestral step"
