"""Hypothesis strategies that write valid .gan specs with random layout and comments."""

from __future__ import annotations

from hypothesis import strategies as st

NAMES = st.sampled_from(["alpha", "width", "depth", "k", "z_dim"])
BIAS_INITS = st.sampled_from(["zeros", "pytorch", "normal(0, 0.02)", "uniform(low: -0.1, high: 0.1)",
                              "truncated_normal(std:0.01)"])
INITS = st.one_of(BIAS_INITS, st.sampled_from(["orthogonal", "orthogonal(gain: 2)", "glorot_uniform", "he_normal()",
                                               "lecun_normal", "glorot_normal", "he_uniform"]))


@st.composite
def network_options(draw) -> str:
    """Nothing, or `(init: ..., bias_init: ...)` after `generator` / `critic`."""
    options = []
    if draw(st.booleans()):
        options.append(f"init: {draw(INITS)}")
    if draw(st.booleans()):
        options.append(f"bias_init: {draw(BIAS_INITS)}")
    return f"({', '.join(options)})" if options else ""


@st.composite
def gaps(draw, newline_ok: bool = True):
    """Whitespace between tokens: spaces, tabs, newlines (LF or CRLF), maybe a comment."""
    parts = [draw(st.sampled_from([" ", "  ", "\t", " "]))]
    if newline_ok and draw(st.booleans()):
        if draw(st.integers(0, 3)) == 0:
            parts.append(" # " + draw(st.text(alphabet="abc xyz_-=:{}()", max_size=12)))
        parts.append(draw(st.sampled_from(["\n", "\r\n", "\n\n"])))
        parts.append(draw(st.sampled_from(["", "  ", "\t"])))
    return "".join(parts)


@st.composite
def int_expr(draw, value: int) -> str:
    """An integer expression equal to `value`, written in one of several ways."""
    form = draw(st.integers(0, 3))
    if form == 0 or value < 4:
        return str(value)
    if form == 1 and value % 2 == 0:
        return f"{value // 2} * 2"
    if form == 2 and value >= 1000:
        return f"{value:_}"
    return f"({value - 1} + 1)"


@st.composite
def float_expr(draw, value: float) -> str:
    return draw(st.sampled_from([repr(value), f"{value:e}", f"{value:.10g}"]))


@st.composite
def call(draw, name: str, positional: list[str], named: dict[str, str]) -> str:
    args = list(positional)
    for key, val in named.items():
        args.append(f"{key}:{draw(st.sampled_from(['', ' ']))}{val}")
    if not args:
        return name if draw(st.booleans()) else f"{name}()"
    sep = draw(st.sampled_from([", ", ",", " , "]))
    trailing = draw(st.sampled_from(["", ","]))
    return f"{name}({sep.join(args)}{trailing})"


@st.composite
def mlp(draw, out: int, hidden_var: str | None):
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        units = hidden_var if hidden_var and draw(st.booleans()) else draw(int_expr(draw(st.integers(4, 64))))
        named = {}
        if draw(st.integers(0, 3)) == 0:
            named["init"] = draw(INITS)
        if draw(st.integers(0, 3)) == 0:
            named["bias_init"] = draw(BIAS_INITS)
        layers.append(draw(call("dense", [units], named)))
        layers.append(draw(st.sampled_from(["relu", "tanh", "leaky_relu(0.2)", "elu", "gelu", "layernorm"])))
    if draw(st.booleans()):
        inner = draw(call("dense", [str(draw(st.integers(2, 8)))], {}))
        layers.append(f"repeat {draw(st.integers(1, 3))} {{{draw(gaps())}{inner}{draw(gaps())}}}")
    if draw(st.booleans()):  # the block and named layer that `specs` defines
        layers.append(draw(call("hidden", [str(draw(st.integers(2, 8)))],
                                {"act": "act"} if draw(st.booleans()) else {})))
    if draw(st.booleans()):
        shortcut = draw(st.sampled_from(["", "(shortcut: [])", "(shortcut: [dense(6), act])"]))
        layers.append(f"dense(6) residual{shortcut} {{{draw(gaps())}act dense(6){draw(gaps())}}}")
    layers.append(draw(call("dense", [str(out)], {})))
    return "".join(layer + draw(gaps()) for layer in layers)


@st.composite
def specs(draw) -> str:
    """A complete valid spec as text."""
    g = lambda: draw(gaps())  # noqa: E731
    var = draw(NAMES)
    width = draw(st.integers(4, 64))
    lines = ["# spec\n", f"let {var} = {draw(int_expr(width))}{g()}",
             f"let act = {draw(st.sampled_from(['relu', 'leaky_relu(0.1)', 'elu']))}{g()}",
             f"block hidden(units, act: tanh) {{{g()}dense(units){g()}act{g()}}}{g()}"]
    body = []
    body.append(f"seed {draw(st.integers(0, 99))}")
    source = draw(st.sampled_from(["ring", "ring(8, 1.0, 0.01)", "grid(side: 5, spacing: 2.0, std: 0.05)",
                                   "gaussian(mean: [0.0, 1.0], std: 0.5)"]))
    data_items = [f"source {source}"]
    if draw(st.booleans()):
        data_items.append(f"shuffle {draw(int_expr(draw(st.integers(0, 5000))))}")
    body.append("data {" + g() + g().join(data_items) + g() + "}")
    body.append("latent " + draw(call(draw(st.sampled_from(["normal", "uniform", "mixture"])), [str(draw(st.integers(1, 16)))], {})))
    body.append("generator" + draw(network_options()) + " {" + g() + draw(mlp(2, var)) + "}")
    body.append("critic" + draw(network_options()) + " {" + g() + draw(mlp(1, var)) + "}")
    objective = draw(st.sampled_from(["non_saturating", "hinge", "wasserstein", "least_squares(a: 0, b: 1, c: 1)",
                                      "f_divergence(kl)", "relativistic(standard)"]))
    body.append(f"objective {objective}")
    if objective == "wasserstein" or draw(st.booleans()):
        lr = draw(float_expr(draw(st.sampled_from([1e-4, 2e-4, 5e-5, 0.001]))))
        body.append("constraint " + draw(call("gradient_penalty", [], {"weight": lr})))
    if draw(st.booleans()):
        body.append("steps {" + g() + f"critic {draw(st.integers(1, 5))}" + g() + "}")
    if draw(st.booleans()):
        lr = draw(float_expr(draw(st.sampled_from([1e-4, 2e-4, 5e-5]))))
        body.append("optimizer.critic " + draw(call("adam", [], {"lr": lr, "beta1": "0.5"})))
    if draw(st.booleans()):
        body.append(f"train.batch {draw(int_expr(draw(st.sampled_from([32, 64, 128]))))}")
    draw(st.randoms()).shuffle(body)
    lines.append("experiment generated {" + g() + g().join(body) + g() + "}" + g())
    return "".join(lines)
