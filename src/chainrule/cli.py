"""The ``chainrule`` command: ``train``, ``evaluate``, ``demo`` (and ``explain``, from viz).

Every subcommand is dispatched through ``args.func(args)`` and returns the exit status. Bad
arguments and missing or corrupt data print one line on stderr and exit with status 2; an
interrupted training run (Ctrl-C) saves a checkpoint and exits with status 130.

>>> main(["train", "--data", "spiral", "--optimizer", "nope"])
2
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

import chainrule as cr
import chainrule.data
import chainrule.train
from chainrule.data.errors import DataError
from chainrule.train import convnet, runlock, schema

RUN_FORMAT = "chainrule-run/1"
CONFIG = "config.json"
PREPROCESS = "preprocess.safetensors"
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adamw")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid", "maxout")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.02, "rmsprop": 1e-3, "adam": 1e-3, "adamw": 1e-3}
# the defaults of `chainrule train`; None in the parser, so --resume can tell what was given
TRAIN_DEFAULTS: dict[str, Any] = {
    "data": "digits",
    "hidden": [100],
    "conv": [],
    "activation": "relu",
    "dropout": 0.0,
    "batchnorm": False,
    "optimizer": "adam",
    "lr": None,  # DEFAULT_LR of the optimizer
    "reg": 1e-4,
    "schedule": "none",
    "epochs": 20,
    "batch_size": 32,
    "seed": 0,
}
# what a dataset needs instead: the spiral's 210 samples make 7 steps an epoch, and 20 epochs
# of those at Adam's lr 1e-3 end at 58% training accuracy; these reach about 99%
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "spiral": {
        "epochs": 100,
        "lr": {"sgd": 0.5, "momentum": 0.1, "rmsprop": 0.01, "adam": 0.01, "adamw": 0.01},
    },
}


def _dataset_defaults(name: str) -> str:
    """The help text's note of the per-dataset defaults of ``name`` (a TRAIN_DEFAULTS key)."""
    notes = []
    for data, d in DATASET_DEFAULTS.items():
        if name in d:
            v = d[name]
            shown = ", ".join(f"{k} {x:g}" for k, x in v.items()) if isinstance(v, dict) else v
            notes.append(f"{data}: {shown}")
    return "; ".join(notes)


