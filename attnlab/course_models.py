"""
The trained models the lessons load, and the checkpoints of them the course ships in attnlab/checkpoints/.

Every lesson loads its models through `attnlab.train` (or `attnlab.faithfulness.variants`), which
takes a shipped checkpoint when one matches the model's key, so a fresh clone trains nothing. The
checkpoints are made by the course's own training code; after a change to a model, its data or its
training, regenerate them (every model trained from scratch, on one thread, a few minutes in all):

    python -m attnlab.course_models --regenerate      # or: make checkpoints

A file holds the weights and the held-out metrics only, so on the machine that made them,
regenerating writes the same bytes: `git diff --exit-code attnlab/checkpoints` after `make
checkpoints` checks that the shipped models are exactly what the code trains.
`python -m attnlab.course_models` alone lists the models and where each one comes from.

Retraining on another CPU is only statistically the same: PyTorch picks its CPU kernels by the
processor (ATEN_CPU_CAPABILITY: default, avx2, avx512 on x86-64; default and SVE on ARM), and the
linear-algebra library its own code paths by the processor model, so float sums are rounded in other
orders and training, being chaotic, ends up elsewhere, as it does with another seed. So a retrained
model's figures are compared not with the shipped model of its seed but with what retraining gives:
the range of every retraining measured, over several seeds and kernel settings, widened (the samples
are kept beside the checkpoints, attnlab/checkpoints/bands.json), written by

    python -m attnlab.course_models --measure-bands    # or: make bands
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from attnlab import settings
from attnlab.attribution import RawAttention, Rollout, ranking_auc
from attnlab.faithfulness import rationale_attention_mass
from attnlab.faithfulness.variants import deceptive_model, uniform_attention_model
from attnlab.probing import best_heads, coref_task, head_accuracy
from attnlab.tasks.multihop import MultihopData
from attnlab.tasks.rationale import RationaleData
from attnlab.tasks.toy_language import NO_LABEL
from attnlab.train import SHIPPED_DIR, TrainedModel, multihop_model, rationale_model, toy_language_model

BANDS_FILE = SHIPPED_DIR / "bands.json"
BAND_SEEDS = (0, 1, 2, 3, 4, 5)
# A retraining elsewhere is one more draw from what retraining gives. Of n draws a new one falls outside
# their range with probability 2/(n+1) (1 in 8 for n = 15), far too often for a test of 50 figures: the
# band widens the range by its own width either side, about 5 standard deviations of a normal figure
# measured 15 times, so a test fails for a recipe that changed, not for an unlucky CPU.
RANGE_MARGIN = 1.0
# A figure that never moved while measured (verb agreement at 100%, say) still may by an example or two
# of the 1,000 held-out sentences on another CPU: no band is narrower than this either side.
BAND_FLOOR = 0.005


@dataclass(frozen=True)
class CourseModel:
    name: str  # what the lessons call it
    lessons: str  # the lessons that load it
    seed: int
    recipe: str  # the training code that makes it; models of one recipe differ in size, seed or layers only
    family: str  # the same model but for its seed: its retrainings under other seeds share one band
    make: Callable[[int], TrainedModel]  # seed -> the model, with the lessons' other arguments

    def load(self) -> TrainedModel:
        return self.make(self.seed)


# (family, recipe, make); the lessons load the first five with three seeds (lesson 02's honest and
# deceptive twins, 2 and 3 layers, and lesson 04's masked language model), the others with seed 0.
FAMILIES: list[tuple[str, str, Callable[[int], TrainedModel]]] = [
    ("rationale classifier, nano", "classifier", lambda seed: rationale_model(seed=seed)),
    ("rationale classifier, micro", "classifier", lambda seed: rationale_model(seed=seed, size="micro")),
    ("deceptive classifier, nano", "deceptive", lambda seed: deceptive_model(seed=seed, lam=0.1)),
    ("deceptive classifier, micro", "deceptive", lambda seed: deceptive_model(seed=seed, lam=0.1, size="micro")),
    ("toy-language masked LM", "masked LM", lambda seed: toy_language_model(seed=seed)),
    ("uniform attention, every layer", "uniform attention", lambda seed: uniform_attention_model(seed=seed).trained),
    (
        "uniform attention, last layer",
        "uniform attention",
        lambda seed: uniform_attention_model(seed=seed, layers=[-1]).trained,
    ),
    ("multi-hop classifier", "multi-hop", lambda seed: multihop_model(seed=seed)),
]


def _lessons(family: str, seed: int) -> str:
    if family.startswith("toy-language"):
        return "04"
    if family.startswith("multi-hop"):
        return "03"
    return "00-03" if (family, seed) == ("rationale classifier, nano", 0) else "02"


COURSE_MODELS: list[CourseModel] = [
    CourseModel(f"{family}, seed {seed}", _lessons(family, seed), seed, recipe, family, make)
    for seed in (0, 1, 2)
    for family, recipe, make in FAMILIES[:5]
] + [CourseModel(family, _lessons(family, 0), 0, recipe, family, make) for family, recipe, make in FAMILIES[5:]]


def headline_figures(trained: TrainedModel) -> dict[str, float]:
    """The figures the lessons build on, beyond the stored metrics, measured on the held-out data."""
    model, test = trained.model, trained.test
    with torch.no_grad():
        out = model(test.tokens)
    if isinstance(test, MultihopData):  # lesson 03: rollout recovers the source raw attention misses
        data = test.subset(slice(0, 400))
        words = data.mask.clone()
        words[:, 0] = False
        auc = {
            name: ranking_auc(method.attribute(data.tokens), data.rationale, words).nanmean().item()
            for name, method in (("raw", RawAttention(model)), ("rollout", Rollout(model)))
        }
        return {"auc: rollout minus raw attention": auc["rollout"] - auc["raw"]}
    if isinstance(test, RationaleData):  # lessons 01-02: how much [CLS] attends to the rationale
        mass = rationale_attention_mass(out.attentions, test.rationale)
        return {"share: last-layer [CLS] attention on the rationale": mass.mean().item()}
    # lesson 04: the best single coreference head, its pronouns hidden
    hidden = test.tokens.masked_fill(test.antecedent != NO_LABEL, test.vocab.mask_id)
    with torch.no_grad():
        accuracy = head_accuracy(model(hidden).attentions, coref_task(test))
    ((_, _, best),) = best_heads(accuracy, 1)
    return {"share: best coreference head": float(best)}


def figures(trained: TrainedModel) -> dict[str, float]:
    """Everything the retraining test compares: the stored held-out metrics and the headline figures."""
    return {**trained.metrics, **headline_figures(trained)}


@contextmanager
def trained_from_scratch() -> Iterator[Path]:
    """Every model loaded inside is trained anew, into a scratch cache (yielded) that is removed after."""
    with tempfile.TemporaryDirectory() as scratch:
        # "own": never copy a shipped checkpoint onto itself
        with settings.overridden(cache_dir=scratch, checkpoints="own"):
            yield Path(scratch)


def regenerate(folder: Path = SHIPPED_DIR) -> None:
    """Train every course model from scratch into an empty cache, then make `folder` hold exactly those files."""
    with trained_from_scratch() as scratch:
        start = time.process_time()
        for entry in COURSE_MODELS:
            trained = entry.load()
            print(f"{entry.name:<40} {trained.summary()}", flush=True)
        print(f"trained {len(COURSE_MODELS)} models in {time.process_time() - start:.0f} s of CPU time")
        made = sorted(scratch.glob("*.pt"))
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.pt"):
            stale.unlink()
        for file in made:
            shutil.copyfile(file, folder / file.name)
    size = sum(f.stat().st_size for f in folder.glob("*.pt"))
    print(f"{len(made)} checkpoints in {folder} ({size / 2**20:.1f} MB)")


# -----------------------------------------------------------------------------
# PyTorch's CPU kernels, and the bands a retrained model's figures fall in


def _cpu_flags() -> set[str]:
    """The processor's feature flags from /proc/cpuinfo (x86 "flags", ARM "Features"); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def capability_under(setting: str | None) -> str:
    """The kernels a fresh Python process uses with ATEN_CPU_CAPABILITY=setting (None: unset, the
    machine's own), lower case as the variable spells them: PyTorch ignores a setting the CPU lacks."""
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    if setting is not None:
        env["ATEN_CPU_CAPABILITY"] = setting
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip().lower()


