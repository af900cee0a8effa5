"""Auxiliary losses on the critic's heads (AC-GAN, InfoGAN), written with `keras.ops`, shared by both
backends' steps.

A critic with heads returns [adversarial, head_1, ...] (`ganspec.networks.keras_models.critic_outputs`);
`adversarial` picks the first wherever only the adversarial output counts (objective, penalties).
`AUXILIARY_LOSSES` maps each IR loss kind (`ganspec.ir.auxiliary`) to one function
`(loss, prediction [B, K], target [B, K]) -> scalar`, unweighted; `AuxiliaryTerms` says which head and
which target each loss reads and returns the weighted terms of each update:

- the critic update: `class_cross_entropy`'s real and fake terms (AC-GAN, D maximizes L_S + L_C);
- the generator update: its generator term (G maximizes L_C - L_S);
- the information update (InfoGAN): the code losses on G(z, c), over both networks' weights.
"""

from __future__ import annotations

import math
from typing import Callable

from keras import ops

from ganspec.ir.auxiliary import AUXILIARY, critic_heads
from ganspec.plugins import Implementations

INFORMATION_METRIC = "information_loss"
CRITIC_METRIC = "critic_auxiliary"
GENERATOR_METRIC = "generator_auxiliary"


def adversarial(outputs):
    """The adversarial output of a critic's outputs (the only one of a critic without heads)."""
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def _mean(x):
    return ops.mean(ops.cast(x, "float32"))


def softmax_cross_entropy(logits, one_hot):
    """-sum_k t_k log softmax(l)_k, averaged over the batch (torch.nn.CrossEntropyLoss on logits)."""
    logits = ops.cast(logits, "float32")
    return _mean(-ops.sum(ops.cast(one_hot, "float32") * ops.log_softmax(logits, axis=-1), axis=-1))


def class_cross_entropy(loss, logits, one_hot):
    """Odena et al. 2017, eq. 2-3: -log P(C = c | X), the class head's softmax over its logits."""
    return softmax_cross_entropy(logits, one_hot)


def code_cross_entropy(loss, logits, code):
    """Chen et al. 2016, eq. 4-5: -E[log Q(c | G(z, c))] for a one-hot categorical code c."""
    return softmax_cross_entropy(logits, code)


def code_gaussian(loss, mean, code):
    """Chen et al. 2016, eq. 4-5 with Q(c | x) = N(mean(x), std^2 I): per sample the sum over the code's
    dimensions of (c - mean)^2 / (2 std^2) + log std + log(2 pi) / 2, averaged over the batch."""
    z = (ops.cast(code, "float32") - ops.cast(mean, "float32")) / loss.std
    per_dimension = 0.5 * ops.square(z) + math.log(loss.std) + 0.5 * math.log(2.0 * math.pi)
    return _mean(ops.sum(per_dimension, axis=-1))


def code_mse(loss, prediction, code):
    """PyTorch-GAN infogan.py, continuous_loss = torch.nn.MSELoss(): mean over batch and dimensions of (p - c)^2."""
    return _mean(ops.square(ops.cast(prediction, "float32") - ops.cast(code, "float32")))


AUXILIARY_LOSSES: dict[str, Callable] = Implementations(AUXILIARY, {  # + plugins', lazily
    "class_cross_entropy": class_cross_entropy,
    "code_cross_entropy": code_cross_entropy,
    "code_gaussian": code_gaussian,
    "code_mse": code_mse,
})


class AuxiliaryTerms:
    """The auxiliary terms of a spec's updates: which critic output each loss reads, with which weight."""

    def __init__(self, spec):
        self.spec = spec
        section = spec.auxiliary
        # Output 0 is the adversarial one; the heads follow in written order.
        self.output = {head.key(): i + 1 for i, head in enumerate(critic_heads(spec.critic))}
        self.class_loss = section.class_loss() if section else None
        self.code_losses = section.information_losses() if section else ()
        self.optimizer = section.optimizer if section else None

    @property
    def critic_reads_heads(self) -> bool:
        """Whether the critic update adds a term (AC-GAN's L_C on real and fake)."""
        return self.class_loss is not None and (self.class_loss.real > 0 or self.class_loss.fake > 0)

    @property
    def generator_reads_heads(self) -> bool:
        """Whether the generator update adds a term (AC-GAN's L_C on its fakes)."""
        return self.class_loss is not None and self.class_loss.generator > 0

    @property
    def information(self) -> bool:
        """Whether the iteration ends with InfoGAN's information update."""
        return bool(self.code_losses)

    def critic_outputs(self) -> tuple[int, ...]:
        """The critic's outputs its own update reads: the adversarial one, AC-GAN's class head."""
        return (0,) + ((self.output[self.class_loss.head_key()],) if self.critic_reads_heads else ())

    def information_outputs(self) -> tuple[int, ...]:
        """The critic's outputs the information update reads: the code heads."""
        return tuple(self.output[loss.head_key()] for loss in self.code_losses)

    def _class_term(self, outputs, one_hot):
        loss = self.class_loss
        return AUXILIARY_LOSSES[loss.kind](loss, outputs[self.output[loss.head_key()]], one_hot)

    def critic(self, real_outputs, fake_outputs, one_hot):
        """AC-GAN's critic term (Odena et al. 2017: D maximizes L_S + L_C): real * CE(real) + fake * CE(fake)."""
        loss = self.class_loss
        term = 0.0
        if loss.real > 0:
            term = term + loss.real * self._class_term(real_outputs, one_hot)
        if loss.fake > 0:
            term = term + loss.fake * self._class_term(fake_outputs, one_hot)
        return term

    def generator(self, fake_outputs, one_hot):
        """AC-GAN's generator term (G maximizes L_C - L_S): generator * CE on its fakes."""
        return self.class_loss.generator * self._class_term(fake_outputs, one_hot)

    def information_loss(self, fake_outputs, z):
        """InfoGAN's -lambda L_I (Chen et al. 2016, eq. 5): the weighted code losses on G(z, c), each head
        against its code's columns of z."""
        total = 0.0
        for loss in self.code_losses:
            start, stop = self.spec.latent.columns(loss.code)
            prediction = fake_outputs[self.output[loss.head_key()]]
            total = total + loss.weight * AUXILIARY_LOSSES[loss.kind](loss, prediction, z[:, start:stop])
        return total
