"""Test set-up shared by the whole suite.

Runs before any test module imports JAX: sharding tests need 8 virtual CPU devices, and Grain's
spawned workers read absl flags, which must be parsed once in the parent.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import sys  # noqa: E402

from absl import flags  # noqa: E402

flags.FLAGS(sys.argv[:1], known_only=True)
