"""vision/batch.py on the CPU: the GPU letterbox puts each frame where ultralytics would
and boxes map back; the batched NMS agrees with ultralytics'; frames submitted from many
camera threads go through the network in shared calls."""

from __future__ import annotations

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ultralytics")

from vision.batch import (  # noqa: E402
    BatchDetector,
    BatchQueue,
    batched_nms,
    canvas_size,
    letterbox_batch,
    shared_queue,
)


@pytest.mark.parametrize(("shape", "rect", "canvas", "pad"), [
    ((360, 640), True, (384, 640), (0, 12)),
    ((360, 640), False, (640, 640), (0, 140)),
    ((1080, 1920), True, (384, 640), (0, 12)),
    ((480, 480), True, (640, 640), (0, 0)),
])
def test_letterbox_places_and_unmaps(shape, rect, canvas, pad) -> None:  # noqa: ANN001
    h, w = shape
    frame = np.zeros((h, w, 3), np.uint8)
    y1, y2, x1, x2 = h // 4, h // 2, w // 4, w // 2
    frame[y1:y2, x1:x2] = (255, 0, 0)  # blue in BGR
    batch, boxes = letterbox_batch([frame], 640, "cpu", rect=rect)
    assert tuple(batch.shape) == (1, 3, *canvas)
    assert (boxes[0].pad_x, boxes[0].pad_y) == pad
    blue = batch[0, 2] > 0.9  # RGB order: channel 2 is blue
    ys, xs = torch.nonzero(blue, as_tuple=True)
    mapped = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    back = boxes[0].unmap(mapped)[0]
    assert np.allclose(back, [x1, y1, x2, y2], atol=4)
    assert abs(float(batch[0, 0, 0, 0]) - (114 / 255 if pad != (0, 0) else 0)) < 1e-3


def test_mixed_sizes_share_one_canvas() -> None:
    assert canvas_size([(360, 640), (1080, 1920), (576, 704)], 640, True) == (544, 640)  # 704x576 scales to 640x524


def test_batched_nms_agrees_with_ultralytics() -> None:
    from ultralytics.utils.nms import non_max_suppression

    gen = torch.Generator().manual_seed(3)
    n, classes, anchors = 4, 5, 900
    raw = torch.zeros(n, 4 + classes, anchors)
    raw[:, 0:2] = torch.rand(n, 2, anchors, generator=gen) * 600
    raw[:, 2:4] = torch.rand(n, 2, anchors, generator=gen) * 80 + 4
    raw[:, 4:] = torch.rand(n, classes, anchors, generator=gen) ** 6
    ours = batched_nms(raw, 0.25, 0.45, max_det=300, max_candidates=anchors)
    theirs = non_max_suppression(raw, 0.25, 0.45, max_det=300)
    for a, b in zip(ours, theirs, strict=True):
        assert len(a) == len(b)
        key = lambda t: t[torch.argsort(t[:, 4], descending=True)]  # noqa: E731
        assert torch.allclose(key(a), key(b), atol=1e-4)
    only = batched_nms(raw, 0.25, 0.45, classes=[2])
    assert all(bool((o[:, 5] == 2).all()) for o in only)


class CountingDetector(BatchDetector):
    """The real network; remembers the size of each call."""

    calls: list[int]

    def infer(self, images):  # noqa: ANN001, ANN201
        self.calls.append(len(images))
        return super().infer(images)


def test_queue_batches_frames_from_many_cameras() -> None:
    det = CountingDetector.from_yaml("yolo11n.yaml", imgsz=64, device="cpu")
    det.calls = []
    queue = BatchQueue(det, max_batch=16, max_wait_s=0.5)
    results: dict[int, object] = {}
    frames = [np.full((90, 160, 3), i * 8, np.uint8) for i in range(24)]

    def camera(i: int) -> None:
        results[i] = queue.submit(frames[i]).result(120)

    threads = [threading.Thread(target=camera, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    queue.close()
    assert sorted(results) == list(range(24))
    assert sum(det.calls) == 24 and len(det.calls) < 24 and max(det.calls) > 1
    with pytest.raises(RuntimeError, match="closed"):
        queue.submit(frames[0])


def test_shared_queue_is_one_per_model_and_device() -> None:
    a = shared_queue("yolo11n.yaml", imgsz=64, device="cpu")
    assert shared_queue("yolo11n.yaml", imgsz=64, device="cpu") is a
    boxes = a.submit(np.zeros((90, 160, 3), np.uint8)).result(120)
    assert boxes.xyxy.shape[1] == 4
