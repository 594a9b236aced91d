"""Mixture sweeps: the `design.sweep` block → mixtures `sweep-01 … sweep-NN` as token shares.

Stage: right after `cptmix.config` (it reads the config mapping and nothing else) and before
the demo world and the corpus stage. Everything here is a pure function of the config: the same
block gives byte-identical shares on every run and machine. The corpus stage turns each
point's shares into trainable fractions and epochs for the token budget once the sources'
token counts are known (`cptmix.corpus.realise`).

A sweep point is a vector `w` of token shares over the sweep's sources: `w_s >= 0`,
`sum w = 1`, `lo_s <= w_s <= hi_s` (`design.sweep.bounds`; an unlisted source is `[0, 1]`).
Shares are rounded to `DECIMALS` decimals on an integer grid (largest remainder, inside the
bounds), so each point sums to 1 exactly in decimal (`Decimal(repr(w))` sums to `1`).

Methods (`METHODS`; a new method is one function `(spec, n) -> n × K array of shares inside
the bounds`, registered with `@method("name")`):

* `sobol` — scrambled Sobol' points (`scipy.stats.qmc.Sobol`, seeded) in the unit cube of
  dimension F − 1 (F = the sources whose bounds leave them free, `lo < hi`), mapped onto the
  bounded simplex by `to_bounded_simplex`. Prefix-stable: the design of n is the first n of
  the 2^m points (2^m >= n), so `sweep-01` is the same mixture under n = 16 and n = 32.
  Sobol' balance holds at powers of two: n = 16, 32, 64 ... fill the space best.
* `latin` — a scrambled Latin hypercube (`scipy.stats.qmc.LatinHypercube`, seeded), its
  columns permuted to lower the centred discrepancy (`optimization="random-cd"`), mapped the
  same way. *Not* prefix-stable: its strata depend on n, so changing n redraws every point.
* `dirichlet` — iid Dirichlet(alpha) draws (`numpy.random.Generator.dirichlet`, seeded) over
  the free sources, kept when inside the bounds (rejection, in fixed batches, accepted in
  order): prefix-stable. RegMix's sampler; alpha = 1 is uniform on the bounded simplex, the iid
  counterpart of sobol and latin (`tests/test_design.py` compares their space filling).

* `doptimal` — D-optimal for the linear mixture model (Scheffé's: the score is linear in
  the free sources' shares, which is what the planted check and the linear surrogate fit):
  of `D_CANDIDATES` scrambled Sobol' points in the bounds (seeded, mapped as `sobol`), the n
  that maximise det(X'X) (X: the candidates' free shares), by Fedorov's exchange from the
  `sobol` design of n (`fedorov_exchange`). It spreads each source's share over its bounds
  (points near the polytope's vertices) where the space-filling designs crowd the centre:
  on the demo sweep the SD of pmc_en's share rises from 0.11 to 0.19, and the planted check
  recovered 15 of 24 effects against 11 with sobol (right sign and BH q < 0.05 on the
  held-adjusted OLS slope, `analyze.sweep`; measured, README). Not prefix-stable:
  the exchange depends on n. Distinct points only (a candidate is taken at most once), but not
  space-filling: with many more points than the bounds have corners it takes near-copies of
  corners (the paper's 64-run sweep: minimum pairwise distance 0.053 against 0.078 for iid
  draws; the demo's 16: 0.102 against 0.085), which a nonlinear surrogate learns little from.

The map from the cube (`to_bounded_simplex`) is the inverse Rosenblatt transform of the
uniform distribution on the bounded simplex {w : lo <= w <= hi, sum w = 1}: coordinate i is the
conditional quantile of w_i given w_1 … w_{i−1}, whose distribution function is a closed-form
piecewise polynomial (inclusion–exclusion over the upper bounds of the sources after i: the
volume of a box-constrained simplex slice), inverted with `scipy.optimize.brentq`. Uniform
cube points become uniform points in the bounds; the map is continuous and one-to-one, so
every point satisfies the bounds by construction (nothing rejected) and a low-discrepancy
cube design stays space-filling. Without bounds it is the classic stick-breaking map of a
uniform Dirichlet (w_1 = 1 − (1 − u_1)^{1/(K−1)}, ...). The inclusion–exclusion sums over the
subsets of bounded sources whose widths sum below the free mass: 2^b terms for b bounded
sources (unbounded sources add none).

Names: `sweep_names(n)` = `sweep-01 … sweep-NN`, zero-padded to max(2, digits of n): the names
of the same points stay the same while n < 100 (at n >= 100 they gain a digit).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

DECIMALS = 6  # shares are multiples of 10**-DECIMALS
D_CANDIDATES_LOG2 = 12  # doptimal picks from 2**12 Sobol' points in the bounds
SWEEP_KEYS = ("n", "method", "seed", "sources", "bounds", "token_budget", "max_repetitions",
              "alpha")
REQUIRED_KEYS = ("n", "method", "seed", "sources", "token_budget", "max_repetitions")
DIRICHLET_BATCH = 1024  # draws per batch (fixed, so that the accepted prefix never depends on n)
DIRICHLET_MAX_DRAWS = 2**20  # give up (an error naming the bounds) after this many draws


class DesignError(ValueError):
    """A `design` block that cannot give a design; the message names the config key."""


@dataclass(frozen=True)
class SweepSpec:
    """A validated `design.sweep` block (`sweep_spec`). `bounds` holds `(lo, hi)` for every
    source, in `sources` order (unlisted sources `(0.0, 1.0)`)."""

    n: int
    method: str
    seed: int
    sources: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    token_budget: int
    max_repetitions: float
    alpha: float = 1.0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sweep_names(self.n))

    @property
    def lower(self) -> np.ndarray:
        return np.array([lo for lo, _ in self.bounds], dtype=float)

    @property
    def upper(self) -> np.ndarray:
        return np.array([hi for _, hi in self.bounds], dtype=float)

    def bounds_of(self, source: str) -> tuple[float, float]:
        return self.bounds[self.sources.index(source)]

    def replace(self, **changes: Any) -> SweepSpec:
        """A copy with fields changed, checked again (`sweep_spec`'s checks on the fields)."""
        new = dataclasses.replace(self, **changes)
        problems = _spec_problems(new)
        if problems:
            _raise(problems, None)
        return new


# --- validation ---------------------------------------------------------------------------------

def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool) \
        and math.isfinite(float(x))


