"""The shapes a spec implies: one data sample, and what each network takes as input.

Every stage that needs one of these shapes (the checks, `explain`, the Keras
builders) asks these functions; none works it out again. Reading a sample shape
from a data file's header is `ganspec.ir.datashape`'s job; this module adds what
the spec does to it (`crop`, `resize`, PacGAN packing, label channels).
"""

from __future__ import annotations

from ganspec.ir import layers as L
from ganspec.ir.components import Source
from ganspec.ir.datashape import sample_shape
from ganspec.ir.spec import Spec

Shape = tuple[int, ...]


def fmt_shape(shape) -> str:
    """`(28, 28, 1)`, or `unknown` for None."""
    return "(" + ", ".join(str(s) for s in shape) + ")" if shape is not None else "unknown"


def reads_label(network) -> bool:
    """Whether a network reads the class label through its own layers (`join_label`,
    `conditional_batchnorm`, `label_projection`), anywhere inside its blocks."""
    return any(isinstance(layer, L.LabelLayer) for layer in L.iter_layers(network.layers))


def predicts_label(network) -> bool:
    """Whether a critic has AC-GAN's class head, `head(label)`: it predicts the label from the sample alone
    (Odena et al. 2017), so it is not given the label."""
    return any(isinstance(layer, L.Head) and layer.code is None for layer in L.iter_layers(network.layers))


def label_joined(spec: Spec, network) -> bool:
    """Whether a network gets the label joined to its input (z, or channels of the critic's input): a
    conditional spec's network without label-reading layers (nor a class head: `predicts_label`). One
    with them gets the label as an input of its own, read only by those layers."""
    return spec.conditional is not None and not reads_label(network) and not predicts_label(network)


def network_conditioning(spec: Spec, network) -> L.ConditioningVector:
    """What a network's label-reading layers read: the one-hot label, or the network's shared embedding
    of it, and z's chunks (`latent_chunks`: of the generator only; chunk sizes round down where z does
    not divide, which `ganspec.checks.conditioning` reports)."""
    label = None
    if spec.conditional is not None:
        label = network.shared_embedding or spec.conditional.classes
    chunks = network.latent_chunks if network is spec.generator else None
    if not chunks:
        return L.ConditioningVector(label)
    return L.ConditioningVector(label, spec.latent.input_dim // chunks, chunks)


def generator_head_rows(spec: Spec, shape: Shape) -> tuple[Shape, list]:
    """The rows before the generator's stack (z's split, the shared embedding) and the shape its stack
    starts from: chunk 0 of z when z is split, else `shape`."""
    network, rows = spec.generator, []
    if network.latent_chunks:
        split = L.LatentChunks(chunks=network.latent_chunks)
        chunk = (spec.latent.input_dim // network.latent_chunks,)
        rows.append(L.Row(split, 0, shape, chunk, note="chunk 0 feeds the stack"))
        shape = chunk
    if network.shared_embedding and spec.conditional is not None:
        table = L.SharedEmbedding(units=network.shared_embedding)
        classes = (spec.conditional.classes,)
        rows.append(L.Row(table, 0, classes, table.output_shape(classes), *table.weights(classes),
                          note="of the label, for the label layers"))
    return shape, rows


def written_layers(layers) -> int:
    """The layers a stack stands for once written out, each repeat's body once per copy (what the built
    network holds), counted without writing anything out."""
    total = 0
    for layer in layers:
        if isinstance(layer, L.Repeat):
            total += layer.count * written_layers(layer.layers)
        elif isinstance(layer, L.Block):
            total += 1 + sum(written_layers(stack) for stack in layer.stacks())
        else:
            total += 1
    return total


def largest_repeat(layers):
    """The repeat of a stack that writes out the most layers (the outermost of equals), or None."""
    best, most = None, -1
    for layer in L.iter_layers(layers):
        if isinstance(layer, L.Repeat):
            size = layer.count * written_layers(layer.layers)
            if size > most:
                best, most = layer, size
    return best


def walk_network(spec: Spec, network, shape: Shape, spectral_norm: bool = False):
    """`layers.walk` through a network of the spec, its label-reading layers seeing the spec's label (and
    the generator's z chunks), with the generator's head rows (`generator_head_rows`) first."""
    rows = []
    if network is spec.generator:
        shape, rows = generator_head_rows(spec, shape)
    vector = network_conditioning(spec, network)
    with L.conditioning(vector.label, vector.chunk, vector.chunks):
        out, stack = L.walk(network.layers, shape, spectral_norm=spectral_norm)
    return out, rows + stack


def generator_input_shape(spec: Spec) -> Shape:
    """The latent vector, with the one-hot label appended for a conditional GAN (`label_joined`)."""
    extra = spec.conditional.classes if label_joined(spec, spec.generator) else 0
    return (spec.latent.input_dim + extra,)


def critic_input_shape(spec: Spec, sample: Shape) -> Shape:
    """Data sample shape as the critic sees it: packed (PacGAN) and with label channels (`label_joined`)."""
    channels = sample[-1] * spec.critic.pack
    if label_joined(spec, spec.critic):
        channels += spec.conditional.classes
    return tuple(sample[:-1]) + (channels,)


def preprocessed_shape(data, raw: Shape) -> Shape:
    """One image after the `data` section's `crop`, then `resize` (flips and noise keep the shape);
    other samples as they are. Whether the crop fits is `crop_problem`'s question."""
    if len(raw) != 3:
        return tuple(raw)
    shape = tuple(raw)
    if data.crop is not None:
        shape = tuple(data.crop) + shape[2:]
    if data.resize is not None:
        shape = tuple(data.resize) + shape[2:]
    return shape


def crop_problem(data, raw: Shape) -> str | None:
    """Why `data.crop` cannot be cut from images of shape `raw`, or None."""
    if data.crop is None or len(raw) != 3:
        return None
    if data.crop[0] > raw[0] or data.crop[1] > raw[1]:
        return (f"crop [{data.crop[0]}, {data.crop[1]}] is larger than the images, "
                f"{raw[0]}x{raw[1]} (height x width)")
    return None


def source_sample_shape(spec: Spec, source: Source, spec_dir) -> tuple[Shape | None, str | None]:
    """(shape, problem) of one sample of `source` after the spec's `data.crop` and `data.resize`."""
    shape, problem = sample_shape(source, spec_dir)
    if shape is not None:
        shape = preprocessed_shape(spec.data, shape)
    return shape, problem


def data_sample_shape(spec: Spec, spec_dir) -> tuple[Shape | None, str | None]:
    """(shape, problem) of one training sample, as the networks see it before packing."""
    return source_sample_shape(spec, spec.data.source, spec_dir)
