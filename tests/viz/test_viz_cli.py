"""``chainrule explain``: the subcommand prints the explanation, writes the pictures, and turns
bad input into one clear error (exit 2, no traceback)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from chainrule.viz import cli, explain_expression


def run(capsys, *argv):
    parser = argparse.ArgumentParser(prog="chainrule")
    cli.register(parser.add_subparsers(required=True))
    args = parser.parse_args(["explain", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_the_same_as_the_api(capsys):
    code, out, err = run(capsys, "(x+y)*z", "x=-2", "y=5", "z=-4")
    assert code == 0 and err == ""
    assert out == str(explain_expression("(x+y)*z", {"x": -2, "y": 5, "z": -4})) + "\n"
    assert "df/dx = -4.00" in out and "df/dy = -4.00" in out and "df/dz = 3.00" in out


def test_writes_svg_png_html(capsys, tmp_path):
    paths = {k: tmp_path / f"neuron.{k}" for k in ("svg", "png", "html")}
    code, out, _ = run(
        capsys,
        "1/(1+exp(-(w0*x0+w1*x1+w2)))",
        *["w0=2", "x0=-1", "w1=-3", "x1=-2", "w2=-3"],
        "--svg",
        str(paths["svg"]),
        "--png",
        str(paths["png"]),
        "--html",
        str(paths["html"]),
    )
    assert code == 0
    for p in paths.values():
        assert f"wrote {p}" in out and p.stat().st_size > 1000
    ET.parse(paths["svg"])
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    assert "-0.53" in paths["html"].read_text()


def test_jacobian_lens(capsys):
    code, out, _ = run(
        capsys, "sum((W@x)**2)", "W=[[0.1,0.5],[-0.3,0.8]]", "x=[0.2,0.4]", "--jacobian"
    )
    assert code == 0
    assert "Jacobian lens on r = q ** 2" in out and "structure: diagonal" in out
    assert "block-diagonal, 2 blocks" in out  # dq/dW: row i of q depends on row i of W
    assert "upstream @ J         = [-0.112, 0.636]" in out
    assert "they agree" in out and "DIFFER" not in out
    code, out, _ = run(capsys, "x*y", "x=1", "y=2", "--jacobian")
    assert code == 0 and "every value here is a scalar" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["__import__('os').system('echo hacked')"], "attribute access (.system)"),
        (["(x+y)*z", "x=1", "y=2"], "variable 'z' has no value"),
        (["x*2", "x=1", "q=3"], "'q' is given but the expression never uses it"),
        (["x*2", "x=abc"], "must be a number"),
        (["x*2", "x"], "expected NAME=VALUE"),
        (["x*2", "x=1", "--precision", "99"], "--precision"),
    ],
)
def test_bad_input_is_one_clear_error(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("chainrule explain: error: ") and message in err.splitlines()[0]
    assert "Traceback" not in err


def test_unwritable_path_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, "x*2", "x=1", "--svg", str(tmp_path / "no" / "such" / "f.svg"))
    assert code == 2 and "cannot write" in err and "Traceback" not in err


def test_python_dash_m_chainrule_explain():
    import chainrule.cli as main_cli

    if "explain" not in main_cli.build_parser().format_help():
        pytest.skip("chainrule.cli does not register the explain subcommand yet")
    r = subprocess.run(
        [sys.executable, "-m", "chainrule", "explain", "(x+y)*z", "x=-2", "y=5", "z=-4"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "df/dz = 3.00" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "chainrule", "explain", "x.__class__", "x=1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "attribute access" in r.stderr and "Traceback" not in r.stderr
