"""Semantic checks of a resolved spec. Each check is a small function returning diagnostics.

They run in the order of `CHECKS`; none prints or exits. Warnings cite the paper
that motivates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ganspec.checks.auxiliary import check_auxiliary_losses, check_heads
from ganspec.checks.conditioning import check_generator_options, check_latent_chunks, check_shared_embedding
from ganspec.checks.memory import check_memory
from ganspec.diagnostics import Diagnostic, Span, error, warning
from ganspec.ir import components
from ganspec.ir import layers as L
from ganspec.ir.datashape import find_data_file, sample_shape
from ganspec.ir.shapes import (
    critic_input_shape, crop_problem, data_sample_shape, fmt_shape, generator_input_shape, source_sample_shape,
    walk_network,
)
from ganspec.ir.spec import Spec


@dataclass
class Context:
    """What checks may need besides the spec: where it lives, and shared results."""

    spec: Spec
    spec_dir: Path | None = None
    data_shape: tuple[int, ...] | None = None
    data_problem: str | None = None
    cache: dict = field(default_factory=dict)

    def span(self, node, name: str | None = None) -> Span | None:
        span = None
        if node is not None:
            span = node.field_span(name) if name else node.span
        return span or self.spec.span


def check_data_files(ctx: Context):
    """Data files (training and reference data) must exist. Example: `idx("missing.gz")` -> W406
    (an error at `run`)."""
    for source in (ctx.spec.data.source, ctx.spec.evaluate.reference):
        if source is None:
            continue
        for arg, path in source.paths().items():
            if find_data_file(path, ctx.spec_dir) is None:
                yield warning("W406", f"data file not found: {path}", ctx.span(source, arg), _missing_file_hint(path))


def check_reference_shape(ctx: Context):
    """The reference data of the metrics must have the training data's sample shape."""
    reference = ctx.spec.evaluate.reference
    if reference is None or ctx.data_shape is None:
        return
    shape, _ = source_sample_shape(ctx.spec, reference, ctx.spec_dir)
    if shape is not None and shape != ctx.data_shape:
        yield error("E204", f"the reference data has samples of shape {fmt_shape(shape)}, the training data "
                            f"{fmt_shape(ctx.data_shape)}", ctx.span(reference))


def check_data_shape(ctx: Context):
    """Find the sample shape once for the shape checks; report unreadable headers."""
    ctx.data_shape, ctx.data_problem = data_sample_shape(ctx.spec, ctx.spec_dir)
    if ctx.data_problem and "not found" not in ctx.data_problem:
        yield warning("W412", ctx.data_problem, ctx.span(ctx.spec.data.source))


IMAGE_DATA_SETTINGS = ("crop", "resize", "flip", "dequantize")


def check_image_preprocessing(ctx: Context):
    """Crops, flips and dequantization noise are for images, and a crop must fit in them.
    Example: `crop [140, 140]` of 28x28 MNIST -> E204; `flip horizontal` with ring data -> E204."""
    data = ctx.spec.data
    raw, _ = sample_shape(data.source, ctx.spec_dir)
    images = raw is not None and len(raw) == 3
    if data.source.toy or (raw is not None and not images):
        what = f"{data.source.kind}() gives 2D points" if data.source.toy else \
            f"{data.source.kind}() gives samples of shape {fmt_shape(raw)}"
        for name in IMAGE_DATA_SETTINGS:
            if getattr(data, name):
                yield error("E204", f"data.{name} applies to images, but {what}", ctx.span(data, name),
                            f"remove `{name}`")
        return
    problem = crop_problem(data, raw) if images else None
    if problem:
        yield error("E204", f"data.{problem}", ctx.span(data, "crop"),
                    f"crop at most [{raw[0]}, {raw[1]}], or resize without cropping")


def check_diffaugment_images(ctx: Context):
    """DiffAugment (Zhao et al. 2020) colours, shifts and cuts images (N, H, W, C).
    Example: `tricks.diffaugment [translation]` with ring data -> E204."""
    tricks = ctx.spec.tricks
    if not tricks.diffaugment:
        return
    shape = ctx.data_shape
    if ctx.spec.data.source.toy or (shape is not None and len(shape) != 3):
        what = "2D points" if ctx.spec.data.source.toy else f"samples of shape {fmt_shape(shape)}"
        yield error("E204", f"DiffAugment transforms images, but the data are {what}",
                    ctx.span(tricks, "diffaugment"), "remove tricks.diffaugment")


