"""`python -m attnlab.zoo`: the course's trained models and their shipped checkpoints (see attnlab.zoo)."""

from __future__ import annotations

import argparse
import json

from attnlab.zoo.bands import BAND_SEEDS, BANDS_FILE, measure_bands, measure_figures, print_spreads
from attnlab.zoo.kernels import kernel_settings
from attnlab.zoo.registry import COURSE_MODELS, FAMILIES
from attnlab.zoo.shipped import regenerate


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
