"""attnlab's methods through the Hugging Face and TransformerLens adapters (attnlab.external) against attnlab
on the course's own TinyTransformer: the largest difference per method on the shipped checkpoints copied
into GPT-2 and into a TransformerLens 4 bridge (when transformer_lens is installed), and the CPU time per
call of each; then the per-call cost at GPT-2-small's and BERT-base's shapes (random
weights), BERT against transformers' own eager forward pass.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_external.py [--repeats 3] [--skip-small] [--backend tl]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_external.py --recipes   # lesson 06's candidates

CPU time (time.process_time, one torch thread), median of the repeats: the machine is shared.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

import torch

from attnlab.attribution import GradientXInput, GradWeightedRollout, Rollout, relevance_budget, standard_methods
from attnlab.attribution.lrp import LRP
from attnlab.external import from_hf
from attnlab.external.copy import gpt2_copy
from attnlab.faithfulness import comprehensiveness
from attnlab.patching import KINDS, ablation, activation_patching, attribution_patching, multihop_pairs, path_patching
from attnlab.probing import extract_features
from attnlab.train import multihop_model, rationale_model


def cpu_ms(run, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.process_time()
        result = run()
        times.append(time.process_time() - start)
    return 1000 * statistics.median(times), result


def diff(a, b) -> float:
    return float((a.detach().double() - b.detach().double()).abs().max())


def row(name: str, worst: float, ms_course: float, ms_hf: float) -> None:
    print(f"| {name} | {worst:.1e} | {ms_course:.1f} | {ms_hf:.1f} |")


def hf_copy(course):
    return from_hf(gpt2_copy(course), causal=False, readout=0)


def tl_copy_wrapped(course, backend: str = "bridge"):
    from attnlab.external import from_tl
    from attnlab.external.copy import tl_copy

    return from_tl(tl_copy(course, backend), head=course.cfg.head, readout=0, pad_id=course.cfg.pad_id)


BACKENDS = {
    "hf": ("GPT2ForTokenClassification", hf_copy),
    "tl": ("a TransformerLens TransformerBridge (boot_native)", tl_copy_wrapped),
    "tl-hooked": ("a TransformerLens 3 HookedTransformer", lambda course: tl_copy_wrapped(course, "hooked")),
}


def copied_checkpoints(repeats: int, backend: str = "hf") -> None:
    into, copy_of = BACKENDS[backend]
    rationale = rationale_model()
    course = rationale.model.eval()
    wrapped = copy_of(course)
    tokens = rationale.test.tokens[:32]
    padded = int((tokens == course.cfg.pad_id).any(1).sum())
    print(f"\nRationale classifier copied into {into}, 32 test rows ({padded} padded)\n")
    print("| method | max abs difference | attnlab ms | adapter ms |\n|---|---|---|---|")
    ms_a, a = cpu_ms(lambda: course(tokens).logits, repeats)
    ms_b, b = cpu_ms(lambda: wrapped(tokens).logits, repeats)
    row("forward pass (logits)", diff(a, b), ms_a, ms_b)
    theirs, mine = standard_methods(course, ig_steps=64), standard_methods(wrapped, ig_steps=64)
    for name, method in theirs.items():
        ms_a, a = cpu_ms(lambda m=method: m.attribute(tokens), repeats)
        ms_b, b = cpu_ms(lambda m=mine[name]: m.attribute(tokens), repeats)
        row(name, diff(a, b), ms_a, ms_b)
    ms_a, a = cpu_ms(lambda: relevance_budget(course, tokens[:8]).biases, repeats)
    ms_b, b = cpu_ms(lambda: relevance_budget(wrapped, tokens[:8]).biases, repeats)
    row("relevance_budget, biases (8 rows)", diff(a, b), ms_a, ms_b)
    ms_a, a = cpu_ms(lambda: comprehensiveness(course, tokens, Rollout(course), 0.2), repeats)
    ms_b, b = cpu_ms(lambda: comprehensiveness(wrapped, tokens, Rollout(wrapped), 0.2), repeats)
    row("comprehensiveness(rollout, 20%)", diff(a, b), ms_a, ms_b)
    ms_a, a = cpu_ms(lambda: extract_features(course, tokens).hidden, repeats)
    ms_b, b = cpu_ms(lambda: extract_features(wrapped, tokens).hidden, repeats)
    row("extract_features (hidden states)", diff(a, b), ms_a, ms_b)

    multihop = multihop_model().model.eval()
    wrapped = copy_of(multihop)
    pairs = multihop_pairs(64, seed=0).where_model_is_right(multihop)
    clean, corrupt, metric = pairs.clean, pairs.corrupt, pairs.metric()
    print(f"\nMulti-hop classifier copied into {into}, {len(clean)} pairs; the patched metric (logit difference)\n")
    print("| patching | max abs difference | attnlab ms | adapter ms |\n|---|---|---|---|")
    for kind in KINDS:
        ms_a, a = cpu_ms(lambda k=kind: activation_patching(multihop, clean, corrupt, metric, k).patched, repeats)
        ms_b, b = cpu_ms(lambda k=kind: activation_patching(wrapped, clean, corrupt, metric, k).patched, repeats)
        row(f"activation_patching {kind}", diff(a, b), ms_a, ms_b)
    ms_a, a = cpu_ms(lambda: attribution_patching(multihop, clean, corrupt, metric).per_pair, repeats)
    ms_b, b = cpu_ms(lambda: attribution_patching(wrapped, clean, corrupt, metric).per_pair, repeats)
    row("attribution_patching resid_pre", diff(a, b), ms_a, ms_b)
    receivers = [(multihop.cfg.n_layers - 1, 0)]
    ms_a, a = cpu_ms(lambda: path_patching(multihop, clean, corrupt, metric, receivers, "v").patched, repeats)
    ms_b, b = cpu_ms(lambda: path_patching(wrapped, clean, corrupt, metric, receivers, "v").patched, repeats)
    row("path_patching -> (2, 0) v", diff(a, b), ms_a, ms_b)
    ms_a, a = cpu_ms(lambda: ablation(multihop, clean, metric, method="mean").ablated, repeats)
    ms_b, b = cpu_ms(lambda: ablation(wrapped, clean, metric, method="mean").ablated, repeats)
    row("ablation head_out (mean)", diff(a, b), ms_a, ms_b)
    route = activation_patching(wrapped, clean, corrupt, metric, "resid_pre").mean()
    print(f"\nRecovery through the adapter, rows = layers, columns = positions (percent):\n{(100 * route).round()}")


def gpt2_small(repeats: int) -> None:
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # 12 x 768, 124M parameters
    model = transformers.GPT2LMHeadModel(config).eval()
    tokens = torch.randint(0, config.vocab_size, (2, 16))
    library_eager = transformers.GPT2LMHeadModel(config).eval()
    library_eager.load_state_dict(model.state_dict())
    library_eager.set_attn_implementation("eager")
    wrapped = from_hf(model, baseline_id=0)
    print("\nGPT-2-small shape (random weights), 2 x 16 tokens, explaining position 15\n")
    print("| call | ms |\n|---|---|")
    with torch.no_grad():
        print(f"| transformers eager forward | {cpu_ms(lambda: library_eager(tokens).logits, repeats)[0]:.0f} |")
        print(f"| adapter forward | {cpu_ms(lambda: wrapped(tokens).logits, repeats)[0]:.0f} |")
    for method in (Rollout(wrapped), GradWeightedRollout(wrapped), LRP(wrapped), GradientXInput(wrapped)):
        print(f"| {method.name} | {cpu_ms(lambda m=method: m.attribute(tokens, position=15), repeats)[0]:.0f} |")


def bert_base(repeats: int) -> None:
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=2)
    model = transformers.BertForSequenceClassification(config).eval()  # BERT-base shape, 110M parameters
    library_eager = transformers.BertForSequenceClassification(config).eval()
    library_eager.load_state_dict(model.state_dict())
    library_eager.set_attn_implementation("eager")
    wrapped = from_hf(model)
    tokens = torch.randint(1, config.vocab_size, (2, 16))
    tokens[1, 10:] = 0  # padding
    mask = (tokens != 0).long()
    with torch.no_grad():
        ms_lib, theirs = cpu_ms(lambda: library_eager(tokens, attention_mask=mask, output_attentions=True), repeats)
        ms_mine, mine = cpu_ms(lambda: wrapped(tokens), repeats)
    real = mask.bool()[:, None, :, None] & mask.bool()[:, None, None, :]  # (B, 1, T, T) real query and key
    attention = max(diff(mine.attentions[l] * real, a * real) for l, a in enumerate(theirs.attentions))
    print("\nBERT-base shape (random weights), 2 x 16 tokens (one row padded), against transformers' eager forward\n")
    print("| call | max abs difference | ms |\n|---|---|---|")
    print(f"| transformers eager forward | | {ms_lib:.0f} |")
    print(f"| adapter forward: logits | {diff(mine.logits, theirs.logits):.1e} | {ms_mine:.0f} |")
    print(f"| adapter forward: attention (real queries and keys) | {attention:.1e} | |")
    for method in (Rollout(wrapped), GradWeightedRollout(wrapped), LRP(wrapped), GradientXInput(wrapped)):
        print(f"| {method.name} | | {cpu_ms(lambda m=method: m.attribute(tokens), repeats)[0]:.0f} |")


def recipes() -> None:
    """Lesson 06's first question: does a real architecture, trained by the course's own train_classifier
    through the adapter, reach the course model's accuracy on the rationale task, and do the methods still
    find the rationale? (Training time is wall-clock here: one run, the machine shared.)"""
    import transformers

    from attnlab.attribution.plausibility import format_table, score_against_rationale
    from attnlab.train import TrainConfig, rationale_setup, train_classifier

    train, test, cfg = rationale_setup(0, "nano", 4000, 1000)
    sizes = dict(vocab_size=cfg.vocab_size, num_labels=2, pad_token_id=cfg.pad_id)
    torch.manual_seed(0)
    gpt2 = transformers.GPT2Config(
        **sizes, n_positions=cfg.max_len, n_embd=32, n_layer=2, n_head=2, n_inner=64, activation_function="gelu",
        layer_norm_epsilon=1e-5, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, classifier_dropout=0.0,
        bos_token_id=None, eos_token_id=None,
    )  # fmt: skip
    bert = transformers.BertConfig(
        **sizes, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=cfg.max_len, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    candidates = {
        "causal GPT-2, read at the last real token, course recipe (2000 steps, lr 6e-3)": (
            lambda: from_hf(transformers.GPT2ForTokenClassification(gpt2), causal=True, readout="last"),
            TrainConfig(seed=0),
        ),
        "BERT (post-LN, pooler), 3000 steps, lr 1e-3": (
            lambda: from_hf(transformers.BertForSequenceClassification(bert)),
            TrainConfig(steps=3000, lr=1e-3, seed=0),
        ),
    }
    for name, (make, recipe) in candidates.items():
        torch.manual_seed(0)
        model = make()
        start = time.perf_counter()
        train_classifier(model, train, recipe)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            accuracy = float((model(test.tokens).logits.argmax(-1) == test.labels).float().mean())
        print(f"\n{name}: held-out accuracy {accuracy:.1%}, trained in {seconds:.0f} s")
        if not model.cfg.causal:  # a causal classifier's attention rows differ per example (its readout)
            rows, _ = score_against_rationale(model, test.tokens[:200], test.rationale[:200])
            print(format_table(rows))
    rows, _ = score_against_rationale(rationale_model().model, test.tokens[:200], test.rationale[:200])
    print(f"\nThe course's own rationale classifier, the same 200 sentences\n{format_table(rows)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-small", action="store_true", help="leave out GPT-2-small and BERT-base")
    parser.add_argument("--recipes", action="store_true", help="only train GPT-2 and BERT on the rationale task")
    parser.add_argument("--backend", choices=sorted(BACKENDS), help="only the copied checkpoints, on this backend")
    args = parser.parse_args()
    if args.recipes:
        recipes()
        return
    if args.backend:
        copied_checkpoints(args.repeats, args.backend)
        return
    copied_checkpoints(args.repeats)
    if importlib.util.find_spec("transformer_lens") is not None:
        copied_checkpoints(args.repeats, "tl")
    if not args.skip_small:
        gpt2_small(args.repeats)
        bert_base(args.repeats)


if __name__ == "__main__":
    main()
