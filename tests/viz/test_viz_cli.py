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


def _png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (read here, not through matplotlib)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


@pytest.mark.parametrize(
    "flags, pixels",
    [(["--dpi", "150", "--size", "8x6"], (1200, 900)), (["--size", "4X3"], (440, 330))],
)
def test_png_size_and_dpi(capsys, tmp_path, flags, pixels):
    out_png = tmp_path / "g.png"
    code, out, err = run(capsys, "(x+y)*z", "x=-2", "y=5", "z=-4", "--png", str(out_png), *flags)
    assert code == 0 and err == "" and f"wrote {out_png}" in out
    assert _png_size(out_png) == pixels


def test_png_dpi_alone_scales_the_natural_size(capsys, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert run(capsys, "(x+y)*z", "x=-2", "y=5", "z=-4", "--png", str(a))[0] == 0
    assert run(capsys, "(x+y)*z", "x=-2", "y=5", "z=-4", "--png", str(b), "--dpi", "220")[0] == 0
    (wa, ha), (wb, hb) = _png_size(a), _png_size(b)
    assert abs(wb - 2 * wa) <= 2 and abs(hb - 2 * ha) <= 2  # 110 dpi by default


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--dpi", "5"], "--dpi must be between 20 and 1200, got 5"),
        (["--dpi", "99999"], "--dpi must be between 20 and 1200"),
        (["--size", "8"], "--size takes WIDTHxHEIGHT in inches, e.g. 8x6; got '8'"),
        (["--size", "axb"], "--size takes WIDTHxHEIGHT"),
        (["--size", "8x6x2"], "--size takes WIDTHxHEIGHT"),
        (["--size", "0x3"], "each side must be 0.5 to 200 inches"),
        (["--size=-8x6"], "each side must be 0.5 to 200 inches"),
        (["--size", "nanx3"], "each side must be 0.5 to 200 inches"),
        (["--size", "infx3"], "each side must be 0.5 to 200 inches"),
        (["--size", "0.5x0.5"], "too small for this graph"),
        (["--size", "200x200", "--dpi", "1200"], "pixels, more than 65000 on a side"),
    ],
)
def test_bad_png_size_or_dpi_is_one_line_exit_2(capsys, tmp_path, flags, message):
    target = tmp_path / "g.png"
    code, _, err = run(capsys, "(x+y)*z", "x=-2", "y=5", "z=-4", "--png", str(target), *flags)
    assert code == 2 and message in err
    assert err.count("\n") == 1 and err.startswith("chainrule explain: error: ")
    assert not target.exists()


def test_dpi_or_size_without_png_is_refused(capsys):
    code, out, err = run(capsys, "(x+y)*z", "x=-2", "y=5", "z=-4", "--dpi", "150")
    assert code == 2 and "--dpi and --size shape the PNG: give --png PATH too" in err
    assert out == ""  # refused before anything is printed


def test_help_documents_dpi_and_size():
    result = subprocess.run(
        [sys.executable, "-m", "chainrule.viz.cli", "explain", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--dpi N" in result.stdout and "--size WxH" in result.stdout
    assert "in inches, e.g. 8x6" in result.stdout