def _walk(ctx, network, shape, role):
    try:
        out, rows = walk_network(ctx.spec, network, shape)
        ctx.cache.setdefault("walks", {})[role] = (shape, rows)  # for the memory estimate
        return out, rows, None
    except L.StackShapeError as exc:
        # A label-reading layer outside a conditional experiment, or one naming a chunk of z that does not
        # exist, stops the walk with its own code.
        code = "E301"
        if isinstance(exc.layer, L.ConditionalBatchNorm) and exc.layer.chunk is not None:
            code = "E312"
        elif isinstance(exc.layer, L.LabelLayer) and ctx.spec.conditional is None:
            code = "E309"
        return None, None, error(code, f"{role}: {exc}", ctx.span(exc.layer), exc.hint,
                                 notes=(f"input to this layer: {fmt_shape(exc.shape)}",))


def check_generator_shapes(ctx: Context):
    """The generator maps z to exactly one data sample. Example: ending in (28, 28, 3) for MNIST -> E303."""
    spec = ctx.spec
    out, rows, problem = _walk(ctx, spec.generator, generator_input_shape(spec), "generator")
    if problem:
        yield problem
        return
    ctx.cache["generator_out"] = out
    if ctx.data_shape is not None and out != ctx.data_shape:
        last = rows[-1].layer if rows else None
        yield error("E303", f"the generator makes samples of shape {fmt_shape(out)}, "
                            f"but the data has shape {fmt_shape(ctx.data_shape)}",
                    ctx.span(_last_shape_layer(spec.generator.layers) or last),
                    _shape_hint(out, ctx.data_shape))


def _last_shape_layer(layers):
    for layer in reversed(list(L.iter_layers(layers))):
        if not layer.is_activation and not isinstance(layer, (L.BatchNorm, L.LayerNorm, L.Dropout)):
            return layer
    return None


def _shape_hint(out, want):
    if len(out) == len(want) == 3 and out[:2] == want[:2]:
        return f"set the last layer's filters to {want[2]}"
    if len(out) == len(want) == 3 and out[2] == want[2]:
        return f"the spatial size is {out[0]}x{out[1]}; {want[0]}x{want[1]} is needed: check strides and reshape"
    if len(out) == 1 and len(want) == 1:
        return f"end with dense({want[0]})"
    if len(want) == 3 and len(out) != 3:
        return f"end with reshape{fmt_shape(want)} or convolutions that make that shape"
    return None


def check_critic_shapes(ctx: Context):
    """The critic maps one (packed) sample to one number. Example: no flatten before dense(1) -> E302."""
    spec = ctx.spec
    sample = ctx.data_shape or ctx.cache.get("generator_out")
    if sample is None:
        return
    out, rows, problem = _walk(ctx, spec.critic, critic_input_shape(spec, sample), "critic")
    if problem:
        yield problem
        return
    if out != (1,):
        hint = "end with dense(1)"
        if len(out) > 1:
            hint = "add flatten before the last dense(1)" if out[-1] == 1 else "end with flatten and dense(1)"
        yield error("E302", f"the critic must give one number per sample, but gives shape {fmt_shape(out)}",
                    ctx.span(rows[-1].layer if rows else spec.critic), hint)


def check_explicit_padding(ctx: Context):
    """A conv's explicit padding is smaller than its kernel, else the outermost outputs see only zeros.
    Example: `conv(64, kernel: 3, padding: 3)` -> E202 (PyTorch's usual choice is kernel // 2)."""
    for network in (ctx.spec.generator, ctx.spec.critic):
        for layer in L.iter_layers(network.layers):
            pads = L.explicit_padding(layer.padding) if isinstance(layer, L.Conv) else None
            if pads is not None and max(pads) >= layer.kernel:
                yield error("E202", f"{layer.kind} padding {max(pads)} is not smaller than its kernel "
                                    f"{layer.kernel}: the outermost outputs would see only zero padding",
                            ctx.span(layer, "padding"),
                            f"PyTorch's usual choice keeps the size at stride 1: padding: {layer.kernel // 2}")


def check_initializer_mean(ctx: Context):
    """A normal initializer given only one positional number sets the mean, not the std (the order is
    PyTorch's `nn.init.normal_(mean, std)`), which is rarely what was meant.
    Example: `generator(init: normal(0.02)) { ... }` -> W414 (mean 0.02, std 0.02)."""
    for network in (ctx.spec.generator, ctx.spec.critic):
        holders = [network, *(layer for layer in L.iter_layers(network.layers) if isinstance(layer, L.WeightLayer))]
        for holder in holders:
            for field in ("init", "bias_init"):
                init = getattr(holder, field, None)
                if (init is not None and init.kind in ("normal", "truncated_normal") and init.mean != 0
                        and "std" not in init.model_fields_set):
                    yield warning("W414", f"{init.kind}({init.mean:g}) sets the mean to {init.mean:g}, with the "
                                          f"default std {init.std:g}: the first argument is the mean",
                                  ctx.span(holder, field),
                                  f"for a zero-mean initializer write {init.kind}(0, {init.mean:g}) or "
                                  f"{init.kind}(std: {init.mean:g})")


