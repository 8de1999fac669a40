"""An in-process fake lakeFS server for testing ``LakeFSStore`` without a real one."""

from tests.lakefs_fake.server import FakeLakeFS

__all__ = ["FakeLakeFS"]
