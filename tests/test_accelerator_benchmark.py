"""benchmarks/accelerator.py --tiny: the accelerator check runs on a CPU and prints
every line it promises, with numbers that agree with each other."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NUMBER = r"([0-9.]+)"


@pytest.mark.slow
def test_tiny_accelerator_check_prints_each_line():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "accelerator.py"), "--tiny"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    peak = float(re.search(rf"^peak: {NUMBER} TFLOP/s", out, re.M).group(1))
    assert peak > 0
    for name in ("resnet50", "vit_s16"):
        line = re.search(rf"^throughput {name}: playbook {NUMBER} ex/s, plain {NUMBER} ex/s, "
                         rf"ratio {NUMBER}, MFU playbook {NUMBER}%, plain {NUMBER}%", out, re.M)
        assert line, out
        ours, theirs, ratio, mfu_ours, mfu_theirs = map(float, line.groups())
        assert ours > 0 and theirs > 0
        assert ratio == pytest.approx(ours / theirs, abs=0.01)
        # Both MFUs use one FLOP count per example: their ratio is the throughput ratio.
        assert mfu_ours / mfu_theirs == pytest.approx(ratio, rel=0.1)
    for k in ("1", "auto"):
        line = re.search(rf"^study k={k}: {NUMBER} trials/hour \(2 MNIST-1D trials\)", out, re.M)
        assert line and float(line.group(1)) > 0, out
    chose = re.search(r"^auto chose: (\d+) trials per program", out, re.M)
    # One trial per optimizer: the two trials' programs differ, so each trains alone.
    assert chose and int(chose.group(1)) == 1, out
