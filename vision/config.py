"""Configuration of the detectors: one strict pydantic model per event kind.

Every field has a default, a description and bounds; unknown keys are refused. Thresholds
live here once (house rule 6); detector modules read them and nowhere else defines them.

Example:
    >>> DetectorsConfig.model_validate({"crowd": {"min_people": 8}}).crowd.min_people
    8
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ModelBacked(_Strict):
    """The learned side of a kind: a YOLO model described by a model card (``models/``)."""

    backend: Literal["classical", "model", "combined"] = Field(
        "classical", description="'classical' (built in, no model file), 'model' (a YOLO "
        "model's boxes, needs model_card or model) or 'combined' (both; the model's other "
        "classes also confirm or veto the classical candidates).")
    model_card: Path | None = Field(None, description="Model card (YAML) of the YOLO model: "
                                    "file, input size, thresholds, class names -> roles.")
    model: Path | None = Field(None, description="Model file; overrides the card's file, or "
                               "alone means a model whose classes are named after the kind.")

    @model_validator(mode="after")
    def _model_for_backend(self) -> _ModelBacked:
        if self.backend != "classical" and self.model_card is None and self.model is None:
            raise ValueError(f"backend {self.backend!r} needs model_card (e.g. "
                             "models/coco_yolov8n.yaml) or model; or use backend 'classical'")
        return self


class SmokeDetectorConfig(_ModelBacked):
    """Classical smoke detection (Töreyin et al. cues): slow turbulent change against a
    background model, low saturation, fading background edges, rising and growing regions."""

    min_confidence: float = Field(0.5, ge=0, le=1, description="Regions scoring below this "
                                  "are not reported.")
    motion_threshold: float = Field(5.0, ge=1, le=60, description="Grey-level difference "
                                    "from the background model that counts as change.")
    flicker_threshold: float = Field(3.0, ge=0.5, le=60, description="Grey-level change "
                                     "between analysed frames that counts as turbulence.")
    max_frame_change: float = Field(20.0, ge=1, le=255, description="Largest mean grey-"
                                    "level change of a block between analysed frames: "
                                    "smoke drifts slowly, solid objects crossing a block "
                                    "change it far more (Brovko's slow-motion cue).")
    max_chroma: float = Field(40.0, ge=5, le=255, description="Colour spread max(B,G,R) - "
                              "min(B,G,R) above which a pixel is too saturated for smoke, "
                              "unless it lost saturation against the background.")
    edge_loss_ratio: float = Field(0.85, gt=0, le=1, description="A textured block whose "
                                   "high-frequency energy falls below this fraction of the "
                                   "background's counts as softened.")
    evidence_s: float = Field(2.5, ge=0.5, le=60, description="Time constant (s) of the "
                              "per-block evidence: cues must hold for about this long.")
    background_s: float = Field(10.0, ge=1, le=600, description="Time constant (s) of the "
                                "background model where nothing is detected.")
    min_area: float = Field(0.004, ge=0, le=1, description="Smallest region, as a fraction "
                            "of the frame area.")
    max_area: float = Field(0.4, gt=0, le=1, description="Largest region, as a fraction of "
                            "the frame (bigger changes are lighting or camera moves).")


class DustDetectorConfig(_ModelBacked):
    """Classical construction-dust detection: haze rising in a region against its own
    baseline (dark channel up, contrast down), soil-coloured desaturated chroma, turbulence."""

    min_confidence: float = Field(0.5, ge=0, le=1, description="Regions scoring below this "
                                  "are not reported.")
    haze_rise: float = Field(8.0, ge=1, le=100, description="Rise of the block's dark "
                             "channel (grey levels) over its baseline that counts as haze.")
    contrast_drop: float = Field(0.85, gt=0, le=1, description="Local contrast below this "
                                 "fraction of the baseline's counts as veiled.")
    max_saturation: float = Field(0.45, gt=0, le=1, description="HSV-style saturation "
                                  "(max-min)/max above which a block is too colourful for "
                                  "dust.")
    flicker_threshold: float = Field(2.5, ge=0.5, le=60, description="Grey-level change "
                                     "between analysed frames that counts as turbulence.")
    evidence_s: float = Field(2.5, ge=0.5, le=60, description="Time constant (s) of the "
                              "per-block evidence.")
    baseline_s: float = Field(20.0, ge=1, le=3600, description="Time constant (s) of each "
                              "block's baseline where nothing is detected.")
    min_area: float = Field(0.003, ge=0, le=1, description="Smallest region, as a fraction "
                            "of the frame area.")
    max_area: float = Field(0.5, gt=0, le=1, description="Largest region, as a fraction of "
                            "the frame.")


class StallDetectorConfig(_ModelBacked):
    """Static-object detection with dual backgrounds (Porikli et al., 2008): a region that
    differs from the long-term background but has merged into the short-term one."""

    min_confidence: float = Field(0.5, ge=0, le=1, description="Candidates scoring below "
                                  "this are not reported.")
    min_still_s: float = Field(15.0, ge=0, le=3600, description="A candidate is reported "
                               "once it has been still this long; keeps brief stops out.")
    full_confidence_s: float = Field(60.0, ge=1, le=36_000, description="Stillness beyond "
                                     "min_still_s at which confidence reaches 1.")
    short_term_s: float = Field(2.0, ge=0.25, le=60, description="Time constant (s) of the "
                                "short-term background (absorbs whatever stops).")
    long_term_s: float = Field(60.0, ge=5, le=36_000, description="Time constant (s) of the "
                               "long-term background, updated only where it matches.")
    absorb_s: float = Field(3600.0, ge=60, le=604_800, description="An object still for this "
                            "long becomes part of the long-term background.")
    diff_threshold: float = Field(28.0, ge=3, le=255, description="Colour difference (grey "
                                  "levels, strongest channel) that counts as foreground.")
    min_area: float = Field(0.003, ge=0, le=1, description="Smallest candidate, as a "
                            "fraction of the frame area.")
    max_area: float = Field(0.25, gt=0, le=1, description="Largest candidate, as a fraction "
                            "of the frame.")


class CrowdDetectorConfig(_Strict):
    """Crowd detection: people from HOG (Dalal & Triggs) or a YOLO model, clustered with a
    linking distance relative to person height, one detection per group."""

    backend: Literal["hog", "yolo"] = Field("hog", description="Person detector: 'hog' "
                                            "(built in, no model file) or 'yolo' (needs model).")
    model: Path | None = Field(None, description="YOLO model file (.pt, .onnx or an "
                               "OpenVINO folder) for backend 'yolo'; class 'person' is used.")
    model_card: Path | None = Field(None, description="Model card (YAML) for backend "
                                    "'yolo': its 'person' role gives the people (and its "
                                    "tiles the tiled inference of dense crowds).")
    device: str = Field("cpu", min_length=1, max_length=32, description="Torch device for "
                        "YOLO: 'cpu', 'cuda', 'cuda:0', 'mps'.")
    imgsz: int = Field(640, ge=64, le=4096, multiple_of=32, description="YOLO input size.")
    person_confidence: float = Field(0.5, ge=0, le=1, description="Person detections "
                                     "scoring below this are ignored.")
    min_people: int = Field(10, ge=2, le=10_000, description="Smallest group reported as a "
                            "crowd (the standard's gathering: 10 or more).")
    cluster_eps: float = Field(2.0, gt=0, le=10, description="Two people belong to one group "
                               "when their feet are closer than this many person heights "
                               "(2: about 3.5 m, people sharing a square or a pavement "
                               "stretch; 1: shoulder to shoulder).")
    min_confidence: float = Field(0.5, ge=0, le=1, description="Groups scoring below this "
                                  "are not reported.")
    nms_iou: float = Field(0.4, gt=0, le=1, description="Overlap above which person boxes "
                           "are merged.")
    hog_upscale: float = Field(1.0, ge=0.25, le=4, description="Resize factor before the HOG "
                               "scan; >1 finds people shorter than about 100 px.")
    hog_scale_step: float = Field(1.2, ge=1.01, le=2, description="HOG pyramid step.")
    hog_stride: Literal[4, 8] = Field(4, description="HOG window stride in pixels: 4 finds "
                                      "people in groups far more reliably than 8, at about "
                                      "twice the cost.")
    hog_max_scale: float = Field(4.0, ge=1, le=16, description="Largest HOG window scale: "
                                 "people up to about 96 px x this tall are found (4: 384 px; "
                                 "the larger scales search smaller images and cost little).")
    hog_denoise_above: float | None = Field(2.5, ge=0, le=100, description="Measured sensor "
                                            "noise (grey levels) from which the image is "
                                            "lightly blurred before HOG (grain breaks its "
                                            "gradients; clean cameras measure 0-1.5). null: "
                                            "never.")
    hog_min_hits: int = Field(2, ge=1, le=20, description="Overlapping HOG window hits a "
                              "person needs (the vote OpenCV's grouping applies).")
    hog_width: int | None = Field(None, ge=128, le=7680, description="Frames wider "
                                  "than this are searched for people at this width (boxes "
                                  "in original pixels). Bounds the HOG cost and sets the "
                                  "smallest person found, about 96 px at this width: 640 "
                                  "on a 1280x720 frame finds people from 192 px tall at "
                                  "about a sixth of the cost. null (default): native "
                                  "resolution, people from 96 px (a camera's sub stream, "
                                  "usually 640-704 wide, costs the same either way).")

    @model_validator(mode="after")
    def _model_for_yolo(self) -> CrowdDetectorConfig:
        if self.backend == "yolo" and self.model is None and self.model_card is None:
            raise ValueError("crowd.model is required when crowd.backend is 'yolo': set it "
                             "to a model file (e.g. models/weights/yolo11n.pt) or model_card, or use "
                             "backend 'hog'")
        return self


class MotionGateConfig(_Strict):
    """Motion gating, as Frigate does: the heavy detectors (people, YOLO models) run only
    when something changed in the watched area, and re-check a still scene at a slower
    pace; in between, their last answer stands."""

    enabled: bool = Field(True, description="Gate the heavy detectors on motion.")
    threshold: float = Field(12.0, ge=1, le=255, description="Grey-level change (on a "
                             "blurred 160-pixel-wide copy) that counts as motion.")
    min_changed: float = Field(0.002, ge=0, le=1, description="Share of the watched area "
                               "that must change for the detector to run.")
    recheck_s: float = Field(5.0, ge=0, le=3600, description="Run anyway when the last run "
                             "is this old (still objects are re-checked at this pace).")


class StabiliseConfig(_Strict):
    """Camera-shake removal before detection (:mod:`vision.stabilise`): frame-to-frame
    jitter is taken out, slow pans and tilts are kept."""

    enabled: bool = Field(True, description="Take camera shake out before detection.")
    smooth_s: float = Field(4.0, gt=0, le=600, description="Time constant of the smooth "
                            "camera motion kept (pans, tilts); faster motion is shake.")
    pan_px_s: float = Field(1.0, gt=0, le=1000, description="Steady motion faster than this "
                            "(full-frame pixels a second, every step the same way) is a pan "
                            "or tilt and is followed at once, not corrected.")
    pan_window_s: float = Field(4.0, gt=0, le=60, description="How long motion must be steady "
                                "to count as a pan.")
    max_shift_px: float = Field(12.0, ge=0, le=200, description="Largest correction each way, "
                                "in full-frame pixels.")
    max_features: int = Field(200, ge=16, le=2000, description="Corners followed from frame "
                              "to frame to measure the camera's step.")
    min_agree: float = Field(0.4, gt=0, le=1, description="Share of the followed corners "
                             "that must agree on the step; below it the step counts as none.")
    width: int = Field(320, ge=64, le=1920, description="Width of the grey copy the shift is "
                       "measured on.")


class DetectorsConfig(_Strict):
    """All detectors of one camera (or of the site, merged under per-camera overrides)."""

    smoke: SmokeDetectorConfig = Field(default_factory=SmokeDetectorConfig,
                                       description="Straw-burning smoke.")
    dust: DustDetectorConfig = Field(default_factory=DustDetectorConfig,
                                     description="Construction dust.")
    stall: StallDetectorConfig = Field(default_factory=StallDetectorConfig,
                                       description="Street stalls (static objects).")
    crowd: CrowdDetectorConfig = Field(default_factory=CrowdDetectorConfig,
                                       description="Crowd gathering.")
    motion: MotionGateConfig = Field(default_factory=MotionGateConfig,
                                     description="Motion gating of the heavy detectors.")
    stabilise: StabiliseConfig = Field(default_factory=StabiliseConfig,
                                       description="Camera-shake removal before detection.")
    analysis_width: int | None = Field(None, ge=160, le=7680, description="Frames wider than "
                                       "this are downscaled to it before detection; boxes "
                                       "are reported in original pixels.")