class UsageError(Exception):
    """A bad argument or run directory: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with errors as one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


# -- argument types -----------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _dir_path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory path, got an empty one")
    return Path(text)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _probability(text: str) -> float:
    value = _nonneg_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text!r}")
    return value


def _data_spec(text: str) -> str:
    try:
        cr.data.parse_spec(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


# -- the parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``chainrule`` argument parser with every subcommand.

    >>> build_parser().parse_args(["train", "--hidden", "64", "32"]).hidden
    [64, 32]
    """
    parser = _Parser(
        prog="chainrule",
        description="Backpropagation made real, fast and visible (CS231n Lecture 4).",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {cr.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_train(sub)
    _add_evaluate(sub)
    _add_demo(sub)
    importlib.import_module("chainrule.check_cli").register(sub)  # `check`
    try:
        viz_cli = importlib.import_module("chainrule.viz.cli")  # the `explain` subcommand
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("chainrule.viz"):
            raise
    else:
        viz_cli.register(sub)
    return parser


def _add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar per epoch (default: when stderr is a terminal)",
    )


def _add_train(sub: Any) -> None:
    d = TRAIN_DEFAULTS
    p = sub.add_parser(
        "train",
        help="train a fully-connected net or a convnet on a dataset",
        description=(
            "Train a fully-connected net (or, with --conv, a convnet) with backprop. Each "
            "epoch prints the training and validation loss and accuracy and writes a "
            "checkpoint, metrics.jsonl and "
            "curves.png to --out; the test accuracy is printed at the end. Ctrl-C saves a "
            "checkpoint; --resume continues from it with bitwise the same result."
        ),
        argument_default=None,  # the defaults are in the help texts: None means "not given"
    )
    p.add_argument(
        "--data",
        type=_data_spec,
        metavar="SPEC",
        help=f"dataset: digits (bundled 8x8 UCI digits), spiral (CS231n toy set), mnist:DIR "
        f"(MNIST or Fashion-MNIST IDX files, raw or .gz), cifar10:DIR (binary or python "
        f"release) [default: {d['data']}]",
    )
    p.add_argument(
        "--hidden",
        type=_positive_int,
        nargs="+",
        metavar="H",
        help=f"hidden layer sizes, one per hidden layer [default: {d['hidden'][0]}, the 2-layer "
        "net]",
    )
    p.add_argument(
        "--conv",
        type=_positive_int,
        nargs="+",
        metavar="C",
        help="make it a convnet: one conv3x3-(batchnorm)-relu-maxpool2 block per channel count, "
        "on the images in their shape (digits 1x8x8, MNIST 1x28x28, CIFAR-10 3x32x32, "
        "standardized per channel), then the --hidden FC head; each block halves the image "
        "side (--conv 32 --hidden 100 is CS231n's ThreeLayerConvNet) [default: none, an MLP]",
    )
    p.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        help=f"hidden-layer nonlinearity [default: {d['activation']}]",
    )
    p.add_argument(
        "--dropout",
        type=_probability,
        metavar="P",
        help=f"drop probability after each hidden layer [default: {d['dropout']}]",
    )
    p.add_argument(
        "--batchnorm",
        action="store_const",
        const=True,
        help="batch normalization after each hidden Linear layer",
    )
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        help=f"update rule; momentum is SGD with Nesterov momentum 0.9 [default: {d['optimizer']}]",
    )
    p.add_argument(
        "--lr",
        type=_nonneg_float,
        help="learning rate [default: "
        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items())
        + f"; {_dataset_defaults('lr')}]",
    )
    p.add_argument(
        "--reg",
        type=_nonneg_float,
        help=f"L2 regularization strength: loss += reg * sum(W^2) [default: {d['reg']:g}]",
    )
    p.add_argument(
        "--schedule",
        choices=("none", "step", "cosine"),
        help="learning-rate schedule per epoch: step halves it every quarter of the epochs, "
        f"cosine anneals it to 0 [default: {d['schedule']}]",
    )
    p.add_argument(
        "--epochs",
        type=_positive_int,
        help=f"epochs [default: {d['epochs']}; {_dataset_defaults('epochs')}]",
    )
    p.add_argument(
        "--batch-size", type=_positive_int, help=f"minibatch size [default: {d['batch_size']}]"
    )
    p.add_argument(
        "--seed",
        type=_seed,
        help=f"seed of the initial weights, dropout masks and batch order [default: {d['seed']}]",
    )
    p.add_argument(
        "--out",
        type=_dir_path,
        metavar="DIR",
        help="run directory for config.json, checkpoint/, metrics.jsonl and curves.png "
        "[default: runs/DATA-YYYYmmdd-HHMMSS]",
    )
    p.add_argument(
        "--resume",
        type=_dir_path,
        metavar="DIR",
        help="continue the run in DIR from its checkpoint (its config is used; --epochs may "
        "raise the number of epochs)",
    )
    p.add_argument(
        "--ranks",
        type=_positive_int,
        metavar="N",
        help="train data-parallel on N MPI ranks (runs mpiexec -n N for you; --batch-size "
        "stays the global batch) [default: 1, or mpiexec's -n]",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="train on when the loss becomes nan or inf (by default the run stops at the first "
        "non-finite loss, keeps its last finite checkpoint and exits with status 1)",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    _add_progress(p)
    importlib.import_module("chainrule.check_cli").add_train_options(p)
    p.set_defaults(func=cmd_train)


def _add_evaluate(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="accuracy and confusion matrix of a trained run",
        description="Evaluate the model saved in a run directory (made by 'chainrule train') "
        "on a split of its dataset or of another dataset of the same shape.",
    )
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="a run directory of chainrule train")
    p.add_argument(
        "--data",
        type=_data_spec,
        metavar="SPEC",
        help="dataset to evaluate on: digits, spiral, mnist:DIR (IDX files, raw or .gz) or "
        "cifar10:DIR (binary or python release), of the run's input size and classes "
        "(default: the run's own)",
    )
    p.add_argument(
        "--split",
        choices=("train", "val", "test"),
        default="test",
        help="which split (default: test)",
    )
    p.set_defaults(func=cmd_evaluate)


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="the lecture's sigmoid neuron, then a 2-layer net trained on digits",
        description="Backprop through the lecture's sigmoid neuron step by step, then train the "
        "2-layer net on the bundled digits and print its test accuracy.",
    )
    p.add_argument("--epochs", type=_positive_int, default=20, help="epochs (default: 20)")
    p.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of the initial weights, dropout masks and batch order (default: 0)",
    )
    p.add_argument(
        "--out", type=_dir_path, metavar="DIR", help="also save the run (checkpoint, curves) in DIR"
    )
    _add_progress(p)
    p.set_defaults(func=cmd_demo)


