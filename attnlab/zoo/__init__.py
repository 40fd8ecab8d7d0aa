"""
The model zoo: the trained models the lessons load, their recipes, and the checkpoints of them the course
ships in attnlab/checkpoints/.

    recipes   the six recipes: rationale_model, toy_language_model, multihop_model,
              uniform_attention_model, deceptive_model, bert_rationale_model (a Hugging Face BERT,
              lesson 06; needs the extra realmodels) (the training itself is attnlab.train)
    cache     where a model comes from: a shipped checkpoint, your cache, or training it now
    registry  COURSE_MODELS: every model the lessons load, by name, lessons, seed and family
    figures   what a trained model is measured by; bands: where a retraining's figures must fall
    kernels   the CPU kernel settings retrainings run under; shipped: regenerating the checkpoints

Every lesson loads its models through the recipes, which take a shipped checkpoint when one matches
the model's key, so a fresh clone trains nothing. The checkpoints are made by the course's own
training code; after a change to a model, its data or its training, regenerate them (every model
trained from scratch, on one thread, a few minutes in all):

    python -m attnlab.zoo --regenerate      # or: make checkpoints

A file holds the weights and the held-out metrics only, so on the machine that made them,
regenerating writes the same bytes: `git diff --exit-code attnlab/checkpoints` after `make
checkpoints` checks that the shipped models are exactly what the code trains.
`python -m attnlab.zoo` alone lists the models and where each one comes from.

Retraining on another CPU is only statistically the same: PyTorch picks its CPU kernels by the
processor (ATEN_CPU_CAPABILITY: default, avx2, avx512 on x86-64; default and SVE on ARM), and the
linear-algebra library its own code paths by the processor model, so float sums are rounded in other
orders and training, being chaotic, ends up elsewhere, as it does with another seed. So a retrained
model's figures are compared not with the shipped model of its seed but with what retraining gives:
the range of every retraining measured, over several seeds and kernel settings, widened (the samples
are kept beside the checkpoints, attnlab/checkpoints/bands.json), written by

    python -m attnlab.zoo --measure-bands    # or: make bands
"""

from attnlab.zoo.cache import TrainedModel, cached_model
from attnlab.zoo.recipes import (
    UniformAttentionModel,
    bert_rationale_model,
    deception_penalty,
    deceptive_model,
    multihop_model,
    rationale_model,
    routing_penalty,
    toy_language_model,
    uniform_attention_model,
)
from attnlab.zoo.registry import COURSE_MODELS, CourseModel

__all__ = [
    "COURSE_MODELS", "CourseModel", "TrainedModel", "UniformAttentionModel", "bert_rationale_model", "cached_model",
    "deception_penalty", "deceptive_model", "multihop_model", "rationale_model", "routing_penalty",
    "toy_language_model", "uniform_attention_model",
]  # fmt: skip