def kernel_settings() -> list[str]:
    """Every ATEN_CPU_CAPABILITY setting this machine runs, the machine's own included: the candidates
    its architecture (`uname -m`) and CPU flags offer, each kept only if PyTorch really uses it."""
    machine, flags = platform.machine().lower(), _cpu_flags()
    candidates = ["default"]
    if machine in ("x86_64", "amd64"):
        candidates += ["avx2"] if "avx2" in flags else []
        candidates += ["avx512"] if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags else []
    elif machine in ("aarch64", "arm64") and "sve" in flags:
        candidates += ["sve128", "sve256", "sve512"]  # PyTorch builds accept some of these; checked below
    return [setting for setting in candidates if capability_under(setting) == setting]


def measure_figures(seeds: tuple[int, ...], families: list[str]) -> Iterator[dict]:
    """`families` retrained with each seed under this process's kernels: {family, seed, kernels, figures}."""
    kernels = torch.backends.cpu.get_cpu_capability().lower()
    with trained_from_scratch():
        for family, _, make in FAMILIES:
            for seed in seeds if family in families else ():
                yield {"family": family, "seed": seed, "kernels": kernels, "figures": figures(make(seed))}


def shipped_samples() -> list[dict]:
    """The shipped models are retrainings too, on the machine and kernels that made them: a sample each."""
    samples = []
    for entry in COURSE_MODELS:
        trained = entry.load()
        if trained.source != "shipped":
            raise RuntimeError(f"{entry.name} is not shipped: run `make checkpoints` first")
        samples.append({"family": entry.family, "seed": entry.seed, "kernels": "shipped", "figures": figures(trained)})
    return samples


