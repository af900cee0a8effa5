"""Checks of BigGAN's generator options (`ganspec.checks.conditioning`): each mistake gives its code, where
it is, and a hint; a correct split gives nothing."""

from __future__ import annotations

from ganspec.load import load_text

SPEC = """
experiment chunks {
  data { source npz("unused.npz", labels_key: "y") }
  latent normal(%(z)s)
  conditional { classes 3 }
  generator(%(options)s) {
    dense(5) conditional_batchnorm(chunk: 1) relu conditional_batchnorm(chunk: %(last)s) dense(2)
  }
  critic%(critic_options)s { dense(8) relu label_projection }
  objective hinge
}
"""


def _diagnostics(z=6, options="latent_chunks: 3, shared_embedding: 4", last=2, critic_options=""):
    text = SPEC % {"z": z, "options": options, "last": last, "critic_options": critic_options}
    return [d for d in load_text(text).diagnostics if d.code != "W406"]  # the data file is not there


def test_a_correct_split_is_clean():
    assert _diagnostics() == []


def test_chunk_out_of_range_names_the_chunks():
    (found,) = [d for d in _diagnostics(last=3) if d.severity == "error"]
    assert found.code == "E312" and "0 to 2" in found.message and found.hint == "name a chunk from 1 to 2"
    assert found.span.line == 7  # the layer
    (zero,) = _diagnostics(last="0, epsilon: 1e-3")[1:]  # chunk 2 is then unread, and chunk 0 is the stack's
    assert zero.code == "E312" and "chunk 0 feeds the generator's first layer" in zero.message


def test_z_must_split_into_equal_chunks():
    (found,) = _diagnostics(z=7)
    assert found.code == "E312" and "do not split into 3 equal chunks" in found.message
    assert found.span.line == 6 and "7" in found.hint  # the option


def test_unread_chunks():
    (found,) = _diagnostics(z=8, options="latent_chunks: 4", last=1)[:1]
    assert found.code == "W415" and "chunk 2 of z is never read" in found.message
    assert [d.code for d in _diagnostics(z=8, options="latent_chunks: 4", last=1)] == ["W415", "W415"]
    none_read = SPEC.replace("conditional_batchnorm(chunk: 1)", "batchnorm").replace(
        "conditional_batchnorm(chunk: %(last)s)", "conditional_batchnorm")
    codes = [d.code for d in load_text(none_read % {"z": 6, "options": "latent_chunks: 3", "last": 0,
                                                     "critic_options": ""}).diagnostics]
    assert "E312" in codes


def test_a_chunk_needs_a_split():
    (found,) = _diagnostics(options="shared_embedding: 4")  # shape inference stops at the first
    assert found.code == "E312" and "does not split z" in found.message
    assert "generator(latent_chunks: N)" in found.hint


def test_generator_options_on_the_critic():
    found = _diagnostics(critic_options="(latent_chunks: 2, shared_embedding: 4)")
    assert [(d.code, d.severity) for d in found] == [("E204", "error")] * 2
    assert "generator option" in found[0].message


def test_shared_embedding_needs_a_label_and_its_readers():
    unconditional = (SPEC % {"z": 6, "options": "latent_chunks: 3, shared_embedding: 4", "last": 2,
                             "critic_options": ""}).replace("conditional { classes 3 }", "").replace(
        'labels_key: "y"', "").replace("label_projection", "dense(1)")
    assert [d.code for d in load_text(unconditional).diagnostics if d.code != "W406"] == ["E309"]
    unread = SPEC.replace("dense(5) conditional_batchnorm(chunk: 1) relu conditional_batchnorm(chunk: %(last)s)",
                          "dense(5) relu")
    codes = [d.code for d in load_text(unread % {"z": 6, "options": "shared_embedding: 4", "last": 0,
                                                 "critic_options": ""}).diagnostics]
    assert codes == ["W406", "E204"]
