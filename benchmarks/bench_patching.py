"""CPU time of patching sweeps on the course's models, over 200 pairs: the full (layer, position) residual
sweep of the rationale classifier batched over sites (one forward pass) against one forward pass per
site (over 200 and over 20 pairs), and every other kind of sweep lesson 05 runs.

    .venv/bin/python benchmarks/bench_patching.py [--repeats 5]

CPU time (time.process_time, one torch thread), not wall-clock: the development machine is shared,
and CPU time is what a sweep costs whatever else runs. The median of the repeats is printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from attnlab.patching import (
    Sites,
    ablation,
    activation_patching,
    attribution_patching,
    multihop_pairs,
    negation_pairs,
    path_patching,
)
from attnlab.zoo import multihop_model, rationale_model


def cpu_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return statistics.median(times)


def one_site_at_a_time(model, clean, corrupt, metric) -> torch.Tensor:
    """The same sweep with one forward pass per site: the definition, unbatched."""
    sites = Sites.of(model, "resid_pre", clean.shape[1])
    values = []
    with torch.no_grad():
        _, cache = model.run_with_cache(clean, names=[sites.hook_name(layer) for layer in sites.layers])
        for layer, position in sites:
            name = sites.hook_name(layer)

            def patch(x, hook):
                x = x.clone()
                x[:, position] = cache[name][:, position]
                return x

            with model.hooks([(name, patch)]):
                values.append(metric(model(corrupt).logits))
    return torch.stack(values).view(*sites.shape, -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = rationale_model(seed=0).model
    pairs = negation_pairs(200, seed=0).where_model_is_right(model)
    clean, corrupt, metric = pairs.clean, pairs.corrupt, pairs.metric()
    sites = Sites.of(model, "resid_pre", clean.shape[1])
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread; rationale classifier, {len(pairs)} negation "
        f"pairs of {clean.shape[1]} tokens; median CPU time of {args.repeats} runs"
    )
    for n in (len(pairs), 20):
        part = pairs.subset(slice(0, n))
        c, x, m = part.clean, part.corrupt, part.metric()
        batched = cpu_seconds(lambda: activation_patching(model, c, x, m, "resid_pre"), args.repeats)
        looped = cpu_seconds(lambda: one_site_at_a_time(model, c, x, m), args.repeats)
        same = torch.allclose(
            activation_patching(model, c, x, m, "resid_pre").patched, one_site_at_a_time(model, c, x, m), atol=1e-4
        )
        print(
            f"(layer, position) residual sweep, {len(sites)} sites x {n} pairs: batched {batched:.3f} s, one forward "
            f"pass per site {looped:.3f} s (ratio {looped / batched:.2f}); same values: {same}"
        )
    for kind in ("head_out", "q", "k", "v"):
        seconds = cpu_seconds(lambda: activation_patching(model, clean, corrupt, metric, kind), args.repeats)
        print(f"{kind:<9} sweep, {len(Sites.of(model, kind, clean.shape[1])):>3} sites: {seconds:.3f} s")
    seconds = cpu_seconds(lambda: attribution_patching(model, clean, corrupt, metric, "resid_pre"), args.repeats)
    print(f"attribution patching, the same {len(sites)} residual sites: {seconds:.3f} s")
    for method in ("zero", "mean", "resample"):
        seconds = cpu_seconds(lambda: ablation(model, clean, metric, "head_out", method=method), args.repeats)
        print(f"{method} ablation of every head: {seconds:.3f} s")
    hop = multihop_model(seed=0).model
    hop_pairs = multihop_pairs(200, seed=0).where_model_is_right(hop)
    readers = [(2, h) for h in range(hop.cfg.n_heads)]
    seconds = cpu_seconds(
        lambda: path_patching(hop, hop_pairs.clean, hop_pairs.corrupt, hop_pairs.metric(), readers, "v"), args.repeats
    )
    print(
        f"path patching on the multi-hop model, 4 senders through layer 2's values, {len(hop_pairs)} pairs: "
        f"{seconds:.3f} s"
    )


if __name__ == "__main__":
    main()
