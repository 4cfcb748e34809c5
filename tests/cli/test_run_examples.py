"""``scidiff run``: every example runs with its defaults, rejects bad numbers with a usage
message, takes its options with or without ``--``, shows its defaults in ``--help``, and
writes its picture to a fresh name (saying where) instead of overwriting one."""

from __future__ import annotations

import argparse
import os
import re

import pytest

NAMES = ["gray_scott", "kolmogorov_flow", "lorenz_ensemble"]


def test_help_texts_have_no_raw_markup(cli, flat):
    for args in ([], ["run"], ["bench"], ["info"]):
        out = cli(*args, "--help")
        assert out.exit_code == 0, out.output
        assert "``" not in out.output and "`" not in out.output, out.output
    assert "scidiff run gray_scott -- --help" in flat(cli("run", "--help").output)


@pytest.mark.parametrize("name", NAMES)
def test_example_help_shows_every_default(name, example, capsys):
    module = example(name)
    with pytest.raises(SystemExit) as exc:
        module.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    options = re.findall(r"^  (--[a-z0-9]+)", text, flags=re.M)
    assert "--out" in options and len(options) >= 4, text
    # each option's help (its lines up to the next option) names its default
    blocks = re.split(r"\n  (?=--)", text)[1:]
    assert [b.split()[0] for b in blocks] == options
    for block in blocks:
        assert "default" in block, block
    assert "`" not in text


def test_kolmogorov_help_states_the_default_dt(example, capsys):
    with pytest.raises(SystemExit):
        example("kolmogorov_flow").main(["--help"])
    assert "--dt DT" in capsys.readouterr().out.replace("\n", " ")
    module = example("kolmogorov_flow")
    assert f"{module.DT_TIMES_N / 128:g}" == "0.005"


@pytest.mark.parametrize(
    "name, argv, message",
    [
        ("gray_scott", ["--steps", "-5"], "argument --steps: must be a positive integer, got -5"),
        ("gray_scott", ["--steps", "4", "--chunks", "8"], "--chunks 8 exceeds --steps 4"),
        ("gray_scott", ["--n", "0"], "argument --n: must be a positive integer, got 0"),
        ("lorenz_ensemble", ["--members", "0"], "argument --members: must be a positive integer"),
        ("lorenz_ensemble", ["--t1", "nan"], "argument --t1: must be a finite number > 0"),
        ("lorenz_ensemble", ["--chunks", "two"], "expected a positive integer, got 'two'"),
        ("kolmogorov_flow", ["--n", "33"], "argument --n: must be even"),
        ("kolmogorov_flow", ["--dt", "-0.1"], "argument --dt: must be a finite number > 0"),
    ],
)
def test_bad_numbers_are_refused_with_usage(name, argv, message, example, capsys):
    with pytest.raises(SystemExit) as exc:
        example(name).main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and message in err, err


def test_options_pass_through_with_or_without_double_dash(cli, capsys):
    # Forgetting "--" is not an error any more: the options reach the example, whose own
    # check then speaks (with the command as typed in its usage line).
    for args in (["gray_scott", "--steps", "-5"], ["gray_scott", "--", "--steps", "-5"]):
        out = cli("run", *args)
        assert out.exit_code == 2, out.output
        text = out.output + capsys.readouterr().err
        assert "usage: scidiff run gray_scott --" in text, text
        assert "must be a positive integer, got -5" in text, text
    assert "SCIDIFF_EXAMPLE_PROG" not in os.environ  # the CLI cleans up after itself


def test_kolmogorov_default_dt_is_inside_the_cfl_limit(example):
    # The old default (dt = 0.01) was above the limit at n = 128 (about 0.007), so the
    # example stopped in its first chunk. The default 0.64/n must leave a margin at every n.
    module = example("kolmogorov_flow")
    for n in (32, 64, 128, 256):
        model, w0 = module.setup(n)
        limit = float(model.max_stable_dt(w0))
        assert module.DT_TIMES_N / n < 0.8 * limit, (n, limit)


def test_kolmogorov_refuses_an_unstable_dt_before_running(example, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        example("kolmogorov_flow").main(
            ["--dt", "0.01", "--t1", "0.01", "--chunks", "1", "--out", str(tmp_path / "k.png")]
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--dt 0.01 exceeds the CFL limit" in err and "use --dt" in err, err
    assert not (tmp_path / "k.png").exists()


def test_output_path_never_overwrites(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = example("_options")
    first = options.output_path(None, "demo")
    first.write_bytes(b"x")
    second = options.output_path(None, "demo")
    assert second != first and not second.exists()
    assert first.name.startswith("demo-") and first.suffix == ".png"
    with pytest.raises(SystemExit, match="is a folder"):
        options.output_path(tmp_path, "demo")
    with pytest.raises(SystemExit, match="does not exist"):
        options.output_path(tmp_path / "missing" / "x.png", "demo")
    with pytest.raises(argparse.ArgumentTypeError, match="positive integer"):
        options.positive_int("0")


def test_example_default_picture_is_a_new_file_and_is_reported(
    example, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    main = example("gray_scott").main
    tiny = ["--n", "16", "--steps", "4", "--chunks", "2"]
    paths = [main(tiny), main(tiny)]
    out = capsys.readouterr().out
    assert paths[0] != paths[1]
    for path in paths:
        assert path.exists() and path.stat().st_size > 1000
        assert f"wrote {path.resolve()}" in out
