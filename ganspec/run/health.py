"""Health signals of a running GAN, grounded in the lecture notes (seeds 000, 002, 004).

Each rule is a small registered function over the recent metric history; it returns
an `Alert` or None. Rules read numbers only, never the models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Alert:
    code: str
    severity: str  # "warning" | "fatal"
    message: str
    advice: str


Rule = Callable[[list[dict], object], "Alert | None"]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def _recent(history, key, n=10):
    return [h[key] for h in history[-n:] if key in h and h[key] is not None]


@rule
def non_finite(history, spec):
    """NaN or Inf in any loss: training cannot continue from here."""
    if not history:
        return None
    bad = [k for k, v in history[-1].items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        return Alert("nan", "fatal", f"{', '.join(sorted(bad))} became NaN/Inf",
                     "lower the learning rates, add a gradient penalty or spectral norm, or try precision float32")
    return None


@rule
def vanishing_generator_gradients(history, spec):
    """Seed 000/004: when D wins, log(1 - D(G(z))) saturates and G's gradients vanish."""
    norms = _recent(history, "generator_grad_norm", 10)
    if len(norms) >= 10 and max(norms) < 1e-6:
        return Alert("vanishing", "warning", f"generator gradient norm ~ {max(norms):.1e} for 10 logs",
                     "the discriminator is winning: use the non-saturating loss, fewer critic steps, "
                     "instance noise, or a Lipschitz constraint")
    return None


@rule
def critic_collapse(history, spec):
    """A classification-style critic loss near 0 means D separates perfectly (no signal for G)."""
    if not spec.objective.classification_loss:
        return None
    losses = _recent(history, "critic_loss", 10)
    if len(losses) >= 10 and max(losses) < 1e-3:
        return Alert("critic-collapse", "warning", "critic loss has stayed near 0",
                     "the discriminator is too strong: add instance noise or label smoothing, or lower its lr")
    return None


@rule
def divergence(history, spec):
    """Seed 002: an unconstrained Wasserstein critic (or any loss) running off to large values."""
    losses = _recent(history, "critic_loss", 20)
    if len(losses) >= 20:
        first, last = abs(sum(losses[:5]) / 5), abs(sum(losses[-5:]) / 5)
        if last > 1e4 and last > 100 * max(first, 1.0):
            return Alert("divergence", "warning", f"critic loss grew from {first:.3g} to {last:.3g}",
                         "add or strengthen the Lipschitz constraint, or lower the learning rates")
    return None


def check_health(history: list[dict], spec) -> list[Alert]:
    alerts = []
    for fn in RULES:
        alert = fn(history, spec)
        if alert is not None:
            alerts.append(alert)
    return alerts