def _grid(x: float, up: bool, decimals: int = DECIMALS) -> int:
    """x on the share grid (units of 10**-decimals), rounded inwards (up for a lower bound)."""
    v = Decimal(repr(float(x))) * 10**decimals
    return int(v.to_integral_value(rounding="ROUND_CEILING" if up else "ROUND_FLOOR"))


def _bounds_problems(lo: list[float], hi: list[float], key: str) -> list[str]:
    """Whether bounds leave a simplex with more than one point (lo <= hi each is given)."""
    slo, shi = math.fsum(lo), math.fsum(hi)
    if slo > 1:
        return [f"{key}: the lower bounds sum to {slo:g} > 1: no mixture satisfies them"]
    if shi < 1:
        return [f"{key}: the upper bounds sum to {shi:g} < 1: no mixture satisfies them"]
    unit = 10**DECIMALS
    glo, ghi = [_grid(x, True) for x in lo], [_grid(x, False) for x in hi]
    if sum(glo) > unit or sum(ghi) < unit:
        return [(f"{key}: on the share grid of 1e-{DECIMALS} the bounds cannot sum to 1 "
                 f"(lower {sum(glo) / unit:g}, upper {sum(ghi) / unit:g}); give bounds with at "
                 f"most {DECIMALS} decimals")]
    free = sum(1 for a, b in zip(glo, ghi, strict=True) if a < b)
    if slo == 1 or shi == 1 or free < 2:
        return [(f"{key}: the bounds leave exactly one mixture (lower bounds sum to {slo:g}, "
                 f"upper to {shi:g}, {free} source(s) free to vary): nothing to sweep")]
    return []


