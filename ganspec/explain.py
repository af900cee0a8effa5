"""Per-layer shapes and weight counts of both networks, from the IR alone (no TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass

from ganspec.checks.memory import MemoryEstimate, training_memory
from ganspec.ir import layers as L
from ganspec.ir.shapes import critic_input_shape, data_sample_shape, generator_input_shape, walk_network
from ganspec.ir.spec import Spec


@dataclass
class NetworkTable:
    role: str
    input_shape: tuple
    output_shape: tuple | None
    rows: list
    trainable: int
    non_trainable: int
    problem: str | None = None

    def to_json(self) -> dict:
        return {
            "role": self.role,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "trainable": self.trainable,
            "non_trainable": self.non_trainable,
            "problem": self.problem,
            "layers": [
                {"layer": r.layer.label(), "depth": r.depth, "input": list(r.in_shape), "output": list(r.out_shape),
                 # a row standing for several copies of a repeat's body counts the weights of them all
                 "trainable": r.trainable * r.copies, "non_trainable": r.non_trainable * r.copies,
                 "note": r.note, "copies": r.copies}
                for r in self.rows
            ],
        }


def network_tables(spec: Spec, spec_dir=None) -> list[NetworkTable]:
    """Tables for the generator and the critic (the critic fed real-shaped samples)."""
    tables = []
    g_in = generator_input_shape(spec)
    g = _table(spec, "generator", spec.generator, g_in, spectral=False)
    tables.append(g)
    sample, _ = data_sample_shape(spec, spec_dir)
    sample = sample or g.output_shape
    if sample is not None:
        spectral = any(c.kind == "spectral_norm" for c in spec.constraints)
        tables.append(_table(spec, "critic", spec.critic, critic_input_shape(spec, sample), spectral))
    return tables


def _table(spec, role, network, shape, spectral) -> NetworkTable:
    try:
        out, rows = walk_network(spec, network, shape, spectral_norm=spectral)
    except L.StackShapeError as exc:
        return NetworkTable(role, shape, None, [], 0, 0, f"{exc} (at {exc.layer.label()})")
    t, n = L.totals(rows)
    return NetworkTable(role, shape, out, rows, t, n)


def memory_estimate(spec: Spec, tables: list[NetworkTable], spec_dir=None) -> MemoryEstimate | None:
    """What training would hold in memory (`ganspec.checks.memory`), from the tables; None when a network's
    shapes are wrong."""
    if any(t.problem for t in tables):
        return None
    sample, _ = data_sample_shape(spec, spec_dir)
    return training_memory(spec, [(t.input_shape, t.rows) for t in tables], sample or tables[0].output_shape,
                           spec_dir)
