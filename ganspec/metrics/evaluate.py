"""Evaluating a generator against real data: the spec's metrics, computed the same way in a
run (at every `evaluate.every`) and by `ganspec eval` afterwards. NumPy in, numbers out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ganspec.metrics import METRIC_FUNCTIONS, Reference, context_keys

# fake = generate(n, seed)
Generate = Callable[[int, int], np.ndarray]

# Seeds of the evaluation's own draws, apart from training's.
REFERENCE_SEED = 7
FAKE_SEED = 2


@dataclass
class Evaluator:
    """Computes a spec's metrics; the reference samples are drawn once and reused."""

    spec: object
    spec_dir: object = None
    dataset: object = None  # the training Dataset, when already loaded
    _reference: Reference | None = field(default=None, init=False)
    _reference_data: object = field(default=None, init=False)
    _context: dict = field(default_factory=dict, init=False)

    def metrics(self, override=None):
        """The metric nodes to compute (the spec's, or `override`); the sample grid has no scores."""
        nodes = override if override is not None else self.spec.evaluate.metrics
        return [m for m in nodes if type(m).score_keys]

    def reference(self, n: int) -> Reference:
        """n real samples from the reference data (evaluate.reference, else the training data)."""
        if self._reference is None or len(self._reference.real) < n:
            data = self._reference_dataset()
            spec = self.spec
            real = data.sample(min(n, data.size) if data.size else n, seed=spec.seed + REFERENCE_SEED)
            source = spec.evaluate.reference or spec.data.source
            self._reference = Reference(real=real, modes=getattr(data, "modes", None),
                                        mode_std=getattr(data, "std", None), name=source.text(),
                                        value_range=tuple(spec.data.scale or (0.0, 1.0)))
        return self._reference

    def _reference_dataset(self):
        if self._reference_data is None:
            from ganspec.data import load_data, load_source

            spec = self.spec
            if spec.evaluate.reference is not None:
                self._reference_data = load_source(spec.evaluate.reference, spec.data, self.spec_dir)
            else:
                self._reference_data = self.dataset or load_data(spec, self.spec_dir)
        return self._reference_data

    def run(self, generate: Generate, override=None, samples: int | None = None) -> tuple[dict, list[str]]:
        """({metric value name: number}, [kinds not available]) for the generator `generate`."""
        results: dict = {}
        skipped: list[str] = []
        for node in self.metrics(override):
            fn = METRIC_FUNCTIONS.get(node.kind)
            if fn is None:
                skipped.append(node.kind)
                continue
            n = samples or node.samples
            ref = self.reference(n)
            fake = generate(n, self.spec.seed + FAKE_SEED)
            view = Reference(ref.real[:n], ref.modes, ref.mode_std, ref.name, ref.value_range)
            for key, value in fn(node, fake, view).items():
                results[f"{node.kind}.{key}" if key in results else key] = value
            if type(node).context_of:
                results.update(self.context(node, fn, view))
        return results, skipped

    def context(self, node, fn, ref: Reference) -> dict:
        """What the same metric gives for real training images (the floor a perfect generator
        would reach) and for uniform noise, computed once, so every score has context."""
        key = node.model_dump_json()
        if key not in self._context:
            n = len(ref.real)
            train = self.dataset
            if train is None:
                from ganspec.data import load_data

                train = self.dataset = load_data(self.spec, self.spec_dir)
            real = train.sample(n, seed=self.spec.seed + REFERENCE_SEED + 1)
            low, high = ref.value_range
            noise = np.random.default_rng(0).uniform(low, high, size=ref.real.shape).astype(np.float32)
            score = type(node).context_of
            floor_key, noise_key = context_keys(node.kind)
            self._context[key] = {floor_key: fn(node, real, ref)[score], noise_key: fn(node, noise, ref)[score]}
        return self._context[key]
