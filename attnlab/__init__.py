"""attnlab: the library behind the attention-interpretability course.

models        TinyTransformer with hook points (explicit attention, (L, B, H, T, T) attentions)
interventions replace or permute attention, mask heads, hide keys, erase tokens
tasks         seeded synthetic data with known ground truth (rationale task, toy language)
train         deterministic training of the course's mini-models, and their evaluation
zoo           the course's models: five recipes, the checkpoint cache, the shipped checkpoints and bands
attribution   one score per token, one API across methods (raw attention, rollout, flow,
              gradient-weighted attention, Grad-CAM, LRP, gradients, leave-one-out, random)
faithfulness  erasure metrics, permuted/adversarial attention, attention mass on the rationale
probing       probes on hidden states and attention, control tasks, single heads, head ablation
patching      activation, path and attribution patching; zero, mean and resample ablation
plots         figures with the words on the axes
checks        exercise checks that explain what is wrong
selfcheck     the last cell of every notebook: check the saved notebook as the grader will
protocol      what the grader and the library share: the recording switch, records, exit statuses

Import from the modules themselves (`from attnlab.models import TinyTransformer`): importing the
package imports nothing, so the quiz's self-check cell (attnlab.selfcheck) starts without torch.
"""
