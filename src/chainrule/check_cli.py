"""The ``chainrule check`` subcommand: ``train.sanity_check`` on the model and data that
``chainrule train`` would build from the same options (registered by ``cli.build_parser``)."""

from __future__ import annotations

import argparse
from typing import Any

import chainrule as cr

_OPTIONS = ("data", "hidden", "activation", "dropout", "batchnorm", "reg", "seed")


def register(sub: Any) -> None:
    """Add ``check`` to the ``chainrule`` subparsers."""
    from chainrule import cli

    d = cli.TRAIN_DEFAULTS
    p = sub.add_parser(
        "check",
        help="sanity-check the model and data that train would use",
        description=(
            "Run CS231n's sanity checks on the model and data that `chainrule train` builds "
            "from the same options: labels, NaN/inf, class balance, standardization, the "
            "initial loss against ln(C), regularization raising the loss, a float64 gradcheck, "
            "and overfitting 20 samples. Prints PASS/FAIL per check; exit status 0 if all pass, "
            "1 otherwise."
        ),
    )
    p.add_argument("--data", type=cli._data_spec, default=d["data"], metavar="SPEC",
                   help=f"dataset, as for train (default: {d['data']})")  # fmt: skip
    p.add_argument("--hidden", type=cli._positive_int, nargs="+", default=d["hidden"],
                   metavar="H", help="hidden layer sizes (default: 100)")  # fmt: skip
    p.add_argument("--activation", choices=cli.ACTIVATIONS, default=d["activation"])
    p.add_argument("--dropout", type=cli._probability, default=d["dropout"], metavar="P")
    p.add_argument("--batchnorm", action="store_true", default=d["batchnorm"])
    p.add_argument("--reg", type=cli._nonneg_float, default=d["reg"],
                   help=f"L2 strength (default: {d['reg']:g})")  # fmt: skip
    p.add_argument("--seed", type=int, default=d["seed"], help="seed of the initial weights")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    """``chainrule check``: 0 if every check passes, 1 otherwise."""
    from chainrule import cli

    config = {**cli.TRAIN_DEFAULTS, **{k: getattr(args, k) for k in _OPTIONS}}
    splits, _ = cr.data.load_splits(config["data"])
    config.update(input_dim=splits.input_dim, num_classes=splits.num_classes)
    model = cli.build_model(config)
    print(f"{config['data']}: {len(splits.train[1])} training samples; model "
          f"{config['input_dim']}-{'-'.join(map(str, config['hidden']))}-"
          f"{config['num_classes']} {config['activation']} MLP, reg {config['reg']:g}")  # fmt: skip
    report = cr.train.sanity_check(
        model, splits.train, num_classes=splits.num_classes, reg=config["reg"]
    )
    print("all checks passed" if report.passed else
          f"{sum(not c.passed for c in report.checks)} of {len(report.checks)} "
          "checks failed")  # fmt: skip
    return 0 if report.passed else 1
