"""insightface as the high-accuracy face backend, when a model pack is already on disk.

insightface's `FaceAnalysis` downloads a pack it cannot find, and Vigil never downloads at run
time: the folder and its ONNX files are checked here first, and `FaceAnalysis` is given the folder
itself (a path, not a pack name), which it loads without looking anywhere else."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np
import onnxruntime as ort

from app.vision.boxes import to_box
from app.vision.errors import ModelUnavailable
from app.vision.image import Pixels
from app.vision.pose import yaw_degrees
from app.vision.verdict import Face, FaceBackendName

# Detection (SCRFD or RetinaFace) is required; the 68-point 3D landmarks give the head pose.
# Recognition, gender/age and 2D landmarks are not needed to count faces, so they are not loaded.
MODULES: Final = ["detection", "landmark_3d_68"]


def pack_folder(root: str, pack: str) -> Path:
    """`<root>/models/<pack>` if it holds at least one .onnx file, else `ModelUnavailable`."""
    folder = Path(root).expanduser() / "models" / pack
    fix = (
        f"put the pack's .onnx files (at least a detection model such as det_10g.onnx) in "
        f'{folder}, or set vision.face_backend = "blazeface"; Vigil never downloads models'
    )
    if not folder.is_dir():
        raise ModelUnavailable(f"the insightface pack folder {folder} does not exist: {fix}")
    if not any(folder.glob("*.onnx")):
        raise ModelUnavailable(f"the insightface pack folder {folder} has no .onnx file: {fix}")
    return folder


def pose_yaw(face: Any) -> float | None:
    """insightface's pose yaw ([pitch, yaw, roll] in degrees from the 68-point 3D landmarks),
    which shares pose.py's sign: positive when the face turns towards the right of the image."""
    pose = face.get("pose")
    return None if pose is None else float(pose[1])


def keypoint_yaw(face: Any) -> float | None:
    """Yaw from the detector's 5 keypoints (eyes as seen left then right, nose tip, ...)."""
    kps = face.get("kps")
    if kps is None:
        return None
    left, right, nose = ((float(x), float(y)) for x, y in kps[:3])
    return yaw_degrees(left, right, nose)


class InsightFaceDetector:
    name: FaceBackendName = "insightface"

    def __init__(
        self, *, root: str, pack: str, min_confidence: float, looking_away_yaw: float
    ) -> None:
        folder = pack_folder(root, pack)
        self.input_side = 640  # its second look (det_size below)
        # Imported here: insightface loads scikit-image and onnx, which the BlazeFace path skips.
        from insightface.app import FaceAnalysis

        options = ort.SessionOptions()
        # One thread: the process pool is where the parallelism comes from.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._app = FaceAnalysis(
                name=str(folder),
                root=str(Path(root).expanduser()),
                allowed_modules=MODULES,
                providers=["CPUExecutionProvider"],
                sess_options=options,
            )
        except AssertionError:  # FaceAnalysis asserts that a detection model was found
            raise ModelUnavailable(
                f"the insightface pack folder {folder} has no face detection model"
            ) from None
        # ctx_id 0 keeps the sessions as built (-1 would rebuild them without the options), and
        # det_size None is insightface 2.1's two looks, at 128x128 for a face filling the frame
        # (insightface's 112x112 Tom Hanks is missed at 640x640 alone) and at 640x640.
        self._app.prepare(ctx_id=0, det_thresh=min_confidence, det_size=None)
        self.has_pose = "landmark_3d_68" in self._app.models
        self._looking_away_yaw = looking_away_yaw

    def detect(self, image: Pixels) -> list[Face]:
        height, width = image.shape[:2]
        scale = np.array([width, height, width, height], dtype=np.float32)
        faces = []
        for found in self._app.get(image):
            yaw = pose_yaw(found) if self.has_pose else keypoint_yaw(found)
            kps = found.get("kps")
            points = (
                ()
                if kps is None
                else tuple(
                    (round(float(x) / width, 4), round(float(y) / height, 4)) for x, y in kps
                )
            )
            faces.append(
                Face(
                    box=to_box(np.asarray(found.bbox[:4], dtype=np.float32) / scale),
                    confidence=round(float(found.det_score), 4),
                    yaw=None if yaw is None else round(yaw, 1),
                    looking_away=yaw is not None and abs(yaw) > self._looking_away_yaw,
                    keypoints=points,
                )
            )
        return faces