def check_pack(ctx: Context):
    """PacGAN packing applies to the critic, and the batch must split into packs."""
    spec = ctx.spec
    if spec.generator.pack != 1:
        yield error("E204", "`pack` is a critic option (PacGAN); the generator makes single samples",
                    ctx.span(spec.generator, "pack"))
    if spec.critic.pack > 1 and spec.train.batch % spec.critic.pack:
        yield error("E306", f"batch {spec.train.batch} does not split into packs of {spec.critic.pack}",
                    ctx.span(spec.train, "batch"), f"use a batch that is a multiple of {spec.critic.pack}")


def check_update_order(ctx: Context):
    """Only the critic_first order takes several critic or generator updates per iteration, and the
    generator and critic batches may differ only there. Example: `steps { critic 5 order simultaneous }`
    -> E308 (one forward pass gives one update of each network)."""
    spec = ctx.spec
    steps, order = spec.steps, spec.steps.order
    if order != "critic_first":
        where = ctx.span(steps, "order")
        for name, value in (("critic", steps.critic), ("generator", steps.generator)):
            if value != 1:
                yield error("E308", f"order {order} makes one {name} update per iteration, but steps.{name} "
                                    f"is {value}", ctx.span(steps, name),
                            f"use steps.{name} 1, or order critic_first")
        if steps.schedule is not None:
            yield error("E308", f"order {order} makes one critic update per iteration; a step schedule "
                                "varies their number", ctx.span(steps, "schedule"), "remove the schedule, "
                                "or use order critic_first")
        if spec.train.generator_batch not in (None, spec.train.batch):
            yield error("E308", f"order {order} shows the critic the generator's batch, so train.generator_batch "
                                f"({spec.train.generator_batch}) must equal train.batch ({spec.train.batch})",
                        ctx.span(spec.train, "generator_batch"), "remove generator_batch, or use order critic_first")
        if order == "generator_first" and spec.conditional is not None:
            yield error("E308", "order generator_first is not available for a conditional GAN: its fakes carry "
                                "sampled labels, the real batch its own", where, "use order critic_first")
    if steps.share_real_batch and steps.critic == 1 and steps.schedule is None:
        yield warning("W413", "share_real_batch has no effect with one critic step per iteration: every "
                              "iteration consumes one real batch anyway", ctx.span(steps, "share_real_batch"),
                      "set steps.critic to the number of critic steps that share the batch")
    generator_batch = spec.train.generator_batch
    if generator_batch is not None and generator_batch % spec.critic.pack:
        yield error("E306", f"generator_batch {generator_batch} does not split into packs of {spec.critic.pack}",
                    ctx.span(spec.train, "generator_batch"), f"use a batch that is a multiple of {spec.critic.pack}")
    objective = spec.objective
    if generator_batch in (None, spec.train.batch):
        return
    relativistic = isinstance(objective, components.Relativistic)
    if relativistic and not objective.average:
        yield error("E308", "relativistic(average: false) pairs each fake with a real sample, so "
                            f"train.generator_batch ({generator_batch}) must equal train.batch ({spec.train.batch})",
                    ctx.span(spec.train, "generator_batch"), "use relativistic(average: true), or drop generator_batch")
    elif spec.conditional is not None and (relativistic or spec.tricks.unrolled):
        yield error("E308", "a conditional generator update that shows the critic real data (relativistic, "
                            "unrolled) labels the real batch with its sampled labels, so train.generator_batch "
                            f"({generator_batch}) must equal train.batch ({spec.train.batch})",
                    ctx.span(spec.train, "generator_batch"), "drop generator_batch")


def check_conditional_labels(ctx: Context):
    """A conditional GAN needs labelled data (Mirza & Osindero 2014)."""
    spec = ctx.spec
    if spec.conditional is None:
        return
    source = spec.data.source
    labelled = source.has_labels or getattr(source, "labels", None) or getattr(source, "labels_key", None)
    if not labelled:
        yield error("E305", f"a conditional GAN needs labels, but {source.kind}() gives none",
                    ctx.span(source), "give the labels file, e.g. idx(\"images\", labels: \"labels\")"
                    if source.kind in ("idx", "npz") else None)


