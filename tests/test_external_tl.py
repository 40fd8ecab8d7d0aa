"""attnlab's methods on TransformerLens models (attnlab.external.from_tl): the course's trained checkpoints
copied into a TransformerLens 4 bridge of the same architecture (boot_native, built from a config) give
attnlab's own numbers for every method and patching kind; TL 4's BERT bridge, built offline from a local
random-init BERT, reads exactly what transformers computes and is refused the edits it would ignore.
Nothing is downloaded."""

import copy
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformer_lens")
transformers = pytest.importorskip("transformers")

# The same float32 tolerance as the Hugging Face adapter's, and its tests of the copies that hold as they are
# for TL's (collected here too, with this module's fixtures: the TL copies).
from test_external import (  # noqa: E402, F401
    assert_close,
    assert_same_forward_pass,
    check_every_attribution_method,
    test_a_padded_row_scores_as_the_same_row_alone,
    test_every_patching_kind_gives_the_course_models_numbers_and_the_known_route,
    test_faithfulness_metrics_interventions_and_probing_features_match,
    test_the_copied_checkpoint_computes_the_course_models_forward_pass,
)

from attnlab.attribution import (  # noqa: E402
    LRP,
    GradWeightedRollout,
    IntegratedGradients,
    Rollout,
    grad_weighted_rollout,
)
from attnlab.external import from_tl  # noqa: E402
from attnlab.external.copy import tl_copy  # noqa: E402
from attnlab.interventions import block_keys, replace_attention  # noqa: E402
from attnlab.patching.activation import MAX_BATCH, fitting_batch  # noqa: E402
from attnlab.train import multihop_model, rationale_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TL_MAJOR = int(version("transformer-lens").split(".")[0])


def wrap_copy(course, backend):
    if backend == "bridge" and TL_MAJOR < 4:
        pytest.skip(
            "TL 3.9's native bridge ignores pattern edits, which the adapter refuses (as on TL 4's BERT bridge)"
        )
    if backend == "hooked":
        try:
            from transformer_lens import HookedTransformer  # noqa: F401
        except ImportError:
            pytest.skip("TL 3's HookedTransformer: TransformerLens 4 removed it")
    return from_tl(tl_copy(course, backend), head=course.cfg.head, readout=0, pad_id=course.cfg.pad_id)


# Every test of the copies runs on TL 4's bridge and, where TransformerLens 3 is installed, on its HookedTransformer.
@pytest.fixture(scope="module", params=["bridge", "hooked"])
def rationale_pair(request):
    course = rationale_model().model.eval()
    return course, wrap_copy(course, request.param)


@pytest.fixture(scope="module", params=["bridge", "hooked"])
def multihop_pair(request):
    course = multihop_model().model.eval()
    return course, wrap_copy(course, request.param)


@pytest.fixture(scope="module")
def batch():
    return rationale_model().test.tokens[:24]  # padded rows of several lengths


def test_every_attribution_method_gives_the_course_models_scores(rationale_pair, batch):
    course, wrapped = rationale_pair
    # The native bridge keeps its unembedding bias as a buffer, not a parameter: the one bias not counted there
    is_buffer = any("unembed" in name and name.endswith("bias") for name, _ in wrapped.tl.named_buffers())
    uncounted = course.head.bias[course(batch[:4]).logits.argmax(-1)] if is_buffer else 0.0
    check_every_attribution_method(course, wrapped, batch, uncounted)


def test_the_embeddings_and_what_the_probes_found(rationale_pair, batch):
    course, wrapped = rationale_pair
    assert_close(wrapped.embed(batch), course.embed(batch), "embeddings")  # what block 0 reads, positions included
    # A bridge fires its scores hook after the fact: attnlab's hook_scores is derived from the pattern there
    assert wrapped.scores_live == (type(wrapped.tl).__name__ == "HookedTransformer") and wrapped.pattern_writable


