"""Auxiliary losses on the critic's heads, and the `auxiliary` section that declares them.

A critic may carry heads besides its adversarial output (`head(label) { ... }`, `head(code: 1) { ... }`,
`ganspec.ir.layers.Head`); each loss here reads one head and says which update it enters with which
weight. The training half (one small `keras.ops` function per loss) is `ganspec.train.auxiliary`.

    auxiliary {
      losses [code_cross_entropy(1), code_mse(2, weight: 0.1)]
      optimizer adam(lr: 2e-4, beta1: 0.5)      # InfoGAN's information update (PyTorch-GAN's optimizer_info)
    }
"""

from typing import Annotated, ClassVar, Literal, Optional

from pydantic import Field

from ganspec.ir.base import Component, Node, Registry
from ganspec.ir import layers as L
from ganspec.ir.components import OPTIMIZERS

AUXILIARY = Registry("auxiliary loss")

Weight = Annotated[float, Field(ge=0)]
Index = Annotated[int, Field(ge=0)]


class AuxiliaryLoss(Component):
    """A loss on one critic head. `reads` says which head: `label` (head(label)) or `code` (head(code: N))."""

    reads: ClassVar[str] = "code"
    discrete: ClassVar[bool] = False  # the code it predicts is categorical (else continuous)

    def head_key(self) -> str:
        """The head this loss reads: `label`, or `code N`."""
        return "label" if self.reads == "label" else f"code {self.code}"

    def head_text(self) -> str:
        """The head it reads, as written in a critic: `head(label)`, `head(code: N)`."""
        return "head(label)" if self.reads == "label" else f"head(code: {self.code})"

    def information(self) -> bool:
        """Whether it enters InfoGAN's information update (the code losses) rather than the D and G losses."""
        return self.reads == "code"


@AUXILIARY.register
class ClassCrossEntropy(AuxiliaryLoss):
    """AC-GAN's class loss (Odena et al. 2017, eq. 2-3): L_C = E[log P(C = c | X_real)] + E[log P(C = c |
    X_fake)], the softmax cross-entropy of `head(label)`'s logits with the class; D maximizes L_S + L_C
    (`real` and `fake` weight its two terms), G maximizes L_C - L_S (`generator` weights its term).
    Gulrajani et al. 2017's conditional CIFAR-10 ResNet (igul222/improved_wgan_training,
    gan_cifar_resnet.py): `real: 1, fake: 0, generator: 0.1` (ACGAN_SCALE on real data, ACGAN_SCALE_G)."""

    kind: Literal["class_cross_entropy"] = "class_cross_entropy"
    real: Weight = 1.0
    fake: Weight = 1.0
    generator: Weight = 1.0
    reads: ClassVar = "label"


@AUXILIARY.register
class CodeCrossEntropy(AuxiliaryLoss):
    """InfoGAN's mutual-information bound for a categorical code (Chen et al. 2016, eq. 4-5): lambda *
    -E[log Q(c | G(z, c))], the softmax cross-entropy of `head(code: N)`'s outputs, read as logits
    (torch.nn.CrossEntropyLoss), with the sampled one-hot code; in the information update."""

    kind: Literal["code_cross_entropy"] = "code_cross_entropy"
    code: Index
    weight: Weight = 1.0
    positional: ClassVar = ("code", "weight")
    discrete: ClassVar = True


@AUXILIARY.register
class CodeGaussian(AuxiliaryLoss):
    """InfoGAN's bound for a continuous code (Chen et al. 2016, eq. 4-5 and sec. 7: Q(c | x) a factored
    Gaussian): lambda * -E[log N(c; mu(G(z, c)), std^2)], `head(code: N)`'s outputs the means, `std`
    fixed; summed over the code's dimensions; in the information update."""

    kind: Literal["code_gaussian"] = "code_gaussian"
    code: Index
    weight: Weight = 1.0
    std: Annotated[float, Field(gt=0)] = 1.0
    positional: ClassVar = ("code", "weight")


@AUXILIARY.register
class CodeMse(AuxiliaryLoss):
    """PyTorch-GAN's continuous-code loss (implementations/infogan/infogan.py: lambda_con *
    MSELoss(pred_code, code_input)): lambda * the mean over batch and dimensions of (mu - c)^2; a
    Gaussian bound with std sqrt(1/2) up to a constant and the mean over dimensions. In the information update."""

    kind: Literal["code_mse"] = "code_mse"
    code: Index
    weight: Weight = 1.0
    positional: ClassVar = ("code", "weight")


class Auxiliary(Node):
    """Losses on the critic's heads beside the adversarial loss. The class loss enters the critic's and the
    generator's losses (AC-GAN). The code losses are minimized in an information update after the
    iteration's other updates, over both networks' weights, with its own `optimizer` (InfoGAN as
    eriklindernoren/PyTorch-GAN, implementations/infogan/infogan.py: optimizer_info over
    itertools.chain(generator.parameters(), discriminator.parameters())), on fresh z and codes."""

    losses: tuple[AUXILIARY.annotation(), ...] = Field(min_length=1)
    optimizer: Optional[OPTIMIZERS.annotation()] = None

    def information_losses(self) -> tuple:
        return tuple(loss for loss in self.losses if loss.information())

    def class_loss(self):
        return next((loss for loss in self.losses if not loss.information()), None)


def critic_heads(network) -> list[L.Head]:
    """The heads of a network in written order: the order of the built critic's outputs after the first."""
    return [layer for layer in L.iter_layers(network.layers) if isinstance(layer, L.Head)]
