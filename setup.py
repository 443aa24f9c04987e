"""Builds the op library through the project's CMake (the one build) and installs it in the arl2 package.

    pip install --no-build-isolation .        # or -e . for an editable install
    ARL2_CUDA=OFF pip install --no-build-isolation .   # CPU kernels only
"""
import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def get_ext_filename(self, fullname):
        # The library is loaded with torch.ops.load_library, not imported: keep CMake's plain name.
        return os.path.join(*fullname.split(".")[:-1], "libarl2_ops.so")

    def build_extension(self, ext):
        package_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = ROOT / "build" / "py"
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir), "-G", "Ninja",
            f"-DPython3_EXECUTABLE={sys.executable}",
            f"-DARL2_CUDA={os.environ.get('ARL2_CUDA', 'AUTO')}",
            "-DARL2_BUILD_TESTS=OFF",
            f"-DARL2_PYTHON_DIR={package_dir}",
        ]
        subprocess.check_call(configure)
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", "arl2_ops",
                               "-j", str(os.cpu_count() or 1)])


setup(ext_modules=[CMakeExtension("arl2.libarl2_ops")], cmdclass={"build_ext": CMakeBuild})
