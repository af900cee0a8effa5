"""TensorBoard event files without TensorFlow: scalars and images written as TFRecords of the
`tensorboard` package's own protocol buffers, so every backend logs the same way. (TensorBoard's
`EventFileWriter` would import TensorFlow, when installed, for its file system layer.)"""

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

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