def _spec_problems(spec: SweepSpec) -> list[str]:
    """The checks on a built spec (also after `replace`)."""
    k = "design.sweep"
    problems = []
    if not _is_int(spec.n) or spec.n < 1:
        problems.append(f"{k}.n: must be an integer >= 1, got {spec.n!r}")
    if not isinstance(spec.method, str) or spec.method not in METHODS:
        problems.append(f"{k}.method: unknown method {spec.method!r} (known: "
                        f"{', '.join(sorted(METHODS))})")
    if not _is_int(spec.seed) or spec.seed < 0:
        problems.append(f"{k}.seed: must be an integer >= 0, got {spec.seed!r}")
    if len(spec.sources) < 2:
        problems.append(f"{k}.sources: a sweep needs at least two sources, got "
                        f"{list(spec.sources)}")
    if len(set(spec.sources)) != len(spec.sources):
        dup = sorted({s for s in spec.sources if spec.sources.count(s) > 1})
        problems.append(f"{k}.sources: listed more than once: {', '.join(dup)}")
    if not _is_int(spec.token_budget) or spec.token_budget <= 0:
        problems.append(f"{k}.token_budget: must be a positive integer (tokens trained per "
                        f"sweep run), got {spec.token_budget!r}")
    if not _is_number(spec.max_repetitions) or spec.max_repetitions < 1:
        problems.append(f"{k}.max_repetitions: must be a number >= 1, got "
                        f"{spec.max_repetitions!r}")
    if not _is_number(spec.alpha) or spec.alpha <= 0:
        problems.append(f"{k}.alpha: must be a number > 0, got {spec.alpha!r}")
    elif spec.method != "dirichlet" and spec.alpha != 1.0:
        problems.append(f"{k}.alpha: only the dirichlet method uses alpha (method: "
                        f"{spec.method})")
    ok = len(spec.bounds) == len(spec.sources)
    for s, (lo, hi) in zip(spec.sources, spec.bounds, strict=False):
        if not (_is_number(lo) and _is_number(hi)):
            problems.append(f"{k}.bounds.{s}: must be two numbers [lo, hi], got {[lo, hi]}")
            ok = False
        elif not 0 <= lo <= hi <= 1:
            problems.append(f"{k}.bounds.{s}: [{lo:g}, {hi:g}] must satisfy 0 <= lo <= hi <= 1")
            ok = False
        elif _grid(lo, True) > _grid(hi, False):
            problems.append(f"{k}.bounds.{s}: [{lo!r}, {hi!r}] holds no share on the grid of "
                            f"1e-{DECIMALS}; give bounds with at most {DECIMALS} decimals")
            ok = False
    if ok and len(spec.sources) >= 2:
        problems += _bounds_problems([b[0] for b in spec.bounds], [b[1] for b in spec.bounds],
                                     f"{k}.bounds")
    return problems


def sweep_problems(cfg: Mapping) -> list[str]:
    """Every problem of the config's `design.sweep` block (empty when there is none or it is
    good), each naming its key: unknown keys, missing keys, bad values, sources not in
    `sources`, bounds for sources outside the sweep, bounds that cannot sum to 1, sweep names
    that are declared mixtures."""
    design = cfg.get("design")
    if design is None:
        return []
    if not isinstance(design, Mapping):
        return [f"design: must be a mapping, got {type(design).__name__}"]
    block = design.get("sweep")
    if block is None:
        return []
    k = "design.sweep"
    if not isinstance(block, Mapping):
        return [f"{k}: must be a mapping, got {type(block).__name__}"]
    problems = [f"{k}.{key}: unknown key (known: {', '.join(SWEEP_KEYS)})"
                for key in block if key not in SWEEP_KEYS]
    problems += [f"{k}.{key}: missing" for key in REQUIRED_KEYS if key not in block]
    if problems:
        return problems
    sources = block["sources"]
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        return [f"{k}.sources: must be a list of source names, got {sources!r}"]
    known = cfg.get("sources") or {}
    problems += [f"{k}.sources: {s!r} is not a source (sources: {', '.join(known)})"
                 for s in dict.fromkeys(sources) if s not in known]
    raw = block.get("bounds") or {}
    if not isinstance(raw, Mapping):
        return problems + [f"{k}.bounds: must be a mapping source -> [lo, hi], got {raw!r}"]
    bounds = []
    for s in sources:
        b = raw.get(s, [0.0, 1.0])
        if not (isinstance(b, list | tuple) and len(b) == 2):
            problems.append(f"{k}.bounds.{s}: must be two numbers [lo, hi], got {b!r}")
            b = (0.0, 1.0)
        bounds.append(tuple(b))
    problems += [f"{k}.bounds.{s}: {s!r} is not one of {k}.sources" for s in raw
                 if s not in sources]
    n = block["n"]
    mixtures = cfg.get("mixtures") or {}
    if _is_int(n) and n >= 1:
        clash = [m for m in sweep_names(n) if m in mixtures]
        if clash:
            problems.append(f"{k}.n: the sweep's names {', '.join(clash)} are declared mixtures "
                            f"(mixtures.{clash[0]}); rename them")
    budget = block["token_budget"]
    if isinstance(budget, float) and budget.is_integer():
        budget = int(budget)  # 3.0e+5 in YAML
    spec = SweepSpec(n=n, method=block["method"], seed=block["seed"], sources=tuple(sources),
                     bounds=tuple(bounds), token_budget=budget,
                     max_repetitions=block["max_repetitions"], alpha=block.get("alpha", 1.0))
    return problems + _spec_problems(spec)


