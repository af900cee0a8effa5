"""TensorBoard event files without TensorFlow: scalars, images, text and the HParams plugin's session
written as TFRecords of the `tensorboard` package's own protocol buffers, so every backend logs the
same way. (TensorBoard's `EventFileWriter` would import TensorFlow, when installed, for its file
system layer, and `tensorboard.plugins.hparams.summary` imports it to build its summaries.)"""

from __future__ import annotations

import io
import os
import socket
import time
from pathlib import Path

import numpy as np


class EventWriter:
    """Appends scalar and image summaries to an event file in `folder`."""

    def __init__(self, folder: Path):
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.ganspec"
        self._writer = RecordWriter(open(folder / name, "ab"))  # noqa: SIM115 - closed in close()
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _write(self, event) -> None:
        self._writer.write(event.SerializeToString())

    def _add(self, step: int, values: list) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        summary = summary_pb2.Summary(value=values)
        self._write(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        from tensorboard.compat.proto import summary_pb2

        if values:
            self._add(step, [summary_pb2.Summary.Value(tag=k, simple_value=float(v)) for k, v in values.items()])

    def image(self, step: int, tag: str, picture: np.ndarray) -> None:
        """An RGB or grey uint8 picture [H, W(, C)], PNG-encoded."""
        from PIL import Image
        from tensorboard.compat.proto import summary_pb2

        picture = np.asarray(picture)
        buffer = io.BytesIO()
        Image.fromarray(picture.squeeze(-1) if picture.ndim == 3 and picture.shape[-1] == 1 else picture).save(
            buffer, format="PNG")
        channels = 1 if picture.ndim == 2 else picture.shape[-1]
        encoded = summary_pb2.Summary.Image(height=picture.shape[0], width=picture.shape[1], colorspace=channels,
                                            encoded_image_string=buffer.getvalue())
        self._add(step, [summary_pb2.Summary.Value(tag=tag, image=encoded)])

    def text(self, step: int, tag: str, text: str) -> None:
        """A text summary (markdown, shown by TensorBoard's Text tab): a string tensor, plugin "text"."""
        from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
        from tensorboard.plugins.text import metadata

        tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[text.encode("utf-8")],
                                        tensor_shape=tensor_shape_pb2.TensorShapeProto())
        self._add(step, [summary_pb2.Summary.Value(tag=tag, tensor=tensor,
                                                   metadata=metadata.create_summary_metadata(tag, ""))])

    def hparams(self, values: dict, group_name: str = "") -> None:
        """The HParams plugin's session start: the run's hyperparameters {name: number, string or bool}.
        TensorBoard's HParams tab lists them against the run's scalars."""
        from tensorboard.plugins.hparams import metadata, plugin_data_pb2

        start = plugin_data_pb2.SessionStartInfo(group_name=group_name, start_time_secs=time.time())
        for name, value in values.items():
            if isinstance(value, bool):  # before int: a bool is an int to isinstance
                start.hparams[name].bool_value = value
            elif isinstance(value, (int, float)):
                start.hparams[name].number_value = value
            else:
                start.hparams[name].string_value = str(value)
        data = plugin_data_pb2.HParamsPluginData(session_start_info=start)
        self._hparams_event(metadata.SESSION_START_INFO_TAG, data)

    def session_end(self, success: bool) -> None:
        """The HParams plugin's session end: the run's status (success or failure)."""
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

        end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS if success else api_pb2.STATUS_FAILURE,
                                             end_time_secs=time.time())
        self._hparams_event(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end))

    def _hparams_event(self, tag: str, data) -> None:
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.hparams import metadata

        self._add(0, [summary_pb2.Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data),
                                                tensor=metadata.NULL_TENSOR)])

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