def check_metrics_fit_data(ctx: Context):
    """Toy metrics need toy data; image metrics need images."""
    spec = ctx.spec
    toy = spec.data.source.toy
    for metric in spec.evaluate.metrics:
        if metric.needs_toy and not toy:
            yield error("E204", f"{metric.kind} needs a toy mixture (ring or grid) as data", ctx.span(metric))
        elif metric.needs_toy and spec.data.source.kind == "gaussian":
            yield error("E204", f"{metric.kind} needs a mixture with modes (ring or grid)", ctx.span(metric))
        if metric.needs_images and toy:
            yield error("E204", f"{metric.kind} scores images; the data here are 2D points",
                        ctx.span(metric), "use mode_coverage or wasserstein_distance")


def check_truncation(ctx: Context):
    """The truncation trick bounds normal latent factors (Brock et al. 2019, sec. 3.1). Example:
    `latent uniform(64)` with `evaluate.truncation 0.5` -> E204."""
    spec = ctx.spec
    if spec.evaluate.truncation is None:
        return
    if not spec.latent.truncatable:
        yield error("E204", f"evaluate.truncation bounds the normal factors of z, but {spec.latent.kind}(...) "
                            "has none",
                    ctx.span(spec.evaluate, "truncation"), "drop evaluate.truncation, or draw z from normal(...)")


def _critic_has(spec: Spec, cls) -> bool:
    return any(isinstance(layer, cls) for layer in L.iter_layers(spec.critic.layers))


def check_wasserstein_lipschitz(ctx: Context):
    """Arjovsky et al. 2017: the critic must be K-Lipschitz, else the Wasserstein loss diverges."""
    spec = ctx.spec
    if not spec.objective.wasserstein:
        return
    lipschitz = (components.WeightClip, components.SpectralNorm, components.GradientPenalty)
    if any(isinstance(c, lipschitz) for c in spec.constraints) or _critic_has(spec, L.SpectralNormBlock):
        return
    yield warning("W400", "Wasserstein objective with an unconstrained critic: the critic loss can grow "
                          "without bound", ctx.span(spec.objective),
                  "add `constraint gradient_penalty(weight: 10)` (WGAN-GP), `constraint weight_clip(0.01)` "
                  "(WGAN) or `constraint spectral_norm` (SN-GAN)")


def check_penalty_with_batchnorm(ctx: Context):
    """Gulrajani et al. 2017, sec. 4: batch norm breaks per-sample gradient penalties; use layer norm."""
    spec = ctx.spec
    penalties = [c for c in spec.constraints if c.is_gradient_penalty and not isinstance(c, components.Consistency)]
    if not penalties:
        return
    for layer in L.iter_layers(spec.critic.layers):
        if isinstance(layer, L.BatchNorm):
            yield warning("W401", f"{penalties[0].kind} with batchnorm in the critic: the penalty is per sample, "
                                  "but batch norm mixes the samples of a batch", ctx.span(layer),
                          "use layernorm in the critic (WGAN-GP paper, sec. 4)")
            return


def check_clip_with_momentum(ctx: Context):
    """Arjovsky et al. 2017, sec. 3: with weight clipping, momentum optimizers (Adam) were unstable; use RMSProp."""
    spec = ctx.spec
    if not any(isinstance(c, components.WeightClip) for c in spec.constraints):
        return
    opt = spec.optimizer.critic
    if opt.has_momentum():
        default = "" if opt.span is not None else ", the default since no `optimizer.critic` is set"
        yield warning("W402", f"weight clipping with a momentum optimizer for the critic ({opt.text()}{default})",
                      ctx.span(opt), "the WGAN paper recommends rmsprop(lr: 5e-5)")


def check_sigmoid_output(ctx: Context):
    """Losses computed from logits apply the sigmoid themselves; a sigmoid layer squashes twice."""
    spec = ctx.spec
    last = L.last_layer(spec.critic.layers)
    if not isinstance(last, L.Sigmoid):
        return
    objective = spec.objective
    reads_logits = objective.expects_logits and getattr(objective, "reads_logits", True)
    if reads_logits or objective.unbounded_critic:
        what = "reads the critic output as a logit" if reads_logits else "needs an unbounded critic output"
        yield warning("W403", f"the critic ends in sigmoid, but the {objective.kind} objective {what}",
                      ctx.span(last), "remove the final sigmoid: the loss is computed from logits, stably")


