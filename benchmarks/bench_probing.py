"""Time to extract features and train every probe of the probing lesson, layer by layer, for the
trained toy-language model and its random-weights twin; prints the closing table and the timings,
and how much faster one property's probes (every layer, task and control) train side by side
(train_and_evaluate_together) than one after another (train_and_evaluate).

    .venv/bin/python benchmarks/bench_probing.py [--n-train 1000] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import torch

from attnlab.probing import (
    ProbeConfig,
    extract_features,
    format_table,
    head_accuracy,
    only_at,
    probe_by_layer,
    probe_inputs,
    probing_tasks,
    random_model_like,
    train_and_evaluate,
    train_and_evaluate_together,
)
from attnlab.probing.tasks import antecedent_class_distribution, coref_task, pos_distribution
from attnlab.tasks.base import mask_one_word
from attnlab.zoo import toy_language_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=1000, help="sentences the probes are trained on")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    start = time.perf_counter()
    trained = toy_language_model(seed=0)
    print(f"model: {time.perf_counter() - start:.2f} s ({trained.summary()})")
    train, test = trained.train.subset(slice(0, args.n_train)), trained.test
    models = {"trained": trained.model, "random": random_model_like(trained.model, seed=0)}

    start = time.perf_counter()
    for m in models.values():
        for data in (train, test):
            extract_features(m, mask_one_word(data)[0])
    print(f"feature extraction, 2 models x 2 splits: {time.perf_counter() - start:.2f} s")

    rows, total = [], 0.0
    for features in ("hidden", "attention"):
        for name, m in models.items():
            for prop in ("pos", "arc", "coref"):
                start = time.perf_counter()
                found = probe_by_layer(m, train, test, name, properties=(prop,), features=features, cfg=ProbeConfig())
                seconds = time.perf_counter() - start
                total += seconds
                rows += found
                if found:
                    print(
                        f"{features:>9} {name:>7} {prop:>5}: {len(found)} layers x (task + control) in {seconds:5.2f} s"
                    )
    print(f"all probes (features included): {total:.2f} s\n")

    start = time.perf_counter()
    pronoun_masked = test.tokens.masked_fill(test.antecedent != -1, test.vocab.mask_id)
    with torch.no_grad():
        head_accuracy(trained.model(pronoun_masked).attentions, coref_task(test))
    print(f"single-head coreference map: {time.perf_counter() - start:.3f} s\n")
    together_or_not(trained.model, train, test)
    print(format_table(rows))


def together_or_not(model, train, test) -> None:
    """Each property's probes on the hidden states of every layer, task and control: trained one after
    another, then side by side. Prints both times and whether the held-out predictions agree."""
    inputs = probe_inputs(model, train, test)
    probs = pos_distribution(train), antecedent_class_distribution(train)
    tasks = {"train": probing_tasks(train, 0, *probs), "test": probing_tasks(test, 0, *probs)}
    for prop in ("pos", "arc", "coref"):
        experiments = []
        for layer in range(model.cfg.n_layers + 1):
            x = {s: inputs.features[s][prop].hidden[layer] for s in ("train", "test")}
            for k in (0, 1):  # the task, its control
                task = {s: only_at(tasks[s][prop][k], inputs.where[s][prop]) for s in ("train", "test")}
                experiments.append((x["train"], task["train"], x["test"], task["test"]))
        start = time.perf_counter()
        alone = [train_and_evaluate(*experiment) for experiment in experiments]
        one_by_one = time.perf_counter() - start
        start = time.perf_counter()
        together = train_and_evaluate_together(experiments)
        side_by_side = time.perf_counter() - start
        same = sum(bool((a.correct == b.correct).all()) for a, b in zip(alone, together))
        print(
            f"{prop:>5}: {len(experiments)} probes one after another {one_by_one:5.2f} s, side by side "
            f"{side_by_side:5.2f} s ({one_by_one / side_by_side:.1f}x); same held-out predictions: {same}/{len(alone)}"
        )
    print()


if __name__ == "__main__":
    main()
