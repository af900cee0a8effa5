"""Diagnostics: errors and warnings as data (code, severity, message, position, hint).

Every stage reports problems by returning `Diagnostic` values (or raising a `SpecError` that
carries them); only a command's `Report` (ganspec.report.report) prints them and turns them
into the exit code.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file; lines and columns count from 1."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start_pos: int = 0
    end_pos: int = 0
    # For text inside a `block` definition: (block name, where it was used), innermost use first.
    via: tuple[tuple[str, "Span"], ...] = ()

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def use_notes(self) -> tuple[str, ...]:
        """Where the block holding this text was used: `in block gblock, used at specs/x.gan:12:5`."""
        return tuple(f"in block `{name}`, used at {use}" for name, use in self.via)


# Stable codes: tests and CI filters rely on them, so never renumber.
CODES: dict[str, str] = {
    # reading and syntax
    "E001": "unreadable-file",
    "E002": "not-utf8",
    "E003": "file-too-large",
    "E010": "syntax-error",
    "E011": "unexpected-character",
    "E012": "unexpected-end",
    "E013": "too-deep",
    "E014": "bad-number",
    # resolution
    "E100": "extends-not-found",
    "E101": "extends-cycle",
    "E102": "undefined-variable",
    "E103": "bad-expression",
    "E104": "duplicate-setting",
    "E105": "bad-override",
    "E106": "recursive-block",
    "E107": "expansion-too-large",
    "E108": "extends-not-a-spec",
    # typed spec
    "E200": "unknown-setting",
    "E201": "unknown-name",
    "E202": "bad-argument",
    "E203": "missing-argument",
    "E204": "bad-value",
    "E205": "missing-setting",
    # shapes and wiring
    "E300": "shape-mismatch",
    "E301": "bad-layer-input",
    "E302": "critic-output",
    "E303": "generator-output",
    "E305": "conditional-without-labels",
    "E306": "batch-not-divisible",
    "E307": "f-divergence-domain",
    "E308": "update-order",
    "E309": "label-without-conditional",
    "E310": "critic-head",
    "E311": "auxiliary-loss",
    "E312": "latent-chunks",
    "E313": "memory-too-large",
    # warnings grounded in the papers
    "W400": "wasserstein-unconstrained",
    "W401": "penalty-with-batchnorm",
    "W402": "clip-with-momentum",
    "W403": "sigmoid-on-logits",
    "W404": "minimax-saturates",
    "W405": "f-divergence-output-activation",
    "W406": "data-not-found",
    "W407": "output-range",
    "W408": "consistency-without-dropout",
    "W411": "trick-without-effect",
    "W412": "data-unreadable",
    "W413": "shared-batch-without-effect",
    "W414": "initializer-mean",
    "W415": "latent-chunk-unread",
    "W416": "memory-exceeds-machine",
    # the command line and the machine a command runs on
    "E500": "bad-usage",
    "E501": "backend-unavailable",
    "E502": "not-a-run-directory",
    "E503": "no-such-checkpoint",
    "E504": "changed-spec",
    "E505": "incomparable-runs",
    "E506": "features-unavailable",
    "E507": "extra-not-installed",
    "E508": "download-failed",
    "E509": "export-failed",
    "E510": "tracking-failed",
    "E511": "bad-device-layout",
    "E512": "run-in-use",
    "E513": "sweep-points-failed",
    "E514": "out-of-memory",
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a spec, with where it is and what to do about it."""

    code: str
    severity: Severity
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if self.span is not None and self.span.via:  # say which use of a block the problem is in
            extra = tuple(note for note in self.span.use_notes() if note not in self.notes)
            object.__setattr__(self, "notes", tuple(self.notes) + extra)

    @property
    def name(self) -> str:
        return CODES.get(self.code, "unknown")

    def to_json(self) -> dict:
        data = {
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
            "notes": list(self.notes),
            "file": None,
            "line": None,
            "column": None,
            "end_line": None,
            "end_column": None,
        }
        if self.span is not None:
            for key in ("file", "line", "column", "end_line", "end_column"):
                data[key] = getattr(self.span, key)
        return data


def error(code: str, message: str, span: Span | None = None, hint: str | None = None, notes=()) -> Diagnostic:
    """An error diagnostic."""
    return Diagnostic(code, Severity.ERROR, message, span, hint, tuple(notes))


def warning(code: str, message: str, span: Span | None = None, hint: str | None = None, notes=()) -> Diagnostic:
    """A warning diagnostic."""
    return Diagnostic(code, Severity.WARNING, message, span, hint, tuple(notes))


class SpecError(Exception):
    """Raised to stop a stage; carries the diagnostics that explain why."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__("; ".join(d.message for d in self.diagnostics))


# Names people bring from other libraries, mapped to ours.
ALIASES = {
    "lrelu": "leaky_relu", "leakyrelu": "leaky_relu", "leaky": "leaky_relu", "bn": "batchnorm",
    "batch_norm": "batchnorm", "batchnormalization": "batchnorm", "layer_norm": "layernorm", "ln": "layernorm",
    "conv2d": "conv", "convolution": "conv", "conv2d_transpose": "conv_transpose", "deconv": "conv_transpose",
    "conv2dtranspose": "conv_transpose", "linear": "dense", "fc": "dense", "upsampling": "upsample",
    "upsampling2d": "upsample", "maxpool": "pool", "avgpool": "pool", "zero_pad": "pad", "zeropadding": "pad",
    "cropping": "crop", "sn": "spectral_norm", "spectral_normalization": "spectral_norm", "gp": "gradient_penalty",
    "wgan_gp": "gradient_penalty", "dragan": "gradient_penalty", "clip": "weight_clip", "clipping": "weight_clip",
    "rms_prop": "rmsprop", "rmsprop_optimizer": "rmsprop", "nonsaturating": "non_saturating", "ns": "non_saturating",
    "wgan": "wasserstein", "lsgan": "least_squares", "ls": "least_squares", "gaussian_noise": "instance_noise",
    "is": "inception_score", "discriminator_steps": "critic", "n_critic": "critic", "batch_size": "batch",
    "steps_per_generator": "critic", "learning_rate": "lr", "beta_1": "beta1", "beta_2": "beta2",
    "epsilon": "eps", "z_dim": "dim", "gauss": "gaussian", "mog": "ring",
}


def did_you_mean(word: str, choices) -> str | None:
    """The nearest valid word, as a hint, or None when nothing is close."""
    import difflib

    choices = sorted(set(choices))
    alias = ALIASES.get(word.lower())
    if alias in choices:
        return f"did you mean '{alias}'?"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return None


def has_errors(diagnostics) -> bool:
    """Whether any of the diagnostics is an error."""
    return any(d.severity is Severity.ERROR for d in diagnostics)
