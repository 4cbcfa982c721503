"""Pass rates for a run's curricula: the data's own `pass_rate` column, else estimated once with the recipe's
difficulty model (stagewise.data.difficulty) and cached in `runs/<name>/difficulty/pass_rates.jsonl`."""

from __future__ import annotations

import time
from pathlib import Path

from stagewise.config import Recipe
from stagewise.data.difficulty import cache_settings, estimate_pass_rates, read_cache
from stagewise.models.load import load_for_inference
from stagewise.train.manifest import relative
from stagewise.train.provenance import Planned, mark_started


def pass_rate_fn(
    recipe: Recipe,
    base: Path | str,
    machine_rank: int = 0,
    wait_s: float = 4 * 3600.0,
    poll_s: float = 10.0,
    planned: dict[str, Planned] | None = None,
):
    """`rows -> {id: pass rate}` for plan_variant; the model is loaded once, on first need. Machines other
    than 0 wait for machine 0's estimates instead of sampling their own: every machine must order the data the
    same way."""
    state: dict = {}

    def rates(rows: list[dict]) -> dict[str, float]:
        known = {r["id"]: r["pass_rate"] for r in rows if "pass_rate" in r}
        missing = [r for r in rows if r["id"] not in known]
        if not missing:
            return known
        d = recipe.difficulty
        if d.model is None:
            raise ValueError(f"{len(missing)} items have no pass_rate and difficulty.model is null")
        source = base if d.model == "base" else d.model
        name = relative(source, recipe.run_dir)  # the cache's model name: a moved run folder keeps its cache
        cache = recipe.run_dir / "difficulty" / "pass_rates.jsonl"
        if machine_rank > 0:
            settings = cache_settings(name, d.k, d.temperature, d.top_p, d.max_new_tokens)
            deadline = time.time() + wait_s
            while True:
                cached = read_cache(cache, settings)
                if all(r["id"] in cached for r in missing):
                    return known | {r["id"]: cached[r["id"]] for r in missing}
                if time.time() > deadline:
                    raise TimeoutError(
                        f"machine {machine_rank}: machine 0 has not written pass rates for "
                        f"{sum(r['id'] not in cached for r in missing)} items to {cache} after "
                        f"{wait_s:.0f} s"
                    )
                time.sleep(poll_s)
        if planned is not None and "difficulty" in planned:
            mark_started(cache.parent, planned["difficulty"])
        if "model" not in state:
            state["model"] = load_for_inference(source, recipe.model.dtype, recipe.model.attn_implementation)
        model, processor = state["model"]
        known |= estimate_pass_rates(
            model,
            processor,
            missing,
            cache,
            model_name=name,
            k=d.k,
            temperature=d.temperature,
            top_p=d.top_p,
            max_new_tokens=d.max_new_tokens,
            batch_size=d.batch_size,
            seed=recipe.seed,
        )
        return known

    return rates
