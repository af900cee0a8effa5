"""The device layout of a run (`ganspec.train.layout`): what --strategy, --devices and the environment ask for,
and the errors for layouts that cannot work. Light: no backend is imported."""

import json

import pytest

from ganspec.train.layout import NONE, Layout, LayoutError, resolve, with_device_count


def test_one_device_in_one_process_is_todays_path():
    assert resolve("tensorflow", env={}) == NONE
    assert resolve("jax", "auto", 1, env={}) == NONE
    assert not NONE.distributed and NONE.replicas == 1 and NONE.is_chief


def test_devices_pick_the_backends_strategy():
    assert resolve("tensorflow", devices=2, env={}) == Layout("mirrored", 2)
    assert resolve("jax", devices="4", env={}) == Layout("data_parallel", 4)
    assert resolve("tensorflow", "mirrored", 1, env={}) == Layout("mirrored", 1)  # the distributed path, one replica
    all_devices = resolve("jax", devices="all", env={})
    assert all_devices == Layout("data_parallel", 0)  # counted by the backend
    assert with_device_count(all_devices, 8) == Layout("data_parallel", 8)


def test_tf_config_makes_a_multi_worker_layout():
    env = {"TF_CONFIG": json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]},
                                    "task": {"type": "worker", "index": 2}})}
    layout = resolve("tensorflow", env=env)
    assert layout == Layout("multi_worker", 1, workers=3, worker=2)
    assert layout.replicas == 3 and not layout.is_chief
    assert resolve("tensorflow", devices=2, env=env).replicas == 6


def test_jax_processes_come_from_jaxs_own_variables():
    layout = resolve("jax", env={"JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1",
                                 "JAX_COORDINATOR_ADDRESS": "127.0.0.1:1234"})
    assert layout == Layout("data_parallel", 1, workers=2, worker=1)


@pytest.mark.parametrize("backend, strategy, devices, env, words", [
    ("tensorflow", "data_parallel", None, {}, "not a tensorflow strategy"),
    ("jax", "mirrored", 2, {}, "not a jax strategy"),
    ("tensorflow", "fancy", None, {}, "unknown strategy"),
    ("tensorflow", "auto", "two", {}, "not a number"),
    ("jax", "auto", 0, {}, "at least one device"),
    ("tensorflow", "none", 2, {}, "one device"),
    ("tensorflow", "auto", None, {"TF_CONFIG": "{not json"}, "TF_CONFIG is not valid"),
    ("tensorflow", "auto", None, {"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"index": 3}}'}, "outside"),
    ("tensorflow", "mirrored", None, {"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"index": 0}}'},
     "several workers"),
    ("jax", "auto", None, {"JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "2"}, "outside"),
])
def test_impossible_layouts_say_why(backend, strategy, devices, env, words):
    with pytest.raises(LayoutError) as caught:
        resolve(backend, strategy, devices, env=env)
    assert words in caught.value.message


def test_the_global_batch_must_divide_over_the_replicas():
    assert Layout("mirrored", 4).per_replica_batch(64) == 16
    with pytest.raises(LayoutError) as caught:
        Layout("mirrored", 3).per_replica_batch(64)
    assert "train.batch = 64" in caught.value.message and "3 replicas" in caught.value.message
    assert "4" in caught.value.hint  # a replica count that divides 64


def test_more_devices_than_there_are_is_refused():
    with pytest.raises(LayoutError, match="sees 1 device"):
        with_device_count(Layout("mirrored", 2), 1)
