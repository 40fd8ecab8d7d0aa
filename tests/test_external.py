"""attnlab's methods on Hugging Face transformers (attnlab.external): the course's trained checkpoints copied
into a GPT-2 of the same architecture give attnlab's own numbers for every method; BERT and causal GPT-2
wrapped give the library's own forward pass; what a backend cannot do is refused with a clear message.
Every model is built from a config: nothing is downloaded."""

import copy
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from attnlab.attribution import (  # noqa: E402
    LRP,
    GradWeightedRollout,
    IntegratedGradients,
    Rollout,
    grad_weighted_rollout,
    relevance_budget,
    standard_methods,
)
from attnlab.external import from_hf, load_hf  # noqa: E402
from attnlab.external.copy import gpt2_copy  # noqa: E402
from attnlab.external.liveness import mark_pattern_liveness  # noqa: E402
from attnlab.faithfulness import comprehensiveness, deletion_flip, sufficiency  # noqa: E402
from attnlab.hooks import HookPoint  # noqa: E402
from attnlab.interventions import replace_attention  # noqa: E402
from attnlab.models import TinyTransformer, preset  # noqa: E402
from attnlab.patching import (  # noqa: E402
    KINDS,
    ablation,
    activation_patching,
    attribution_patching,
    multihop_pairs,
    path_patching,
)
from attnlab.patching.activation import MAX_BATCH, fitting_batch  # noqa: E402
from attnlab.probing import extract_features  # noqa: E402
from attnlab.probing.features import random_model_like  # noqa: E402
from attnlab.train import multihop_model, rationale_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EPS = torch.finfo(torch.float32).eps
# The copy runs the same float32 formulas, but GPT-2's Conv1D (x @ W) and nn.Linear (x @ W^T) may reach
# different GEMM kernels, each rounding to a few ulps; through a few layers, the softmax and IG's 64 passes
# that stays far below 2^10 ulps of the largest value compared.
ULPS = 2**10


def assert_close(mine: torch.Tensor, reference: torch.Tensor, what: str) -> None:
    mine, reference = mine.detach().double(), reference.detach().double()
    assert mine.shape == reference.shape, what
    size = max(1.0, float(reference.abs().max()))
    worst = float((mine - reference).abs().max())
    assert worst <= ULPS * EPS * size, f"{what}: differs by {worst:.2e} (values up to {size:.2g})"


@pytest.fixture(scope="module")
def rationale_pair():
    course = rationale_model().model.eval()
    return course, from_hf(gpt2_copy(course), causal=False, readout=0)


@pytest.fixture(scope="module")
def multihop_pair():
    course = multihop_model().model.eval()
    return course, from_hf(gpt2_copy(course), causal=False, readout=0)


@pytest.fixture(scope="module")
def batch():
    return rationale_model().test.tokens[:24]  # padded rows of several lengths


def test_the_copied_checkpoint_computes_the_course_models_forward_pass(rationale_pair, batch):
    course, wrapped = rationale_pair
    assert (batch == course.cfg.pad_id).any(1).sum() > 10  # padding is exercised
    mine, theirs = wrapped(batch), course(batch)
    assert_close(mine.logits, theirs.logits, "logits")
    assert_close(mine.attentions, theirs.attentions, "attentions")
    assert_close(mine.hidden_states, theirs.hidden_states, "hidden states")
    assert set(course.hook_names()) <= set(wrapped.hook_names())  # every hook point a method may use


def check_every_attribution_method(course, wrapped, batch, uncounted_bias=0.0) -> None:
    """Every method's scores (and delta) and the relevance budget of `wrapped` equal `course`'s on `batch`.
    uncounted_bias: the relevance of a bias the backend keeps outside its parameters (relevance_budget
    counts parameters only)."""
    theirs, mine = standard_methods(course), standard_methods(wrapped)
    for name, method in theirs.items():
        if method.has_convergence_delta:
            s_ref, d_ref = method.attribute(batch, return_convergence_delta=True)
            s_mine, d_mine = mine[name].attribute(batch, return_convergence_delta=True)
            assert_close(d_mine, d_ref, f"{name} delta")
        else:
            s_ref, s_mine = method.attribute(batch), mine[name].attribute(batch)
        assert_close(s_mine, s_ref, name)
    theirs_budget, mine_budget = relevance_budget(course, batch[:4]), relevance_budget(wrapped, batch[:4])
    for part in ("logit", "inputs", "softmax"):
        assert_close(getattr(mine_budget, part), getattr(theirs_budget, part), f"relevance budget {part}")
    assert_close(mine_budget.biases + uncounted_bias, theirs_budget.biases, "relevance budget biases")