def _raise(problems: list[str], where: str | None) -> None:
    prefix = f"{where}: " if where else ""
    if len(problems) == 1:
        raise DesignError(prefix + problems[0])
    lines = "\n  ".join(problems)
    raise DesignError(f"{prefix}{len(problems)} problems:\n  {lines}")


def sweep_spec(cfg: Mapping, where: str | None = None) -> SweepSpec | None:
    """The config's `design.sweep` block as a `SweepSpec`, or None when there is none.
    Raises `DesignError` listing every problem (`sweep_problems`); `where` (the config file)
    prefixes the message."""
    problems = sweep_problems(cfg)
    if problems:
        _raise(problems, where)
    design = cfg.get("design") or {}
    block = design.get("sweep")
    if block is None:
        return None
    raw = block.get("bounds") or {}
    budget = block["token_budget"]
    return SweepSpec(
        n=int(block["n"]), method=block["method"], seed=int(block["seed"]),
        sources=tuple(block["sources"]),
        bounds=tuple((float(raw[s][0]), float(raw[s][1])) if s in raw else (0.0, 1.0)
                     for s in block["sources"]),
        token_budget=int(budget), max_repetitions=block["max_repetitions"],
        alpha=float(block.get("alpha", 1.0)))


def capped(spec: SweepSpec, caps: Mapping[str, float]) -> SweepSpec:
    """The spec with each source's upper bound lowered to `caps[source]` (e.g.
    `cptmix.corpus.realise.share_caps`: the most share a source can take without passing over
    it more than max_repetitions times), checked again: bounds that can no longer sum to 1
    raise `DesignError` naming `design.sweep.bounds`. The design then depends on the caps."""
    bounds = tuple((lo, min(hi, float(caps[s])) if s in caps else hi)
                   for s, (lo, hi) in zip(spec.sources, spec.bounds, strict=True))
    lowered = [s for s, (lo, hi) in zip(spec.sources, bounds, strict=True) if hi < lo]
    if lowered:
        raise DesignError(f"design.sweep.bounds.{lowered[0]}: its lower bound "
                          f"{spec.bounds_of(lowered[0])[0]:g} is above its repetition cap "
                          f"{caps[lowered[0]]:g} (token_budget × share <= max_repetitions × "
                          f"the source's tokens)")
    return spec.replace(bounds=bounds)


# --- names ---------------------------------------------------------------------------------------

def sweep_names(n: int) -> list[str]:
    """`sweep-01 … sweep-NN`, zero-padded to max(2, digits of n)."""
    width = max(2, len(str(n)))
    return [f"sweep-{i:0{width}d}" for i in range(1, n + 1)]


# --- the map from the unit cube onto the bounded simplex ----------------------------------------