def _retrained_under(setting: str, seeds: tuple[int, ...], family: str) -> list[dict]:
    env = os.environ | {"ATEN_CPU_CAPABILITY": setting, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "attnlab.course_models", "--figures", "--seeds", *map(str, seeds)]
    done = subprocess.run([*command, "--families", family], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"retraining {family} under {setting} kernels failed:\n{done.stderr[-2000:]}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if {row["kernels"] for row in rows} != {setting}:
        raise RuntimeError(f"asked for {setting} kernels, trained with {sorted({row['kernels'] for row in rows})}")
    return rows


def band_limits(samples: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    """{family: {figure: (low, high)}}: where a retraining of the family may land, whatever its seed and
    CPU. The range of the family's samples (shipped and retrained, every seed and setting), widened
    either side by RANGE_MARGIN x its width, never less than BAND_FLOOR."""
    values: dict[str, dict[str, list[float]]] = {}
    for row in samples:
        for figure, value in row["figures"].items():
            values.setdefault(row["family"], {}).setdefault(figure, []).append(value)
    limits: dict[str, dict[str, tuple[float, float]]] = {}
    for family, by_figure in values.items():
        for figure, seen in by_figure.items():
            margin = max(BAND_FLOOR, RANGE_MARGIN * (max(seen) - min(seen)))
            limits.setdefault(family, {})[figure] = (min(seen) - margin, max(seen) + margin)
    return limits


def _write_bands(samples: list[dict], path: Path) -> dict:
    bands = {
        "written_by": "python -m attnlab.course_models --measure-bands (make bands); never edit by hand",
        "torch": torch.__version__,
        "range_margin": RANGE_MARGIN,
        "floor": BAND_FLOOR,
        "limits": band_limits(samples),  # for reading; load_bands computes them from the samples
        "samples": samples,  # kernels "shipped": the checkpoint; else the ATEN_CPU_CAPABILITY it was retrained with
    }
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(bands, indent=1) + "\n")
    os.replace(tmp, path)  # a test reading the bands meanwhile sees the old file or the new one
    return bands


def measure_bands(
    settings: list[str] | None = None,
    seeds: tuple[int, ...] = BAND_SEEDS,
    families: list[str] | None = None,
    jobs: int = 1,
    path: Path = BANDS_FILE,
) -> dict:
    """Retrain `families` (default: all) with `seeds` under each kernel setting (default: every one this
    machine runs), `jobs` processes at once, and write every figure's band to `path`: from these
    samples, the shipped models' and the samples `path` already holds of other settings, seeds or families."""
    settings = settings or kernel_settings()
    families = families or [family for family, _, _ in FAMILIES]
    unknown = set(families) - {family for family, _, _ in FAMILIES}
    if unknown:
        raise SystemExit(f"no such model family: {', '.join(sorted(unknown))}")
    kept = json.loads(path.read_text())["samples"] if path.exists() else []
    remeasured = {(f, s, k) for f in families for s in seeds for k in settings}
    samples = shipped_samples() + [
        row
        for row in kept
        if row["kernels"] != "shipped" and (row["family"], row["seed"], row["kernels"]) not in remeasured
    ]
    _write_bands(samples, path)
    tasks = [(setting, family) for setting in settings for family in families]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for rows in pool.map(lambda task: _retrained_under(task[0], seeds, task[1]), tasks):
            samples += rows
            _write_bands(samples, path)  # kept as they come: an interrupted run loses one family
    return _write_bands(samples, path)


Limits = dict[str, dict[str, tuple[float, float]]]


def load_bands(path: Path = BANDS_FILE) -> tuple[dict[tuple[str, int], dict[str, float]], Limits]:
    """({(family, seed): the shipped model's figures when measured}, {family: {figure: (low, high)}})."""
    samples = json.loads(path.read_text())["samples"]
    shipped = {(row["family"], row["seed"]): row["figures"] for row in samples if row["kernels"] == "shipped"}
    return shipped, band_limits(samples)


def print_spreads(bands: dict) -> None:
    """A markdown table of each figure's samples by kernels and seed, and its band (benchmarks/RESULTS.md)."""
    columns = (
        "model",
        "figure",
        "samples (kernels: seeds in order)",
        "spread over seeds",
        "change of kernels, same seed",
    )
    print("| " + " | ".join(columns) + " | band |")
    print("|---|---|---|---|---|---|")
    limits = band_limits(bands["samples"])
    for family, _, _ in FAMILIES:
        mine = [row for row in bands["samples"] if row["family"] == family]
        for figure in mine[0]["figures"] if mine else ():
            by: dict[str, dict[int, float]] = {}
            for row in mine:
                by.setdefault(row["kernels"], {})[row["seed"]] = row["figures"][figure]
            cells = "; ".join(
                f"{kernels}: " + ", ".join(f"{v:.3f}" for _, v in sorted(seeds.items()))
                for kernels, seeds in by.items()
            )
            seed_spread = max((max(v.values()) - min(v.values()) for v in by.values() if len(v) > 1), default=0.0)
            kernel_change = 0.0
            for seed in {seed for v in by.values() for seed in v}:
                same_seed = [v[seed] for v in by.values() if seed in v]
                kernel_change = max(kernel_change, max(same_seed) - min(same_seed))
            low, high = limits[family][figure]
            print(
                f"| {family} | {figure} | {cells} | {seed_spread:.3f} | {kernel_change:.3f} | {low:.3f} to {high:.3f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description="The course's trained models and their shipped checkpoints.")
    parser.add_argument(
        "--regenerate", action="store_true", help="train every model anew and replace the shipped checkpoints"
    )
    parser.add_argument(
        "--measure-bands",
        action="store_true",
        help=f"retrain every model under every seed of --seeds and every CPU kernel setting; write {BANDS_FILE.name}",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=list(BAND_SEEDS), help="seeds of --measure-bands")
    parser.add_argument("--settings", nargs="+", help="kernel settings of --measure-bands (default: every one)")
    parser.add_argument("--families", nargs="+", help="model families of --measure-bands (default: every one)")
    parser.add_argument("--jobs", type=int, default=1, help="retraining processes at once (--measure-bands)")
    parser.add_argument("--print-bands", action="store_true", help=f"the spreads and bands in {BANDS_FILE.name}")
    parser.add_argument("--figures", action="store_true", help="retrain under this process's kernels; JSON lines")
    parser.add_argument("--kernel-settings", action="store_true", help="the ATEN_CPU_CAPABILITY settings this CPU runs")
    args = parser.parse_args()
    if args.regenerate:
        regenerate()
    elif args.measure_bands:
        print_spreads(measure_bands(args.settings, tuple(args.seeds), args.families, args.jobs))
    elif args.print_bands:
        print_spreads(json.loads(BANDS_FILE.read_text()))
    elif args.figures:
        families = args.families or [family for family, _, _ in FAMILIES]
        for row in measure_figures(tuple(args.seeds), families):
            print(json.dumps(row), flush=True)
    elif args.kernel_settings:
        print(" ".join(kernel_settings()))
    else:
        for entry in COURSE_MODELS:
            print(f"{entry.name:<40} lessons {entry.lessons:<12} {entry.load().summary()}")


if __name__ == "__main__":
    main()
