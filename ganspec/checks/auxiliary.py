"""Checks of the critic's heads and the auxiliary losses that read them (AC-GAN, InfoGAN).

Each check takes the `ganspec.checks.Context` and yields diagnostics, as the others in `CHECKS`.
"""

from __future__ import annotations

from ganspec.diagnostics import error
from ganspec.ir import layers as L
from ganspec.ir.auxiliary import critic_heads
from ganspec.ir.components import Product
from ganspec.ir.shapes import critic_input_shape, fmt_shape, walk_network


def _repeated_heads(layers, inside: bool = False):
    for layer in layers:
        if isinstance(layer, L.Head) and inside:
            yield layer
        if isinstance(layer, L.Block):
            for stack in layer.stacks():
                yield from _repeated_heads(stack, inside or isinstance(layer, L.Repeat))


def head_width(spec, head: L.Head) -> int | None:
    """How many outputs `head` must give: the classes, or its code's width; None when it names nothing."""
    if head.code is None:
        return spec.conditional.classes if spec.conditional else None
    latent = spec.latent
    if isinstance(latent, Product) and head.code < len(latent.factors):
        return latent.factors[head.code].input_dim
    return None


def check_heads(ctx):
    """Heads belong to the critic, once each, and predict something the spec has, with its width.
    Example: `head(code: 1) { dense(5) }` for a categorical(10) code -> E310 (hint: end with dense(10))."""
    spec = ctx.spec
    for head in critic_heads(spec.generator):
        yield error("E310", "a head is another output of the critic; the generator makes samples only",
                    ctx.span(head), "move the head into the critic")
    for head in _repeated_heads(spec.critic.layers):
        yield error("E310", f"{head.text()} inside `repeat` would be one output per copy", ctx.span(head),
                    "write the head outside the repeat")
    heads = critic_heads(spec.critic)
    if heads and spec.critic.pack > 1:
        yield error("E310", f"a head predicts one sample's label or code, but the critic scores packs of "
                            f"{spec.critic.pack} (PacGAN)", ctx.span(spec.critic, "pack"), "remove pack")
    seen: set[str] = set()
    for head in heads:
        if head.key() in seen:
            yield error("E310", f"two heads are {head.text()}", ctx.span(head), "keep one of them")
        seen.add(head.key())
        if head.code is None and spec.conditional is None:
            yield error("E310", "head(label) predicts the class, but the experiment is not conditional",
                        ctx.span(head), "add `conditional { classes N }` (and labelled data)")
        elif head.code is not None and head_width(spec, head) is None:
            factors = len(spec.latent.factors) if isinstance(spec.latent, Product) else 0
            yield error("E310", f"{head.text()} predicts factor {head.code} of the latent, but "
                                + (f"the latent has {factors} factors (0 to {factors - 1})" if factors
                                   else f"the latent {spec.latent.kind}() is not a product"),
                        ctx.span(head), "declare the codes: `latent product(normal(62), categorical(10), uniform(2))`")
    yield from _head_shapes(ctx, heads)


def _head_shapes(ctx, heads):
    spec = ctx.spec
    sample = ctx.data_shape or ctx.cache.get("generator_out")
    if sample is None or not heads:
        return
    try:
        _, rows = walk_network(spec, spec.critic, critic_input_shape(spec, sample))
    except L.ShapeError:
        return  # check_critic_shapes reports it
    for row in rows:
        if not isinstance(row.layer, L.Head):
            continue
        width = head_width(spec, row.layer)
        if width is not None and row.out_shape != (width,):
            what = "the classes" if row.layer.code is None else f"code {row.layer.code}'s width"
            yield error("E310", f"{row.layer.text()} gives shape {fmt_shape(row.out_shape)}, but {what} "
                                f"needs ({width})", ctx.span(row.layer),
                        f"end the head with dense({width})" + (" (after flatten)" if len(row.out_shape) > 1 else ""))


def check_auxiliary_losses(ctx):
    """Every auxiliary loss reads a head of the critic, one that predicts what the loss expects, and the code
    losses have the information update's optimizer. Example: `code_mse(1)` on a categorical code -> E311."""
    spec = ctx.spec
    auxiliary = spec.auxiliary
    heads = {head.key(): head for head in critic_heads(spec.critic)}
    if auxiliary is None:
        for head in heads.values():
            yield error("E311", f"no auxiliary loss reads {head.text()}", ctx.span(head),
                        "declare its loss: `auxiliary { losses [...] }`")
        return
    read = set()
    for loss in auxiliary.losses:
        key = loss.head_key()
        where = ctx.span(loss)
        if key in read:
            yield error("E311", f"two auxiliary losses read {loss.head_text()}", where, "keep one of them")
        read.add(key)
        head = heads.get(key)
        if head is None:
            yield error("E311", f"{loss.kind} reads the critic's {loss.head_text()}, but the critic has none", where,
                        f"branch it off the critic's features: `{loss.head_text()} {{ dense(N) }}`")
            continue
        if loss.reads == "code" and isinstance(spec.latent, Product) and loss.code < len(spec.latent.factors):
            factor = spec.latent.factors[loss.code]
            if factor.discrete != loss.discrete:
                better = "code_cross_entropy" if factor.discrete else "code_mse or code_gaussian"
                yield error("E311", f"{loss.kind} is for a {'categorical' if loss.discrete else 'continuous'} code, "
                                    f"but code {loss.code} is {factor.text()}", where, f"use {better}({loss.code})")
    for key, head in heads.items():
        if key not in read:
            yield error("E311", f"no auxiliary loss reads {head.text()}", ctx.span(head),
                        "add its loss to `auxiliary.losses`, or remove the head")
    information = auxiliary.information_losses()
    if information and auxiliary.optimizer is None:
        yield error("E311", "the code losses are minimized in InfoGAN's information update, over both networks, "
                            "which needs its own optimizer", ctx.span(auxiliary),
                    "add `optimizer adam(lr: 2e-4, beta1: 0.5)` to the auxiliary block (PyTorch-GAN's optimizer_info)")
    if auxiliary.optimizer is not None and not information:
        yield error("E311", "auxiliary.optimizer drives the information update of the code losses, but none is "
                            "declared", ctx.span(auxiliary, "optimizer"), "remove the optimizer")
    if heads and spec.tricks.unrolled:
        yield error("E311", "an unrolled critic (tricks.unrolled) with heads is not supported",
                    ctx.span(spec.tricks, "unrolled"), "remove tricks.unrolled")
