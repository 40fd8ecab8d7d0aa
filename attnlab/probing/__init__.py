"""
Probing: what can be read off a model's hidden states and attention weights, and does the model use it?

features  hidden states per word, attention weights per word pair, the untrained baseline model
tasks     POS, dependency arcs, coreference from the toy language's gold annotations; control tasks
probes    linear / bilinear and MLP probes, trained full-batch and scored on a held-out split
heads     every attention head as a classifier on its own: a layer x head accuracy map
causal    silence a head and measure what the model's own task loses
report    every property at every layer, with control tasks and selectivity, as a table

References: Hewitt & Liang 2019 (control tasks, selectivity); Clark et al. 2019 (attention heads as
parsers, attention-only probe); Hewitt & Manning 2019; Belinkov 2022 (what probes can and cannot show).
"""

from attnlab.probing.causal import ablation_effects, pronoun_agreement
from attnlab.probing.features import (
    ModelFeatures,
    attention_pair_features,
    attention_token_features,
    extract_features,
    random_model_like,
)
from attnlab.probing.heads import (
    HeldOutChoice,
    best_heads,
    fixed_offset_accuracy,
    head_accuracy,
    head_accuracy_both,
    head_predictions,
    held_out_best_head,
    held_out_best_offset,
)
from attnlab.probing.probes import (
    BilinearProbe,
    FittedProbe,
    LinearProbe,
    MLPProbe,
    PairMLPProbe,
    ProbeConfig,
    ProbeData,
    ProbeResult,
    fit_probe,
    fit_probes,
    probe_data,
    train_and_evaluate,
    train_and_evaluate_together,
)
from attnlab.probing.report import (
    LayerRow,
    ProbeInputs,
    format_comparison,
    format_table,
    model_difference,
    probe_by_layer,
    probe_inputs,
    selectivity,
)
from attnlab.probing.tasks import (
    ProbingTask,
    arc_task,
    control_arc,
    control_coref,
    control_pos,
    coref_task,
    only_at,
    pos_task,
    probing_tasks,
    type_labels,
)

__all__ = [
    "BilinearProbe", "FittedProbe", "LayerRow", "LinearProbe", "MLPProbe", "ModelFeatures", "PairMLPProbe",
    "ProbeConfig", "ProbeData", "ProbeInputs", "ProbeResult", "ProbingTask", "ablation_effects", "arc_task",
    "attention_pair_features", "attention_token_features", "best_heads", "control_arc", "control_coref", "control_pos",
    "coref_task",
    "extract_features", "fit_probe", "fit_probes", "fixed_offset_accuracy", "format_comparison", "format_table",
    "HeldOutChoice", "head_accuracy", "head_accuracy_both", "head_predictions", "held_out_best_head",
    "held_out_best_offset", "model_difference", "only_at", "pos_task",
    "probe_by_layer", "probe_data", "probe_inputs",
    "probing_tasks", "pronoun_agreement", "random_model_like", "selectivity", "train_and_evaluate",
    "train_and_evaluate_together",
    "type_labels",
]  # fmt: skip
