"""ROS 2 node for one camera (RealSense or OpenCV/UVC): publishes realsense-ros-named topics.

    python -m robot_rl.drivers.camera_node --ros-args -p name:=wrist -p driver:=realsense -p serial:=123456789012

Publishes (sensor QoS: best effort, shallow) ``camera/<name>/color/image_raw`` (sensor_msgs/Image, rgb8, cropped
and resized to ``output_*_px``), ``camera/<name>/color/camera_info`` (the intrinsics of that image) and, for a
RealSense with depth, ``camera/<name>/aligned_depth_to_color/image_raw`` (16UC1). Names are relative (a launch
namespace moves them) and parameters ``topics.color``, ``topics.color_info``, ``topics.depth``. Images are
converted with numpy (no cv_bridge). ``camera_info_url``: a calibration YAML (ROS camera_info format) whose K, D,
R, P replace the factory intrinsics, transformed through the crop and resize like the image. Exit codes: 2 on a bad parameter or when the camera is not there (a clear
one-line error), 3 when it freezes past its recovery budget.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from robot_rl.contract import ros_node as rn
from robot_rl.contract import topics as T
from robot_rl.contract.params import ParameterError, param
from robot_rl.drivers.camera_common import CameraError, CameraFrozenError, Frame, read_camera_info_yaml
from robot_rl.drivers.opencv_camera import OpenCVCamera, OpenCVCameraConfig
from robot_rl.drivers.realsense import PLAYBACK_END, RealSenseCamera, RealSenseConfig, RecordingEnded

EXIT_NOT_FOUND = 2
EXIT_FROZEN = 3


@dataclass(frozen=True)
class CameraNodeParams:
    name: str = param("front", doc="camera name: topics under camera/<name>")
    driver: str = param("realsense", choices=("realsense", "opencv"))
    # quote it on the command line (serial:="'0123'"), as with realsense-ros
    serial: str = param("", doc="RealSense serial (empty: the only one)")
    playback_file: str = param("", doc="a RealSense recording (.bag/.db3) instead of a device")
    playback_end: str = param("loop", choices=PLAYBACK_END,
                              doc="at the end of the recording: loop, stop (the node exits 0) or hold the last frame")
    device: str = param("0", doc="OpenCV: an index or a path/URL")
    width_px: int = param(640, gt=0, le=8192)
    height_px: int = param(480, gt=0, le=8192)
    fps: int = param(30, gt=0, le=1000)
    depth_enabled: bool = param(True)
    output_width_px: int = param(128, gt=0, le=8192)
    output_height_px: int = param(128, gt=0, le=8192)
    crop_xywh_px: tuple[int, ...] = param((0, 0, 0, 0), ge=0, doc="crop before resize; all zeros: centred square")
    frame_timeout_ms: int = param(1000, gt=0, le=60000)
    camera_info_url: str = param("", doc="calibration: a camera_info YAML (path or file:// URL; robot-rl calibrate "
                                         "intrinsics writes one) at the stream's size; empty: factory intrinsics")


def camera_info_msg(frame: Frame, frame_id: str, stamp) -> CameraInfo:
    i = frame.intrinsics
    m = rn.camera_info_msg(stamp, frame_id, i.width, i.height, i.fx, i.fy, i.cx, i.cy, i.coeffs, i.distortion_model)
    m.r, m.p = i.r(), i.p()  # a calibration's own R and P (cropped and resized like K)
    return m


def open_camera(p: CameraNodeParams, where: str = "camera"):
    if len(p.crop_xywh_px) != 4:
        raise ParameterError(f"{where}: parameter crop_xywh_px={list(p.crop_xywh_px)!r} is invalid: expected 4 "
                             "integers (x, y, w, h)")
    crop = tuple(p.crop_xywh_px) if any(p.crop_xywh_px) else None
    calib = read_camera_info_yaml(p.camera_info_url)[1] if p.camera_info_url else None
    if p.driver == "realsense":
        return RealSenseCamera(RealSenseConfig(
            serial=p.serial, playback_file=p.playback_file, playback_end=p.playback_end, color_width_px=p.width_px, color_height_px=p.height_px,
            fps=p.fps, depth_enabled=p.depth_enabled, depth_width_px=p.width_px, depth_height_px=p.height_px,
            crop_xywh_px=crop, output_width_px=p.output_width_px, output_height_px=p.output_height_px,
            frame_timeout_ms=p.frame_timeout_ms, calibration=calib))
    return OpenCVCamera(OpenCVCameraConfig(
        device=p.device, width_px=p.width_px, height_px=p.height_px, fps=p.fps, crop_xywh_px=crop,
        output_width_px=p.output_width_px, output_height_px=p.output_height_px,
        frame_timeout_s=p.frame_timeout_ms / 1000.0, calibration=calib))


class CameraNode(Node):
    def __init__(self):
        super().__init__("camera")
        p = rn.declare_config(self, CameraNodeParams)
        eps = {k: T.camera(p.name)[k] for k in ("color", "color_info", "depth")}
        names = rn.topic_names(self, eps)
        self.camera = open_camera(p, self.get_name())
        self.frame_id = f"{p.name}_color_optical_frame"
        pub = lambda t, k: self.create_publisher(t, names[k], rn.qos(eps[k].qos))  # noqa: E731
        self.pub_image = pub(Image, "color")
        self.pub_info = pub(CameraInfo, "color_info")
        self.pub_depth = pub(Image, "depth")
        self.camera.start()
        self.exit_code = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                f = self.camera.read()
            except RecordingEnded as e:
                self.get_logger().info(f"{e}: stopping (playback_end=stop)")
                if self.context.ok():
                    self.context.try_shutdown()
                return
            except CameraFrozenError as e:
                self.get_logger().error(str(e))
                self.exit_code = EXIT_FROZEN
                if self.context.ok():
                    self.context.try_shutdown()
                return
            try:
                self._publish(f)
            except Exception:  # noqa: BLE001 - Ctrl-C shut the context down between the read and the publish
                if self._stop.is_set() or not self.context.ok():
                    return
                raise

    def _publish(self, f: Frame) -> None:
        stamp = self.get_clock().now().to_msg()
        self.pub_image.publish(rn.image_msg(stamp, self.frame_id, f.color, "rgb8"))
        self.pub_info.publish(camera_info_msg(f, self.frame_id, stamp))
        if f.depth is not None:
            self.pub_depth.publish(rn.image_msg(stamp, self.frame_id, f.depth, "16UC1"))

    def destroy_node(self) -> None:
        """Idempotent: the read loop may shut the context down itself (end of recording, frozen camera), which
        destroys the node from that thread; the main thread's cleanup then finds it destroyed."""
        if getattr(self, "_destroyed", False):
            return
        self._destroyed = True
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(3.0)
        self.camera.stop()
        super().destroy_node()


def main(args=None) -> int:
    return rn.run_node(CameraNode, "camera_node", args,
                       errors={CameraError: EXIT_NOT_FOUND, ValueError: EXIT_NOT_FOUND})


if __name__ == "__main__":
    sys.exit(main())
