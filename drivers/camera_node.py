"""ROS 2 node for one camera (RealSense or OpenCV/UVC): publishes realsense-ros-named topics.

    python -m robot_rl.drivers.camera_node --ros-args -p name:=wrist -p driver:=realsense -p serial:=123456789012

Publishes (sensor-data QoS: best effort, shallow) ``/camera/<name>/color/image_raw`` (sensor_msgs/Image,
rgb8, cropped and resized to ``output_*_px``), ``/camera/<name>/color/camera_info`` (the intrinsics of that
image) and, for a RealSense with depth, ``/camera/<name>/aligned_depth_to_color/image_raw`` (16UC1). Images
are converted with numpy (no cv_bridge). Exit codes: 2 when the camera is not there (a clear one-line error),
3 when it freezes past its recovery budget.
"""
from __future__ import annotations

import sys
import threading

import rclpy
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from robot_rl.drivers.camera_common import CameraError, CameraFrozenError, Frame
from robot_rl.drivers.opencv_camera import OpenCVCamera, OpenCVCameraConfig
from robot_rl.drivers.realsense import RealSenseCamera, RealSenseConfig

EXIT_NOT_FOUND = 2
EXIT_FROZEN = 3


def image_msg(arr, encoding: str, frame_id: str, stamp) -> Image:
    m = Image()
    m.header.stamp = stamp
    m.header.frame_id = frame_id
    m.height, m.width = int(arr.shape[0]), int(arr.shape[1])
    m.encoding = encoding
    m.is_bigendian = 0
    m.step = int(arr.strides[0])
    m.data = arr.tobytes()
    return m


def camera_info_msg(frame: Frame, frame_id: str, stamp) -> CameraInfo:
    i = frame.intrinsics
    m = CameraInfo()
    m.header.stamp = stamp
    m.header.frame_id = frame_id
    m.width, m.height = i.width, i.height
    m.distortion_model = i.distortion_model
    m.d = [float(c) for c in i.coeffs]
    m.k, m.r, m.p = i.k(), i.r(), i.p()
    return m


class CameraNode(Node):
    def __init__(self):
        super().__init__("camera")
        p = self.declare_parameter
        p("name", "front")
        p("driver", "realsense")  # realsense | opencv
        p("serial", "")  # quote it on the command line (serial:="'0123'"), as with realsense-ros
        p("playback_file", "")
        p("device", "0")
        p("width_px", 640)
        p("height_px", 480)
        p("fps", 30)
        p("depth_enabled", True)
        p("output_width_px", 128)
        p("output_height_px", 128)
        p("crop_xywh_px", [0, 0, 0, 0])  # all zeros: centred square
        p("frame_timeout_ms", 1000)
        g = lambda n: self.get_parameter(n).value  # noqa: E731
        name = g("name")
        crop = tuple(int(v) for v in g("crop_xywh_px"))
        crop = None if not any(crop) else crop
        driver = g("driver")
        if driver == "realsense":
            self.camera = RealSenseCamera(RealSenseConfig(
                serial=g("serial"), playback_file=g("playback_file"), color_width_px=g("width_px"),
                color_height_px=g("height_px"), fps=g("fps"), depth_enabled=bool(g("depth_enabled")),
                depth_width_px=g("width_px"), depth_height_px=g("height_px"), crop_xywh_px=crop,
                output_width_px=g("output_width_px"), output_height_px=g("output_height_px"),
                frame_timeout_ms=g("frame_timeout_ms")))
        elif driver == "opencv":
            self.camera = OpenCVCamera(OpenCVCameraConfig(
                device=str(g("device")), width_px=g("width_px"), height_px=g("height_px"), fps=g("fps"),
                crop_xywh_px=crop, output_width_px=g("output_width_px"), output_height_px=g("output_height_px"),
                frame_timeout_s=g("frame_timeout_ms") / 1000.0))
        else:
            raise ValueError(f"driver must be 'realsense' or 'opencv', got {driver!r}")
        self.frame_id = f"{name}_color_optical_frame"
        base = f"/camera/{name}"
        self.pub_image = self.create_publisher(Image, f"{base}/color/image_raw", qos_profile_sensor_data)
        self.pub_info = self.create_publisher(CameraInfo, f"{base}/color/camera_info", qos_profile_sensor_data)
        self.pub_depth = self.create_publisher(Image, f"{base}/aligned_depth_to_color/image_raw",
                                               qos_profile_sensor_data)
        self.camera.start()
        self.exit_code = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                f = self.camera.read()
            except CameraFrozenError as e:
                self.get_logger().error(str(e))
                self.exit_code = EXIT_FROZEN
                if self.context.ok():
                    self.context.try_shutdown()
                return
            stamp = self.get_clock().now().to_msg()
            self.pub_image.publish(image_msg(f.color, "rgb8", self.frame_id, stamp))
            self.pub_info.publish(camera_info_msg(f, self.frame_id, stamp))
            if f.depth is not None:
                self.pub_depth.publish(image_msg(f.depth, "16UC1", self.frame_id, stamp))

    def destroy_node(self) -> None:
        self._stop.set()
        self._thread.join(3.0)
        self.camera.stop()
        super().destroy_node()


def main(args=None) -> int:
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = CameraNode()
        rclpy.spin(node)
    except (CameraError, ValueError, InvalidParameterTypeException) as e:
        print(f"camera_node: {e}", file=sys.stderr)
        code = EXIT_NOT_FOUND
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            code = code or node.exit_code
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
