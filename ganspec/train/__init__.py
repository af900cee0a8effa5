"""Stage 5b: losses, penalties, schedules and the compiled training step.

Backend-neutral (`keras.ops`): `objectives`, `constraints`, `schedules`, `priors`,
`optimizers`. TensorFlow-specific: `tf_step` (import it explicitly).
"""
