"""Time for the full faithfulness comparison table (every method of attnlab.attribution.standard_methods
plus the gold rationale) on 500 test sentences of the rationale classifier; also times the permuted and
adversarial attention tests. Prints the table, then the timings.

    .venv/bin/python benchmarks/bench_faithfulness.py [--n 500] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch

from attnlab.attribution import standard_methods
from attnlab.faithfulness import AdversaryConfig, adversarial_attention, faithfulness_table, permutation_effect
from attnlab.zoo import rationale_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="test sentences in the table")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these tiny tensors)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.n} sentences")

    start = time.perf_counter()
    trained = rationale_model(seed=0)
    print(f"model: {time.perf_counter() - start:.2f} s ({trained.summary()})")
    model, test = trained.model, trained.test
    tokens = test.tokens[: args.n]
    methods = {**standard_methods(model), "gold rationale": test.rationale[: args.n].float()}

    start = time.perf_counter()
    table = faithfulness_table(model, tokens, methods)
    total = time.perf_counter() - start
    print()
    print(table)
    print()
    for row in table.rows:
        print(f"  scores of {row.name:<32} {row.seconds:6.2f} s")
    scoring = sum(r.seconds for r in table.rows)
    print(
        f"full table, {len(table.rows)} methods x {args.n} sentences: {total:.2f} s "
        f"(scores {scoring:.2f} s, metrics and references {total - scoring:.2f} s)"
    )

    start = time.perf_counter()
    effect = permutation_effect(model, tokens, n_permutations=100)
    print(
        f"permuted attention, 100 permutations: {time.perf_counter() - start:.2f} s "
        f"(median |dp| {effect.median_change.median():.4f})"
    )
    start = time.perf_counter()
    adv = adversarial_attention(model, tokens, AdversaryConfig(steps=500))
    print(
        f"adversarial attention, 500 steps: {time.perf_counter() - start:.2f} s "
        f"(median JSD {adv.jsd.median():.3f}, max |dp| {adv.output_change.max():.4f})"
    )


if __name__ == "__main__":
    main()