def test_every_attribution_method_gives_the_course_models_scores(rationale_pair, batch):
    check_every_attribution_method(*rationale_pair, batch)


def test_faithfulness_metrics_interventions_and_probing_features_match(rationale_pair, batch):
    course, wrapped = rationale_pair
    for metric in (comprehensiveness, sufficiency):
        assert_close(metric(wrapped, batch, Rollout(wrapped), 0.2), metric(course, batch, Rollout(course), 0.2), "")
    scores = Rollout(course).attribute(batch)  # one ranking for both, so only the models' outputs are compared
    assert torch.equal(deletion_flip(wrapped, batch, scores).removed, deletion_flip(course, batch, scores).removed)
    with replace_attention(wrapped, "uniform"), replace_attention(course, "uniform"):
        assert_close(wrapped(batch).logits, course(batch).logits, "uniform attention")
    mine, theirs = extract_features(wrapped, batch), extract_features(course, batch)
    assert_close(mine.hidden, theirs.hidden, "probing hidden states")
    assert_close(mine.attentions, theirs.attentions, "probing attentions")


def test_every_patching_kind_gives_the_course_models_numbers_and_the_known_route(multihop_pair):
    course, wrapped = multihop_pair
    pairs = multihop_pairs(32, seed=0).where_model_is_right(course)
    metric = pairs.metric()
    for kind in KINDS:
        mine = activation_patching(wrapped, pairs.clean, pairs.corrupt, metric, kind)
        assert_close(mine.patched, activation_patching(course, pairs.clean, pairs.corrupt, metric, kind).patched, kind)
    route = activation_patching(wrapped, pairs.clean, pairs.corrupt, metric, "resid_pre").mean()  # (L, T)
    last = wrapped.cfg.n_layers - 1
    assert route[last, pairs.roles["#"]] > 0.95  # the last layer reads the word from the marker, as built
    assert route[0, pairs.roles["decisive"]] > 0.95
    mine = attribution_patching(wrapped, pairs.clean, pairs.corrupt, metric)
    assert_close(mine.per_pair, attribution_patching(course, pairs.clean, pairs.corrupt, metric).per_pair, "attrib.")
    receivers = [(last, 0)]
    mine = path_patching(wrapped, pairs.clean, pairs.corrupt, metric, receivers, "v")
    assert_close(mine.patched, path_patching(course, pairs.clean, pairs.corrupt, metric, receivers, "v").patched, "")
    for method in ("zero", "mean", "resample"):
        mine = ablation(wrapped, pairs.clean, metric, method=method)
        assert_close(mine.ablated, ablation(course, pairs.clean, metric, method=method).ablated, method)


def test_a_model_wrapped_twice_gives_the_same_numbers_through_either_wrapper(rationale_pair, batch):
    course, wrapped = rationale_pair
    again = from_hf(wrapped.hf, causal=False, readout=0)  # a notebook cell run a second time
    for model in (again, wrapped):
        assert_close(Rollout(model).attribute(batch), Rollout(course).attribute(batch), "rollout")
    with pytest.raises(TypeError, match="random_model_like"):
        random_model_like(again)


def test_a_padded_row_scores_as_the_same_row_alone(rationale_pair, batch):
    _, wrapped = rationale_pair
    row = int((batch == wrapped.cfg.pad_id).sum(1).argmax())  # the most padded row
    length = int((batch[row] != wrapped.cfg.pad_id).sum())
    for method in (Rollout(wrapped), GradWeightedRollout(wrapped), LRP(wrapped)):
        padded = method.attribute(batch)[row]
        alone = method.attribute(batch[row : row + 1, :length])[0]
        assert_close(padded[:length], alone, method.name)
        assert not padded[length:].any()


def bert(seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=30,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=16,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=3,
        pad_token_id=0,
        initializer_range=0.3,  # larger than BERT's 0.02, so the random model's output depends on its input
    )
    return transformers.BertForSequenceClassification(config).eval()


BERT_TOKENS = torch.tensor([[1, 5, 6, 7, 8, 9], [1, 5, 9, 0, 0, 0], [1, 7, 7, 4, 0, 0]])  # [CLS]=1, [PAD]=0


