"""The ``chainrule check`` subcommand: ``train.sanity_check`` on the model and data that
``chainrule train`` would build from the same options (registered by ``cli.build_parser``)."""

from __future__ import annotations

import argparse
from typing import Any

import chainrule as cr
from chainrule.train import convnet

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
    p.add_argument("--activation", choices=cli.ACTIVATIONS, default=d["activation"],
                   help="hidden-layer nonlinearity (default: relu)")  # fmt: skip
    p.add_argument("--dropout", type=cli._probability, default=d["dropout"], metavar="P",
                   help="drop probability after each hidden layer (default: 0)")  # fmt: skip
    p.add_argument("--batchnorm", action="store_true", default=d["batchnorm"],
                   help="batch normalization after each hidden Linear layer")  # fmt: skip
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


def add_train_options(p: argparse.ArgumentParser) -> None:
    """``train``'s --diagnose, --diagnose-every and --find-lr."""
    from chainrule import cli

    p.add_argument("--diagnose", action="store_true",
                   help="record per-layer and per-parameter diagnostics to diagnostics.jsonl"
                   " and diagnostics.html in the run directory, warnings each epoch")  # fmt: skip
    p.add_argument("--diagnose-every", type=cli._positive_int, default=200, metavar="N",
                   help="with --diagnose, sample every N steps (default: 200)")  # fmt: skip
    p.add_argument("--find-lr", action="store_true",
                   help="instead of training, run the learning-rate range test on a copy of "
                   "the model, write lr_find.png to the current directory and suggest a "
                   "learning rate (no run directory is made)")  # fmt: skip


def train_callbacks(args: argparse.Namespace) -> list[Any]:
    """The callbacks ``train``'s options ask for: none unless --diagnose."""
    return [cr.train.Diagnostics(every=args.diagnose_every)] if args.diagnose else []


def cmd_find_lr(args: argparse.Namespace) -> int:
    """``chainrule train --find-lr``: the range test on the model train would build."""
    from chainrule import cli

    if args.resume is not None:
        raise cli.UsageError("--find-lr starts from a fresh model: drop --resume")
    given = {k: getattr(args, k) for k in cli.TRAIN_DEFAULTS if getattr(args, k) is not None}
    config = {**cli.TRAIN_DEFAULTS, **given}
    images = convnet.is_convnet(config)  # --conv: a convnet on the images in their shape
    if images and (why := convnet.check(config)) is not None:
        raise cli.UsageError(why)
    splits, _ = cr.data.load_splits(config["data"], images=images)
    config.update(input_dim=splits.input_dim, num_classes=splits.num_classes)
    config["image_shape"] = list(splits.train[0].shape[1:])
    model = cli.build_model(config)
    result = cr.train.find_lr(
        model,
        splits.train,
        optimizer=config["optimizer"],
        batch_size=config["batch_size"],
        reg=config["reg"],
        seed=config["seed"],
        plot="lr_find.png",
    )
    i = min(range(len(result.losses)), key=lambda j: result.losses[j])
    print(f"{config['optimizer']}: {len(result.lrs)} steps from lr {result.lrs[0]:.2g} to "
          f"{result.lrs[-1]:.3g}, {result.stopped}; lowest smoothed loss {result.losses[i]:.3f} "
          f"at lr {result.lrs[i]:.3g}")  # fmt: skip
    print(f"suggested learning rate: {result.suggestion:.2g} (--lr {result.suggestion:.2g}); "
          "plot: lr_find.png")  # fmt: skip
    return 0
