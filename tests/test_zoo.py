"""Ports of published configurations (specs/zoo/): `ganspec explain` prints the original's weight counts,
and each port trains a few iterations on generated stand-in data of the right shape (the real sources,
MNIST from TFDS and CIFAR-10, stay in the specs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ganspec import exitcodes
from ganspec.cli import main
from tests.conftest import SPECS

ZOO = SPECS / "zoo"

# (generator trainable, non-trainable), (critic trainable, non-trainable) of each original, as each
# header states them (docs/zoo_originals.md: PyTorch's num_batches_tracked counters are left out).
ORIGINAL_COUNTS = {
    "pytorch_gan_cgan.gan": ((1_757_412, 3_584), (1_055_845, 0)),
    "pytorch_gan_infogan.gan": ((836_993, 640), (104_269, 448)),
    "compare_gan_resnet_cifar10.gan": ((5_849_603, 3_584), (1_483_137, 11_702)),
    "studiogan_sngan_cifar10.gan": ((4_304_387, 3_584), (1_055_105, 9_769)),
    "studiogan_biggan_cifar10.gan": ((9_416_196, 48_743), (2_415_170, 15_641)),
    "wgan_gp_cifar10_resnet_acgan.gan": ((1_218_307, 256), (1_055_115, 0)),
}

# Non-trainable counts that differ from the original's by design, as each header says why: spectral
# normalization keeps one power-iteration vector per kernel, as long as its output (compare_gan keeps
# one of its fan-in, PyTorch both u and v). (network, ganspec's count)
OWN_STATE = {
    "compare_gan_resnet_cifar10.gan": {"critic": 1_537},
    "studiogan_sngan_cifar10.gan": {"critic": 1_409},
    "studiogan_biggan_cifar10.gan": {"generator": 20_259, "critic": 2_449},
}

# Stand-in data for each port: (sample shape as stored, classes or None).
STAND_INS = {
    "pytorch_gan_cgan.gan": ((28, 28, 1), 10),  # MNIST as TFDS gives it; the spec resizes to 32
    "pytorch_gan_infogan.gan": ((28, 28, 1), None),
    "compare_gan_resnet_cifar10.gan": ((32, 32, 3), None),
    "studiogan_sngan_cifar10.gan": ((32, 32, 3), 10),
    "studiogan_biggan_cifar10.gan": ((32, 32, 3), 10),
    "wgan_gp_cifar10_resnet_acgan.gan": ((32, 32, 3), 10),
}
# Ports too large to train at their own batch in the suite train at this one (the architecture is the port's).
STAND_IN_BATCH = {"compare_gan_resnet_cifar10.gan": 8, "studiogan_sngan_cifar10.gan": 8,
                  "studiogan_biggan_cifar10.gan": 8, "wgan_gp_cifar10_resnet_acgan.gan": 8}


def _explain(capsys, path) -> dict:
    capsys.readouterr()
    assert main(["explain", "--format", "json", str(path)]) == exitcodes.OK
    return {table["role"]: table for table in json.loads(capsys.readouterr().out)["networks"]}


@pytest.mark.parametrize("name", sorted(ORIGINAL_COUNTS))
def test_explain_prints_the_originals_weight_counts(name, capsys):
    tables = _explain(capsys, ZOO / name)
    header = (ZOO / name).read_text()
    for role, (trainable, state) in zip(("generator", "critic"), ORIGINAL_COUNTS[name]):
        own_state = OWN_STATE.get(name, {}).get(role, state)
        assert (tables[role]["trainable"], tables[role]["non_trainable"]) == (trainable, own_state), role
        for count in {trainable, state, own_state}:
            assert f"{count:,}" in header, f"the header of {name} should state {count:,}"


def test_every_zoo_spec_is_pinned():
    assert {p.name for p in ZOO.glob("*.gan")} == set(ORIGINAL_COUNTS) == set(STAND_INS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STAND_INS))
def test_zoo_spec_trains_on_stand_in_data(name, tmp_path, capsys):
    shape, classes = STAND_INS[name]
    rng = np.random.default_rng(0)
    arrays = {"x": rng.integers(0, 256, size=(256, *shape), dtype=np.uint8)}
    source = 'npz("stand_in.npz")'
    if classes:
        arrays["y"] = rng.integers(0, classes, size=256).astype(np.int64)
        source = 'npz("stand_in.npz", labels_key: "y")'
    np.savez(tmp_path / "stand_in.npz", **arrays)
    spec = tmp_path / name
    spec.write_text((ZOO / name).read_text())
    batch = ["--set", f"train.batch={STAND_IN_BATCH[name]}"] if name in STAND_IN_BATCH else []
    # One critic step per iteration: the compiled iteration (and its compile time, most of this test's)
    # is a fifth as long; the networks, losses and constraints are the port's own.
    batch += ["--set", "steps.critic=1"]
    code = main(["run", str(spec), "--plain", "--out", str(tmp_path / "runs"), "--iterations", "3",
                 "--set", f"data.source={source}", "--set", "data.shuffle=256",
                 "--set", "evaluate.every=3", "--set", "evaluate.metrics=[samples(16)]",
                 "--set", "train.log_every=1", *batch])
    assert code == exitcodes.OK, capsys.readouterr().out[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in records if "critic_loss" in r]
    assert len(losses) == 3 and all(np.isfinite(r["critic_loss"]) and np.isfinite(r["generator_loss"])
                                    for r in losses)
    assert (run / "samples" / "latest.png").exists()