def assert_same_forward_pass(wrapped, library, tokens, mask):
    """The wrapped model's logits and attention are the library model's own (eager, given the padding
    mask); returns the library's output."""
    out = library(tokens, attention_mask=mask.long(), output_attentions=True)
    mine = wrapped(tokens)
    assert_close(mine.logits, out.logits, "logits")
    for l, attention in enumerate(out.attentions):
        assert_close(mine.attentions[l], attention, f"layer {l} attention")
    return out


def test_bert_wrapped_computes_the_librarys_own_forward_pass_and_gradients():
    # A post-LN BERT computes another function than the pre-LN course model, so no checkpoint copies into it:
    # the reference here is transformers' own eager attention on the same weights.
    model = bert()
    library = copy.deepcopy(model)
    library.set_attn_implementation("eager")
    wrapped = from_hf(model)
    mask = BERT_TOKENS != 0
    out = assert_same_forward_pass(wrapped, library, BERT_TOKENS, mask)
    predicted = out.logits.argmax(-1)
    grads = torch.autograd.grad(out.logits.gather(1, predicted[:, None]).sum(), out.attentions)
    expected = grad_weighted_rollout(torch.stack(out.attentions).detach(), torch.stack(grads))[:, 0] * mask
    assert_close(GradWeightedRollout(wrapped).attribute(BERT_TOKENS), expected, "grad-weighted rollout")


def test_bert_wrapped_patches_the_residual_stream_as_a_hand_written_hook_does():
    model = bert()
    wrapped = from_hf(model)
    clean, corrupt = BERT_TOKENS[:1], BERT_TOKENS[:1].clone()
    corrupt[0, 2] = 9
    metric = lambda logits: logits[:, 0] - logits[:, 1]  # noqa: E731
    result = activation_patching(wrapped, clean, corrupt, metric, "resid_pre")
    with torch.no_grad():
        library = copy.deepcopy(model)
        library.set_attn_implementation("eager")
        saved = {}
        layer = library.bert.encoder.layer[1]
        keep = layer.register_forward_pre_hook(lambda m, args: saved.setdefault("x", args[0]))
        library(clean)
        keep.remove()

        def patch(module, args):
            x = args[0].clone()
            x[:, 2] = saved["x"][:, 2]
            return (x, *args[1:])

        layer.register_forward_pre_hook(patch)
        assert_close(result.patched[1, 2], metric(library(corrupt).logits), "patched metric at (layer 1, token 2)")


def gpt2(kind=transformers.GPT2LMHeadModel, **extra):
    torch.manual_seed(0)
    sizes = dict(vocab_size=40, n_positions=16, n_embd=32, n_layer=2, n_head=4)
    config = transformers.GPT2Config(
        **{**sizes, **extra}, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None
    )
    return kind(config).eval()


def test_gpt2_attention_is_causal_and_the_classifier_reads_the_last_real_token():
    model = gpt2()
    wrapped = from_hf(model)
    tokens = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 10, 11, 12]])
    out = wrapped(tokens)
    above = torch.ones(5, 5, dtype=torch.bool).triu(1)
    assert not out.attentions[..., above].any()  # no position sees a later one
    library = copy.deepcopy(model)
    library.set_attn_implementation("eager")
    assert_close(out.logits, library(tokens).logits, "next-token logits")
    assert not Rollout(wrapped).attribute(tokens, position=2)[:, 3:].any()  # nor does any path through layers

    classifier = gpt2(transformers.GPT2ForSequenceClassification, num_labels=2, pad_token_id=0)
    wrapped = from_hf(classifier, baseline_id=1)
    assert wrapped.readout == "last"
    padded = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 10, 0, 0]])
    library = copy.deepcopy(classifier)
    library.set_attn_implementation("eager")
    expected = library(padded, attention_mask=(padded != 0).long()).logits  # transformers reads the last real token
    assert_close(wrapped(padded).logits, expected, "sequence classifier")


def test_patching_a_large_vocabulary_takes_fewer_sequences_per_pass(rationale_pair):
    # 2048 sequences of 16 tokens over GPT-2's 50257-token vocabulary would be 6.6 GB of logits in one pass
    wrapped = from_hf(gpt2(vocab_size=50257, n_layer=1))
    per_pass = fitting_batch(wrapped, 16)
    assert 1 <= per_pass < MAX_BATCH and per_pass * 16 * 50257 * 4 <= 2**28  # at most 256 MB of float32 logits
    assert fitting_batch(rationale_pair[1], 16) == MAX_BATCH  # a classifier's few logits change nothing