# -- building a run from its config -------------------------------------------------------------


def build_model(config: dict[str, Any]) -> Any:
    """The MLP (or, with ``conv``, the convnet) a run's config describes, from its seed."""
    if convnet.is_convnet(config):
        return convnet.build(config)
    sizes = [config["input_dim"], *config["hidden"], config["num_classes"]]
    return cr.nn.MLP(
        sizes,
        activation=config["activation"],
        dropout=config["dropout"],
        batchnorm=config["batchnorm"],
        rng=np.random.default_rng(config["seed"]),
    )


def build_optimizer(config: dict[str, Any], model: Any) -> tuple[Any, Any]:
    """The optimizer and learning-rate schedule a run's config describes."""
    optim, params, name, lr = cr.optim, list(model.parameters()), config["optimizer"], config["lr"]
    opt: cr.optim.Optimizer
    if name == "sgd":
        opt = optim.SGD(params, lr=lr)
    elif name == "momentum":
        opt = optim.SGD(params, lr=lr, momentum=0.9, nesterov=True)
    elif name == "rmsprop":
        opt = optim.RMSprop(params, lr=lr)
    elif name == "adam":
        opt = optim.Adam(params, lr=lr)
    else:
        opt = optim.AdamW(params, lr=lr)
    schedule, epochs = config["schedule"], config["epochs"]
    if schedule == "step":
        return opt, optim.StepLR(opt, step_size=max(1, epochs // 4), gamma=0.5)
    if schedule == "cosine":
        return opt, optim.CosineLR(opt, T_max=epochs)
    return opt, None


def read_config(run_dir: Path) -> dict[str, Any]:
    """A run directory's config.json, checked."""
    path = run_dir / CONFIG
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{run_dir}: not a run directory (no {CONFIG})") from None
    except (OSError, ValueError, RecursionError) as e:
        raise UsageError(f"{path}: unreadable ({e})") from None
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        raise UsageError(f"{path}: not a chainrule run config ({RUN_FORMAT})")
    try:
        schema.check_config(config, str(path))
        cr.data.parse_spec(config["data"])
    except ValueError as e:
        raise UsageError(str(e) if str(e).startswith(str(path)) else f"{path}: {e}") from None
    return config


def _load_stats(run_dir: Path, config: dict[str, Any] | None = None) -> Any:
    path = run_dir / PREPROCESS
    try:
        state = cr.load(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read the preprocessing statistics ({e})") from None
    images = config is not None and convnet.is_convnet(config)
    stats = cr.data.ChannelStandardizer() if images else cr.data.Standardizer()
    stats.load_state_dict(state)
    return stats


# -- train ---------------------------------------------------------------------------------------


def _train_config(args: argparse.Namespace) -> tuple[dict[str, Any], Path, bool]:
    """(config, run directory, resuming?) from the arguments."""
    given = {k: getattr(args, k) for k in TRAIN_DEFAULTS if getattr(args, k) is not None}
    if args.resume is not None:
        fixed = sorted(k for k in given if k != "epochs")
        if fixed or args.out is not None:
            names = ", ".join(
                "--" + k.replace("_", "-") for k in [*fixed, *(["out"] * bool(args.out))]
            )
            raise UsageError(f"--resume takes its settings from the run; drop {names}")
        config = read_config(args.resume)
        _lock(args.resume)
        if "epochs" in given:
            config["epochs"] = given["epochs"]
        return config, args.resume, True
    config = train_defaults(given)
    out = args.out
    if out is not None:
        check_out_dir(out)
    if out is None:
        name = cr.data.parse_spec(config["data"])[0]
        out = Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    _lock(out)
    if cr.train.find_checkpoint(out) is not None:
        raise UsageError(f"{out} already holds a run: continue it with --resume {out}, or "
                         "choose another --out")  # fmt: skip
    # a config.json without a checkpoint: that run died before its first epoch; start over
    return config, out, False


def train_defaults(given: dict[str, Any]) -> dict[str, Any]:
    """A new run's config: the options given, then its dataset's defaults, then the rest
    (``config.json`` records the values used).

    >>> c = train_defaults({"data": "spiral", "optimizer": "sgd"})
    >>> c["epochs"], c["lr"], train_defaults({})["lr"]
    (100, 0.5, 0.001)
    """
    data = given.get("data", TRAIN_DEFAULTS["data"])
    own = DATASET_DEFAULTS.get(cr.data.parse_spec(data)[0], {})
    config = {**TRAIN_DEFAULTS, **{k: v for k, v in own.items() if k != "lr"}, **given}
    if config["lr"] is None:
        config["lr"] = own.get("lr", DEFAULT_LR)[config["optimizer"]]
    return config


_HELD: list[Any] = []  # the run-directory locks this process holds (released by main)


def _lock(run_dir: Path) -> None:
    try:
        _HELD.append(runlock.acquire(run_dir))
    except runlock.RunLockedError as e:
        raise UsageError(str(e)) from None


def check_out_dir(out: Path) -> None:
    """Refuse an --out that is empty, an existing file, or in a directory we cannot write."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is an existing file, not a directory: choose another path")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"--out {out}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: cannot write in {parent} (permission denied): choose a "
                         "directory you can write")  # fmt: skip


def _features(splits: Any) -> str:
    shape = splits.train[0].shape[1:]
    return f"{shape[0]} features" if len(shape) == 1 else "x".join(map(str, shape)) + " images"


def _json_train_config(args: argparse.Namespace) -> list[Any]:
    config, out, resuming = _train_config(args)
    return [config, str(out), resuming]


def cmd_train(args: argparse.Namespace) -> int:
    """``chainrule train``: train, checkpoint each epoch, print the test accuracy."""
    check_cli = importlib.import_module("chainrule.check_cli")
    if args.find_lr:
        return int(check_cli.cmd_find_lr(args))
    from chainrule import distributed as dist
    from chainrule.train import launch

    if args.ranks is not None and args.ranks > 1 and dist.world_size() == 1:
        try:
            return launch.relaunch(args.argv, args.ranks)
        except launch.LaunchError as e:
            raise UsageError(str(e)) from None
    try:  # under MPI rank 0 picks the run directory; the others follow (or share its error)
        c, o, r = launch.on_main(lambda: _json_train_config(args))
    except launch.LaunchError:
        return 2  # rank 0 reports it
    config, out, resuming = c, Path(o), r
    main_rank = dist.is_main()
    say = (lambda *a: None) if args.quiet or not main_rank else print
    images = convnet.is_convnet(config)
    if images and (why := convnet.check(config)) is not None:
        raise UsageError(why)
    if resuming:
        stats = _load_stats(out, config)
        splits, _ = cr.data.load_splits(config["data"], stats, images=images)
    else:
        splits, stats = cr.data.load_splits(config["data"], images=images)
        if images:
            config["image_shape"] = list(splits.train[0].shape[1:])
        config.update(
            format=RUN_FORMAT,
            input_dim=splits.input_dim,
            num_classes=splits.num_classes,
            chainrule=cr.__version__,
        )
        if main_rank:
            out.mkdir(parents=True, exist_ok=True)
            cr.save(stats.state_dict(), out / PREPROCESS)
    if main_rank:
        cr.train.checkpoint.atomic_write_json(out / CONFIG, config)
    model = build_model(config)
    optimizer, scheduler = build_optimizer(config, model)
    loader = cr.data.DataLoader(*splits.train, batch_size=config["batch_size"], seed=config["seed"])
    trainer = cr.train.Trainer(
        model,
        optimizer,
        loader,
        splits.val,
        epochs=config["epochs"],
        reg=config["reg"],
        scheduler=scheduler,
        out_dir=out,
        progress=None if args.progress is None else args.progress,
        verbose=not args.quiet,
        callbacks=check_cli.train_callbacks(args),
        stop_on_nonfinite=not args.keep_going,
        report_divergence=False,  # said once, below, as the error it is
    )
    if resuming and cr.train.find_checkpoint(out) is None:
        say(f"{out} has no checkpoint yet (its run stopped before the first epoch ended): "
            "starting it from scratch with its config")  # fmt: skip
    elif resuming:
        try:
            trainer.load_checkpoint()
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UsageError(f"cannot resume {out}: {e}") from None
        if trainer.epoch >= config["epochs"]:
            say(f"{out} has completed {trainer.epoch} epochs already (raise --epochs to go on)")
        else:
            say(f"resuming {out} at epoch {trainer.epoch + 1}, step {trainer.step}")
    else:
        n = [len(s[1]) for s in (splits.train, splits.val, splits.test)]
        say(f"{config['data']}: {n[0]} train / {n[1]} val / {n[2]} test samples of "
            f"{_features(splits)}, {splits.num_classes} classes")  # fmt: skip
        model_line = (
            convnet.describe(config)
            if images
            else f"{config['input_dim']}-{'-'.join(map(str, config['hidden']))}-"
            f"{config['num_classes']} {config['activation']} MLP"
        )
        say(f"model: {model_line}, {config['optimizer']} "
            f"lr {config['lr']:g}, reg {config['reg']:g}; run directory {out}")  # fmt: skip
    trainer.fit()
    if trainer.diverged is not None:
        print(f"chainrule train: error: {_diverged(trainer, out)}", file=sys.stderr)
        return 1
    if trainer.interrupted:
        say(f"resume with: chainrule train --resume {out}")
        return 130
    test_loss, test_acc = cr.train.evaluate(model, *splits.test)
    say(f"test accuracy {test_acc:.2%} (loss {test_loss:.4f}) on {len(splits.test[1])} samples")
    return 0


def _diverged(trainer: Any, out: Path) -> str:
    d = trainer.diverged
    kept = (
        f"the last finite checkpoint (epoch {trainer.epoch}) is kept in {out}"
        if cr.train.find_checkpoint(out) is not None
        else "no checkpoint was saved"
    )
    return (
        f"the loss became {d['loss']} at epoch {d['epoch']}, step {d['step']}: stopped; {kept} "
        "(lower --lr, or --keep-going to train on)"
    )


# -- evaluate ------------------------------------------------------------------------------------


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``chainrule evaluate RUN_DIR``: accuracy and confusion matrix of the saved model."""
    config = read_config(args.run)
    ckpt = cr.train.find_checkpoint(args.run)
    if ckpt is None:
        raise UsageError(f"{args.run}: no checkpoint yet (train for an epoch first)")
    model = build_model(config)
    try:
        weights = cr.load(ckpt / "model.safetensors")
        model.load_state_dict(weights)
    except (OSError, ValueError, KeyError) as e:
        raise UsageError(f"{ckpt / 'model.safetensors'}: cannot load the weights ({e})") from None
    spec = args.data or config["data"]
    stats = _load_stats(args.run, config)
    splits, _ = cr.data.load_splits(spec, stats, images=convnet.is_convnet(config))
    if splits.num_classes != config["num_classes"]:
        raise UsageError(
            f"{spec} has {splits.num_classes} classes, the model {config['num_classes']}"
        )
    x, y = splits.split(args.split)
    if len(y) == 0:
        raise UsageError(f"the {args.split} split of {spec} is empty")
    scores = cr.train.predict_scores(model, x)
    pred = scores.argmax(axis=1)
    loss, acc = cr.train.evaluate(model, x, y)
    try:
        epoch = cr.train.checkpoint.read_state(ckpt)["epoch"]
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"{args.run} (epoch {epoch}) on {spec} {args.split}: {len(y)} samples")
    print(f"accuracy {acc:.2%}  loss {loss:.4f}")
    print("confusion matrix (rows: true class, columns: predicted):")
    print(cr.train.format_confusion(cr.train.confusion_matrix(y, pred, splits.num_classes)))
    return 0


# -- demo ----------------------------------------------------------------------------------------


def _neuron() -> None:
    """The lecture's 2-D sigmoid neuron f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2)))."""
    v = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}
    w0, x0, w1, x1, w2 = (cr.tensor(x, requires_grad=True, dtype=np.float64) for x in v.values())
    for t, name in zip((w0, x0, w1, x1, w2), v, strict=True):
        t.name = name
    f = 1.0 / (1.0 + cr.exp(-(w0 * x0 + w1 * x1 + w2)))
    print("1. The lecture's sigmoid neuron: f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))")
    print("   with " + ", ".join(f"{k} = {x:g}" for k, x in v.items()))
    explain = getattr(cr, "explain", None)
    if explain is not None:
        text = str(explain(f, names={"w0": w0, "x0": x0, "w1": w1, "x1": x1, "w2": w2}))
        print("\n".join("   " + line if line else "" for line in text.splitlines()))
    f.backward()
    print(f"   forward:  f = {f.item():.4f}")
    grads = ", ".join(
        f"d{n} = {float(np.asarray(t.grad)):.4f}"
        for n, t in zip(v, (w0, x0, w1, x1, w2), strict=True)
    )
    print(f"   backward: {grads}")
    print("   (the slide's values: dw0 = -0.20, dx0 = 0.39, dw1 = -0.39, dx1 = -0.59, dw2 = 0.20)")


def cmd_demo(args: argparse.Namespace) -> int:
    """``chainrule demo``: the sigmoid neuron, then the 2-layer net on digits."""
    _neuron()
    t0 = time.perf_counter()
    splits, stats = cr.data.load_splits("digits")
    config = {
        **TRAIN_DEFAULTS,
        "lr": DEFAULT_LR["adam"],
        "epochs": args.epochs,
        "seed": args.seed,
        "input_dim": splits.input_dim,
        "num_classes": splits.num_classes,
        "format": RUN_FORMAT,
        "chainrule": cr.__version__,
    }
    print(
        f"\n2. The 2-layer net {splits.input_dim}-{config['hidden'][0]}-{splits.num_classes} "
        f"(ReLU, softmax loss, Adam) on the UCI digits: {len(splits.train[1])} train / "
        f"{len(splits.val[1])} val / {len(splits.test[1])} test images"
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        cr.save(stats.state_dict(), args.out / PREPROCESS)
        cr.train.checkpoint.atomic_write_json(args.out / CONFIG, config)
    model = build_model(config)
    optimizer, _ = build_optimizer(config, model)
    loader = cr.data.DataLoader(*splits.train, batch_size=config["batch_size"], seed=args.seed)
    trainer = cr.train.Trainer(
        model,
        optimizer,
        loader,
        splits.val,
        epochs=config["epochs"],
        reg=config["reg"],
        out_dir=args.out,
        progress=args.progress,
    )
    trainer.fit()
    if trainer.interrupted:
        return 130
    _, test_acc = cr.train.evaluate(model, *splits.test)
    print(f"test accuracy {test_acc:.2%} on {len(splits.test[1])} held-out digits "
          f"(trained in {time.perf_counter() - t0:.1f} s)")  # fmt: skip
    return 0


# -- entry point ----------------------------------------------------------------------------------


_EXTRAS = {"tqdm", "matplotlib", "safetensors"}  # the `train` extra (pyproject.toml)


def _tune_process() -> None:
    """The command owns its process, so it sets it up for training speed (``nn.perf``): NumPy's
    OpenBLAS threads stop spinning soon after each matrix product, and glibc keeps the memory
    of freed activations for the next step; each unless the user's environment chose."""
    from chainrule.nn import perf

    if "OPENBLAS_THREAD_TIMEOUT" not in os.environ and perf._only_thread():
        perf.tune_blas()
    if not any(k.startswith("MALLOC_") for k in os.environ):
        perf.tune_malloc()


def _os_error(e: OSError) -> str:
    """An OSError as one line that names the path and what to do."""
    where = f"cannot write {e.filename}" if e.filename else "cannot write the run"
    hint = {
        errno.ENOSPC: "the disk is full: free some space, then continue with --resume",
        errno.EACCES: "permission denied: choose a directory you can write (--out)",
        errno.EEXIST: "a file is in the way: remove it or choose another --out",
        errno.ENOTDIR: "a file is in the way: remove it or choose another --out",
        errno.ENOENT: "no such directory: check the path",
    }.get(e.errno or 0, e.strerror or str(e))
    return f"{where}: {hint}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``chainrule`` command; returns its exit status."""
    parser = build_parser()
    prog = "chainrule"
    try:
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        prog = f"chainrule {args.command}"
        if args.command in ("train", "evaluate", "demo"):
            _tune_process()
        try:
            return int(args.func(args))
        finally:
            while _HELD:
                runlock.release(_HELD.pop())
    except UsageError as e:
        message = str(e)
    except DataError as e:
        message = f"bad data: {e}"
    except ModuleNotFoundError as e:
        if e.name not in _EXTRAS:
            raise
        message = (
            f"this needs the optional package '{e.name}': install chainrule with its training "
            "extras, pip install 'chainrule[train]' (make demo does)"
        )
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`chainrule demo | head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as e:  # cannot write the run directory, disk full, ...
        message = _os_error(e)
    # argparse already names the subcommand in its own errors
    print(message if message.startswith("chainrule") else f"{prog}: error: {message}",
          file=sys.stderr)  # fmt: skip
    return 2