def _subset_terms(widths: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """(sign, summed width) of every subset of `widths` whose widths sum below `limit`
    (subsets at or above it add nothing to the inclusion–exclusion sums)."""
    terms = [(1.0, 0.0)]
    for w in widths:
        terms += [(-s, d + w) for s, d in terms if d + w < limit]
    return np.array([s for s, _ in terms]), np.array([d for _, d in terms])


def to_bounded_simplex(u: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                       total: float = 1.0) -> np.ndarray:
    """Map points `u` of the open unit cube (n × (F−1)) to points w (n × F) with
    `lower <= w <= upper` and `sum w = total`, uniform cube points to uniform points of that
    polytope (the inverse Rosenblatt transform; module docstring). Needs
    `sum lower < total < sum upper` and `lower < upper` (free coordinates)."""
    u = np.asarray(u, dtype=float)
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    f = len(lower)
    if u.ndim != 2 or u.shape[1] != f - 1:
        raise ValueError(f"expected points of dimension {f - 1}, got shape {u.shape}")
    from scipy.optimize import brentq

    width = upper - lower
    mass = total - float(lower.sum())  # to share out above the lower bounds
    terms = [_subset_terms(width[i + 1:], mass) for i in range(f - 1)]
    rest = [float(width[i + 1:].sum()) for i in range(f - 1)]
    out = np.empty((len(u), f))
    for p, point in enumerate(u):
        r = mass
        for i in range(f - 1):
            m = f - 1 - i  # coordinates after i
            sign, widths = terms[i]
            a, b = max(0.0, r - rest[i]), min(float(width[i]), r)
            if b - a <= 1e-15:
                x = a
            else:
                def cdf(x, r=r, m=m, sign=sign, widths=widths):
                    # ∝ P(y_i <= x | the mass r left for coordinates i..F-1)
                    return float(sign @ (np.maximum(r - widths, 0.0) ** m
                                         - np.maximum(r - x - widths, 0.0) ** m))
                ca, cb = cdf(a), cdf(b)
                target = ca + float(point[i]) * (cb - ca)
                x = brentq(lambda x, t=target, c=cdf: c(x) - t, a, b, xtol=1e-15)
            out[p, i] = x
            r -= x
        out[p, -1] = min(max(r, 0.0), float(width[-1]))
    return out + lower


def _free(spec: SweepSpec) -> tuple[np.ndarray, float]:
    """Indices of the sources free to vary (lo < hi) and the share left for them."""
    lo, hi = spec.lower, spec.upper
    free = np.flatnonzero(hi > lo)
    return free, 1.0 - float(lo[hi <= lo].sum())


def _assemble(spec: SweepSpec, free: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.tile(spec.lower, (len(values), 1))
    out[:, free] = values
    return out


def _from_cube(spec: SweepSpec, u: np.ndarray) -> np.ndarray:
    free, mass = _free(spec)
    return _assemble(spec, free, to_bounded_simplex(u, spec.lower[free], spec.upper[free],
                                                     mass))


# --- methods -----------------------------------------------------------------------------------

METHODS: dict[str, Callable[[SweepSpec, int], np.ndarray]] = {}
PREFIX_STABLE = {"sobol": True, "latin": False, "dirichlet": True, "doptimal": False}


def method(name: str):
    def register(fn):
        METHODS[name] = fn
        return fn
    return register


@method("sobol")
def sobol_shares(spec: SweepSpec, n: int) -> np.ndarray:
    from scipy.stats import qmc

    free, _ = _free(spec)
    m = max(0, math.ceil(math.log2(n)))
    u = qmc.Sobol(len(free) - 1, scramble=True, rng=spec.seed).random_base2(m)[:n]
    return _from_cube(spec, u)


def fedorov_exchange(x: np.ndarray, start: list[int], ridge: float = 1e-9) -> list[int]:
    """Rows of `x` (candidates × model terms) forming a D-optimal exact design of
    len(`start`) distinct rows: Fedorov's exchange from `start`. Each step makes the one swap
    (design row i -> candidate j not in the design) that raises det(X_d'X_d) most, by the
    variance function d(a, b) = a'M⁻¹b: det ratio 1 + d(j) - d(i) + d(i, j)² - d(i)d(j);
    it stops when no swap raises it (by more than 1e-10, relatively). `ridge` (× I) keeps
    M = X_d'X_d invertible while the design has fewer rows than terms. Deterministic: ties
    go to the first pair."""
    idx = list(start)
    eye = ridge * np.eye(x.shape[1])
    for _ in range(100 * len(idx)):
        m_inv = np.linalg.inv(x[idx].T @ x[idx] + eye)
        d_ij = x[idx] @ m_inv @ x.T  # design rows × candidates
        d_i = np.diag(d_ij[:, idx])[:, None]
        d_j = np.einsum("ij,jk,ik->i", x, m_inv, x)[None, :]
        gain = d_j - d_i + d_ij**2 - d_i * d_j
        gain[:, idx] = -np.inf  # distinct points
        i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if gain[i, j] <= 1e-10:
            break
        idx[i] = int(j)
    return idx


@method("doptimal")
def doptimal_shares(spec: SweepSpec, n: int) -> np.ndarray:
    from scipy.stats import qmc

    free, _ = _free(spec)
    u = qmc.Sobol(len(free) - 1, scramble=True, rng=spec.seed).random_base2(
        max(D_CANDIDATES_LOG2, math.ceil(math.log2(max(n, 1)))))
    cand = _from_cube(spec, u)
    return cand[fedorov_exchange(cand[:, free], list(range(n)))]


@method("latin")
def latin_shares(spec: SweepSpec, n: int) -> np.ndarray:
    from scipy.stats import qmc

    free, _ = _free(spec)
    u = qmc.LatinHypercube(len(free) - 1, scramble=True, optimization="random-cd",
                           rng=spec.seed).random(n)
    return _from_cube(spec, u)


@method("dirichlet")
def dirichlet_shares(spec: SweepSpec, n: int) -> np.ndarray:
    free, mass = _free(spec)
    lo, hi = spec.lower[free], spec.upper[free]
    rng = np.random.default_rng(spec.seed)
    kept: list[np.ndarray] = []
    drawn = 0
    while sum(len(k) for k in kept) < n:
        if drawn >= DIRICHLET_MAX_DRAWS:
            got = sum(len(k) for k in kept)
            raise DesignError(
                f"design.sweep.bounds: only {got} of {drawn} Dirichlet({spec.alpha:g}) draws "
                f"fall inside the bounds ({n} needed); widen the bounds or use method sobol "
                f"or latin, which map onto the bounds without rejecting")
        w = mass * rng.dirichlet(np.full(len(free), float(spec.alpha)), DIRICHLET_BATCH)
        drawn += DIRICHLET_BATCH
        kept.append(w[((w >= lo) & (w <= hi)).all(axis=1)])
    return _assemble(spec, free, np.concatenate(kept)[:n])


# --- rounding ------------------------------------------------------------------------------------

def round_shares(w: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 decimals: int = DECIMALS) -> np.ndarray:
    """Integer multiples of 10**-decimals (as an int array, per row summing to 10**decimals)
    closest to `w` by largest remainder, kept inside the bounds (rounded inwards)."""
    unit = 10**decimals
    glo = np.array([_grid(x, True, decimals) for x in lower], dtype=np.int64)
    ghi = np.array([_grid(x, False, decimals) for x in upper], dtype=np.int64)
    out = np.empty(w.shape, dtype=np.int64)
    for p, row in enumerate(np.asarray(w, dtype=float) * unit):
        base = np.clip(np.floor(row).astype(np.int64), glo, ghi)
        deficit = unit - int(base.sum())
        while deficit:
            rem = row - base  # what rounding took away (+) or added (−)
            if deficit > 0:
                i = int(np.argmax(np.where(base < ghi, rem, -np.inf)))
                base[i] += 1
                deficit -= 1
            else:
                i = int(np.argmin(np.where(base > glo, rem, np.inf)))
                base[i] -= 1
                deficit += 1
        out[p] = base
    return out


def sweep_points(spec: SweepSpec) -> np.ndarray:
    """The design as an n × K array of shares (rows in name order, columns in
    `spec.sources` order), rounded to `DECIMALS` decimals."""
    raw = METHODS[spec.method](spec, spec.n)
    return round_shares(raw, spec.lower, spec.upper) / 10**DECIMALS


def sweep_shares(spec: SweepSpec) -> dict[str, dict[str, float]]:
    """`{sweep-01: {source: share, ...}, ...}`: the sweep's mixtures as token shares (each
    a multiple of 10**-DECIMALS, inside the bounds, summing to 1 exactly in decimal)."""
    grid = round_shares(METHODS[spec.method](spec, spec.n), spec.lower, spec.upper)
    return {name: {s: int(k) / 10**DECIMALS for s, k in zip(spec.sources, row, strict=True)}
            for name, row in zip(spec.names, grid, strict=True)}
