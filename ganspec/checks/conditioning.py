"""Checks of BigGAN's generator options: z split into chunks (`latent_chunks`) that conditional batch norms
read (`conditional_batchnorm(chunk: i)`), and the shared class embedding (`shared_embedding`).

Each check takes the `ganspec.checks.Context` and yields diagnostics, as the others in `CHECKS`. A chunk
index that does not exist is found by shape inference (`ConditionalBatchNorm.conditioning_size`), reported
as E312 by the generator's shape check.
"""

from __future__ import annotations

from ganspec.diagnostics import error, warning
from ganspec.ir import layers as L
from ganspec.ir.shapes import reads_label

GENERATOR_OPTIONS = {
    "latent_chunks": "the critic does not read z",
    "shared_embedding": "the critic's label layers read the one-hot label",
}


def chunk_readers(network) -> list[L.ConditionalBatchNorm]:
    """The conditional batch norms of a network that read a chunk of z, in written order."""
    return [layer for layer in L.iter_layers(network.layers)
            if isinstance(layer, L.ConditionalBatchNorm) and layer.chunk is not None]


def check_generator_options(ctx):
    """`latent_chunks` and `shared_embedding` are generator options. Example: `critic(latent_chunks: 4)` -> E204."""
    for name, why in GENERATOR_OPTIONS.items():
        if getattr(ctx.spec.critic, name) is not None:
            yield error("E204", f"`{name}` is a generator option: {why}", ctx.span(ctx.spec.critic, name),
                        f"move it to generator({name}: ...)")


def check_latent_chunks(ctx):
    """z splits into `latent_chunks` equal chunks, and the layers read every chunk but the first (BigGAN,
    Brock et al. 2019, sec. 3). Example: `latent normal(80)` with `generator(latent_chunks: 3)` -> E312;
    chunks 1 and 2 of 4 read, chunk 3 never -> W415."""
    spec, network = ctx.spec, ctx.spec.generator
    chunks = network.latent_chunks
    if chunks is None:
        return
    where = ctx.span(network, "latent_chunks")
    size = spec.latent.input_dim
    if size % chunks:
        fitting = [str(n) for n in range(2, size + 1) if size % n == 0][:6]
        yield error("E312", f"z has {size} entries, which do not split into {chunks} equal chunks", where,
                    f"z of {size} splits into {', '.join(fitting)}, ... chunks; or use a latent of "
                    f"{chunks} x the chunk size" if fitting else f"use a latent of {chunks} x the chunk size")
    read = {layer.chunk for layer in chunk_readers(network)}
    unread = [i for i in range(1, chunks) if i not in read]
    if len(unread) == chunks - 1:
        yield error("E312", f"generator(latent_chunks: {chunks}) splits z, but no layer reads chunks 1 to "
                            f"{chunks - 1}: only chunk 0 would reach the samples", where,
                    "read chunk i with conditional_batchnorm(chunk: i), or remove latent_chunks")
        return
    for i in unread:
        yield warning("W415", f"chunk {i} of z is never read: its {size // chunks} entries do not change the "
                              "samples", where, f"read it with conditional_batchnorm(chunk: {i}), or split z into "
                                                "fewer chunks")


def check_shared_embedding(ctx):
    """A shared class embedding needs a label and layers that read it. Example: `generator(shared_embedding:
    128)` in an unconditional experiment -> E309; with no label-reading layer in the generator -> E204."""
    spec, network = ctx.spec, ctx.spec.generator
    if network.shared_embedding is None:
        return
    where = ctx.span(network, "shared_embedding")
    if spec.conditional is None:
        yield error("E309", "shared_embedding embeds the class label, but the experiment is not conditional",
                    where, "add `conditional { classes N }` (and labelled data), or remove shared_embedding")
    elif not reads_label(network):
        yield error("E204", "no layer of the generator reads the shared embedding: without label-reading "
                            "layers the one-hot label is joined to z instead", where,
                    "add conditional_batchnorm to the generator, or remove shared_embedding")