def test_an_edit_of_the_scores_takes_effect_as_on_the_course_model(rationale_pair, batch):
    course, wrapped = rationale_pair
    hidden = torch.zeros_like(batch, dtype=torch.bool)
    hidden[:, 1:3] = True
    with block_keys(wrapped, hidden), block_keys(course, hidden):  # edits hook_scores, dead in a bridge
        blocked = wrapped(batch).logits
        assert_close(blocked, course(batch).logits, "keys blocked")
    assert (blocked - wrapped(batch).logits).abs().max() > 0.1  # the edit took effect


def causal_bridge(vocabulary: int):
    """A random-init causal TL bridge (boot_native, seeded): 2 layers, 4 heads, d_model 32."""
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    config = TransformerBridgeConfig(
        d_model=32, d_head=8, n_heads=4, n_layers=2, n_ctx=16, d_vocab=vocabulary, d_mlp=64, act_fn="gelu",
        normalization_type="LN", attention_dir="causal", seed=0,
    )  # fmt: skip
    return TransformerBridge.boot_native(config)


def test_a_causal_model_attends_backwards_and_its_classifier_reads_the_last_real_token():
    model = causal_bridge(40)
    wrapped = from_tl(model)
    tokens = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 10, 11, 12]])
    out = wrapped(tokens)
    assert not out.attentions[..., torch.ones(5, 5, dtype=torch.bool).triu(1)].any()  # no position sees a later one
    with torch.no_grad():
        assert_close(out.logits, model(tokens), "next-token logits")
    assert not Rollout(wrapped).attribute(tokens, position=2)[:, 3:].any()  # nor does any path through layers
    classifier = from_tl(model, head="cls", pad_id=0, baseline_id=1)
    assert classifier.readout == "last"
    padded = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 10, 0, 0]])
    with torch.no_grad():
        expected = model(padded)[torch.arange(2), torch.tensor([4, 2])]  # each row's last real token
    assert_close(classifier(padded).logits, expected, "read at the last real token")


def test_patching_a_large_vocabulary_takes_fewer_sequences_per_pass_even_for_a_classifier():
    model = causal_bridge(50257)
    # 2048 sequences of 16 tokens over GPT-2's vocabulary would be 6.6 GB of logits in one pass, and TL
    # computes them at every position even when a classifier reads one
    for head in ("token", "cls"):
        per_pass = fitting_batch(from_tl(model, head=head), 16)
        assert 1 <= per_pass < MAX_BATCH and per_pass * 16 * 50257 * 4 <= 2**28  # at most 256 MB of float32 logits


def test_integrated_gradients_refuses_a_model_without_a_baseline_token(rationale_pair):
    _, wrapped = rationale_pair
    no_pad = from_tl(wrapped.tl, head="cls")  # TL models have no pad token of their own
    with pytest.raises(ValueError, match="baseline_id"):
        IntegratedGradients(no_pad)
    with pytest.raises(ValueError, match="baseline_id=-1 is not a token"):  # TL would embed the last row
        from_tl(wrapped.tl, head="cls", baseline_id=-1)
    chosen = from_tl(wrapped.tl, head="cls", baseline_id=wrapped.cfg.pad_id)
    tokens = rationale_model().test.tokens[:2]
    scores, delta = IntegratedGradients(chosen, n_steps=64).attribute(tokens, return_convergence_delta=True)
    assert scores.shape == tokens.shape and float(delta.abs().max()) < 0.05 * float(scores.abs().sum())


def bert_bridge(folder: Path):
    """TL 4's bridge around a random-init BertForMaskedLM saved to `folder` (the bridge loads it offline),
    and transformers' own eager model of the same weights, loaded from the same folder."""
    from transformer_lens.model_bridge import TransformerBridge

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=30, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=0,
        initializer_range=0.3,  # larger than BERT's 0.02, so the random model's output depends on its input
    )  # fmt: skip
    transformers.BertForMaskedLM(config).save_pretrained(folder)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(25)]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    transformers.BertTokenizerFast(str(folder / "vocab.txt")).save_pretrained(folder)  # TL wants one on disk
    library = transformers.BertForMaskedLM.from_pretrained(folder, local_files_only=True).eval()
    library.set_attn_implementation("eager")
    return TransformerBridge.boot_transformers(str(folder)), library


BERT_TOKENS = torch.tensor([[2, 5, 6, 7, 8, 3], [2, 5, 9, 3, 0, 0], [2, 7, 7, 4, 3, 0]])  # [CLS]=2, [PAD]=0