def test_attention_methods_read_the_row_a_causal_classifier_decides_from():
    wrapped = from_hf(gpt2(transformers.GPT2ForSequenceClassification, num_labels=2, pad_token_id=0))
    same_length = torch.tensor([[3, 4, 5, 6], [8, 9, 10, 11]])
    with pytest.raises(ValueError, match="classifies from position 3, not 0"):
        Rollout(wrapped).attribute(same_length)  # row 0 of a causal model sees only its first token
    assert Rollout(wrapped).attribute(same_length, position=3).shape == (2, 4)
    ragged = torch.tensor([[3, 4, 5, 6], [8, 9, 0, 0]])
    with pytest.raises(ValueError, match=r"position \[1, 3\]"):
        GradWeightedRollout(wrapped).attribute(ragged, position=3)
    assert LRP(wrapped, rule="cp").attribute(ragged).shape == (2, 4)  # gradient methods explain the logit itself


def test_integrated_gradients_refuses_a_model_without_a_baseline_token():
    wrapped = from_hf(gpt2())  # GPT-2 has no pad token
    with pytest.raises(ValueError, match="baseline_id"):
        IntegratedGradients(wrapped)
    tokens = torch.tensor([[3, 4, 5, 6]])
    chosen = from_hf(gpt2(), baseline_id=2)
    scores, delta = IntegratedGradients(chosen, n_steps=64).attribute(tokens, position=3, return_convergence_delta=True)
    assert scores.shape == (1, 4) and float(delta.abs().max()) < 0.05 * float(scores.abs().sum())  # completeness


def read_only_patterns(model: TinyTransformer) -> TinyTransformer:
    """Pattern hooks as some backends have them (TransformerLens 4's BERT bridge): what a hook returns is dropped."""

    class ReadOnly(HookPoint):
        def forward(self, x):
            super().forward(x)
            return x

    for block in model.blocks:
        block.attn.hook_pattern = ReadOnly()
    model.setup_hooks()
    return model


def test_a_backend_that_ignores_pattern_edits_is_refused_the_methods_that_make_them(rationale_pair, batch):
    assert rationale_pair[1].pattern_writable and from_hf(bert()).pattern_writable
    model = mark_pattern_liveness(read_only_patterns(TinyTransformer(preset("nano", vocab_size=20, max_len=8))))
    assert model.pattern_writable is False
    tokens = torch.tensor([[1, 5, 6, 7]])
    with pytest.raises(ValueError, match="read-only"):
        LRP(model, rule="attnlrp")
    with pytest.raises(ValueError, match="read-only"):
        with replace_attention(model, "uniform"):
            pass
    assert Rollout(model).attribute(tokens).shape == (1, 4)  # reading still works
    assert LRP(model, rule="cp").attribute(tokens).shape == (1, 4)  # CP-LRP never edits the pattern


def test_a_model_saved_to_a_folder_loads_offline_and_a_hub_name_fails_at_once(
    rationale_pair, batch, tmp_path, monkeypatch
):
    course, wrapped = rationale_pair

    def no_network(*args, **kwargs):
        raise AssertionError("the loader tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    wrapped.hf.save_pretrained(tmp_path / "copy")
    loaded = load_hf(tmp_path / "copy", causal=False, readout=0)
    assert_close(loaded(batch).logits, course(batch).logits, "reloaded logits")
    with pytest.raises(FileNotFoundError, match="offline from local folders"):
        load_hf("gpt2")


def test_an_unsupported_model_is_refused_with_the_supported_list():
    with pytest.raises(TypeError, match="GPT2LMHeadModel"):
        from_hf(gpt2(transformers.GPT2Model))


def test_without_transformers_every_module_imports_and_from_hf_says_what_to_install():
    code = (
        "import importlib, pkgutil, sys\n"
        "sys.modules['transformers'] = None  # what an install without the extra has\n"
        "import attnlab\n"
        "for module in pkgutil.walk_packages(attnlab.__path__, 'attnlab.'):\n"
        "    importlib.import_module(module.name)\n"
        "from attnlab.external import from_hf\n"
        "try:\n"
        "    from_hf(object())\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "pip install '.[realmodels]'" in done.stdout
