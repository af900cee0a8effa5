"""The commands of `ganspec`: each takes parsed arguments, fills a `Report` and returns its exit code.

`language` holds the commands that read specs (validate, diff, fmt, explain, schema) and never
import TensorFlow, JAX or Keras; `training` holds the ones that train or read a run (run, sample,
eval, compare), which import them only when they run. The argument parser is `ganspec.cli`.
"""