def check_minimax_saturates(ctx: Context):
    """Goodfellow et al. 2014, sec. 3: log(1 - D(G(z))) saturates early; the non-saturating loss does not."""
    spec = ctx.spec
    if spec.objective.generator_saturates():
        yield warning("W404", "the minimax generator loss saturates when the discriminator wins early: "
                              "its gradients vanish", ctx.span(spec.objective),
                      "use `objective non_saturating` unless you are reproducing the original GAN")


def check_f_divergence(ctx: Context):
    """Nowozin et al. 2016, Table 6: f* is finite only on dom f*; the output activation g_f keeps V there."""
    spec = ctx.spec
    objective = spec.objective
    if not isinstance(objective, components.FDivergence):
        return
    domain = components.F_DIVERGENCES[objective.divergence]["domain"]
    if objective.activation == "identity" and domain is not None:
        yield error("E307", f"f_divergence({objective.divergence}) with an identity output activation: "
                            f"f* is defined only for {domain}", ctx.span(objective, "activation"),
                    "use activation: paper (g_f from Nowozin et al. 2016, Table 6)")
    last = L.last_layer(spec.critic.layers)
    if last is not None and last.is_activation:
        yield warning("W405", f"the critic ends in {last.kind}, but f_divergence applies its own output "
                              f"activation g_f = {components.F_DIVERGENCES[objective.divergence]['activation']}",
                      ctx.span(last), "end the critic with a linear layer such as dense(1)")


def check_output_range(ctx: Context):
    """The generator's last activation should produce the data's pixel range."""
    spec = ctx.spec
    if spec.data.source.toy or spec.data.scale is None:
        return
    last = L.last_layer(spec.generator.layers)
    low, high = spec.data.scale
    if isinstance(last, L.Sigmoid) and low < 0:
        yield warning("W407", f"the generator ends in sigmoid (0..1) but data are scaled to [{low:g}, {high:g}]",
                      ctx.span(last), "use tanh, or `scale [0, 1]`")
    elif isinstance(last, L.Tanh) and (low, high) != (-1, 1) and low >= 0:
        yield warning("W407", f"the generator ends in tanh (-1..1) but data are scaled to [{low:g}, {high:g}]",
                      ctx.span(last), "use sigmoid, or `scale [-1, 1]`")


def check_consistency_dropout(ctx: Context):
    """CT-GAN (Wei et al. 2018) perturbs the critic with dropout; without dropout the term is zero."""
    spec = ctx.spec
    for c in spec.constraints:
        if isinstance(c, components.Consistency) and not _critic_has(spec, L.Dropout):
            yield warning("W408", "the consistency term needs dropout in the critic: without it both passes "
                                  "agree and the term is always 0", ctx.span(c), "add dropout(0.1) after hidden layers")


def check_tricks_fit_objective(ctx: Context):
    """Label smoothing/flipping/noise act on classification targets; they do nothing for a Wasserstein or hinge critic."""
    spec = ctx.spec
    tricks = spec.tricks
    used = [n for n in ("label_smoothing", "label_flip", "label_noise") if getattr(tricks, n)]
    if used and not spec.objective.real_fake_targets:
        yield warning("W411", f"{used[0]} has no effect with the {spec.objective.kind} objective "
                              "(it has no real/fake targets)", ctx.span(tricks, used[0]))


CHECKS = (
    check_data_files,
    check_data_shape,
    check_image_preprocessing,
    check_diffaugment_images,
    check_reference_shape,
    check_generator_options,
    check_latent_chunks,
    check_shared_embedding,
    check_generator_shapes,
    check_critic_shapes,
    check_memory,
    check_heads,
    check_auxiliary_losses,
    check_explicit_padding,
    check_initializer_mean,
    check_pack,
    check_update_order,
    check_conditional_labels,
    check_metrics_fit_data,
    check_truncation,
    check_wasserstein_lipschitz,
    check_penalty_with_batchnorm,
    check_clip_with_momentum,
    check_sigmoid_output,
    check_minimax_saturates,
    check_f_divergence,
    check_output_range,
    check_consistency_dropout,
    check_tricks_fit_objective,
)


def run_checks(spec: Spec, spec_dir=None) -> list[Diagnostic]:
    """All checks, in order."""
    ctx = Context(spec, Path(spec_dir) if spec_dir is not None else None)
    found: list[Diagnostic] = []
    for check in CHECKS:
        found.extend(check(ctx))
    return found


def _missing_file_hint(path: str) -> str:
    """W406's hint (ganspec.download, imported only when a file is missing)."""
    from ganspec.download import missing_file_hint

    return missing_file_hint(path)
