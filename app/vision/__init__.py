"""Offline camera analysis: one webcam JPEG in, one typed `FrameVerdict` out.

Everything here is synchronous and runs inside a worker process of the vision pool; the models are
read from installed wheels and nothing is downloaded at run time."""