def test_a_read_only_pattern_reads_exactly_and_is_refused_every_edit(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bridge, library = bert_bridge(tmp_path)
    wrapped = from_tl(bridge, pad_id=0)
    assert wrapped.pattern_writable is False and wrapped.scores_live is False  # TL 4's BERT bridge
    mask = BERT_TOKENS != 0
    out = assert_same_forward_pass(wrapped, library, BERT_TOKENS, mask)
    position, token = 1, out.logits[:, 1].argmax(-1)  # explain the prediction at position 1
    chosen = out.logits[torch.arange(3), position, token].sum()
    grads = torch.autograd.grad(chosen, out.attentions)
    expected = grad_weighted_rollout(torch.stack(out.attentions).detach(), torch.stack(grads))[:, position] * mask
    scores = GradWeightedRollout(wrapped).attribute(BERT_TOKENS, target=token, position=position)
    assert_close(scores, expected, "grad-weighted rollout")
    with pytest.raises(ValueError, match="read-only"):
        LRP(wrapped, rule="attnlrp")
    with pytest.raises(ValueError, match="read-only"):
        with replace_attention(wrapped, "uniform"):
            pass
    with pytest.raises(ValueError, match="read-only"), block_keys(wrapped, BERT_TOKENS == 5):
        wrapped(BERT_TOKENS)  # an edit of the scores, which the bridge would drop too
    assert LRP(wrapped, rule="cp").attribute(BERT_TOKENS, position=position).shape == (3, 6)  # CP-LRP edits nothing


def test_a_live_scores_hook_masks_the_padding_as_transformers_does(tmp_path, monkeypatch):
    # TL 4's GPT-2 bridge, unlike its native and BERT ones, computes attention through its scores hook:
    # the adapter masks padded keys there and gives TL no attention_mask (the path TL 3 takes too)
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformer_lens.model_bridge import TransformerBridge

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=40, n_positions=16, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path)
    words = Tokenizer(WordLevel({f"w{i}": i for i in range(40)}, unk_token="w1"))
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=words, bos_token="w0", eos_token="w0")
    tokenizer.save_pretrained(tmp_path)  # TL 4 reads its tokenizer from the folder (an in-memory one crashes it)
    library = transformers.GPT2LMHeadModel.from_pretrained(tmp_path, local_files_only=True).eval()
    library.set_attn_implementation("eager")
    wrapped = from_tl(TransformerBridge.boot_transformers(str(tmp_path)), pad_id=39, baseline_id=2)
    assert wrapped.scores_live and wrapped.pattern_writable
    tokens = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 10, 39, 39]])
    out = library(tokens, attention_mask=(tokens != 39).long(), output_attentions=True)
    mine = wrapped(tokens)
    real = (tokens != 39)[..., None]
    assert_close(mine.logits * real, out.logits * real, "logits at real tokens")
    for l, attention in enumerate(out.attentions):
        assert_close(mine.attentions[l], attention, f"layer {l} attention")
    for method in (Rollout(wrapped), GradWeightedRollout(wrapped), LRP(wrapped)):
        padded = method.attribute(tokens, position=2)[1]
        assert_close(padded[:3], method.attribute(tokens[1:, :3], position=2)[0], method.name)
        assert not padded[3:].any()


def test_what_is_not_a_transformerlens_model_is_refused_with_a_message():
    with pytest.raises(TypeError, match="TransformerLens-style"):
        from_tl(copy.deepcopy(rationale_model().model))  # attnlab's own model, which needs no wrapping


def test_without_transformer_lens_every_module_imports_and_from_tl_says_what_to_install():
    code = (
        "import importlib, pkgutil, sys\n"
        "sys.modules['transformer_lens'] = None  # what an install without the extra has\n"
        "import attnlab\n"
        "for module in pkgutil.walk_packages(attnlab.__path__, 'attnlab.'):\n"
        "    importlib.import_module(module.name)\n"
        "from attnlab.external import from_tl\n"
        "try:\n"
        "    from_tl(object())\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "pip install '.[transformerlens]'" in done.stdout
