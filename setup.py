"""Builds the op library and the _C bindings through the project's CMake (the one build) and installs them
in the arl2 package.

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
    def __init__(self, name, target):
        super().__init__(name, sources=[])
        self.target = target


class CMakeBuild(build_ext):
    def get_ext_filename(self, fullname):
        # The op library is loaded with torch.ops.load_library, not imported: keep CMake's plain name.
        if fullname == "arl2.libarl2_ops":
            return os.path.join("arl2", "libarl2_ops.so")
        return super().get_ext_filename(fullname)

    def build_extensions(self):
        # One CMake run builds every target, and writes build_info.json, which `import arl2` checks.
        package_dir = Path(self.get_ext_fullpath("arl2._C")).resolve().parent
        build_dir = ROOT / "build" / "py"
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir), "-G", "Ninja",
            f"-DPython3_EXECUTABLE={sys.executable}",
            f"-DARL2_CUDA={os.environ.get('ARL2_CUDA', 'AUTO')}",
            "-DARL2_BUILD_TESTS=OFF",
            f"-DARL2_PYTHON_DIR={package_dir}",
        ]
        subprocess.check_call(configure)
        targets = [ext.target for ext in self.extensions]
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", *targets,
                               "-j", str(os.cpu_count() or 1)])

    def copy_extensions_to_source(self):
        # An editable install imports from python/arl2: the build record goes there with the libraries.
        super().copy_extensions_to_source()
        package_dir = self.get_finalized_command("build_py").get_package_dir("arl2")
        self.copy_file(os.path.join(self.build_lib, "arl2", "build_info.json"),
                       os.path.join(package_dir, "build_info.json"))


setup(
    ext_modules=[CMakeExtension("arl2.libarl2_ops", "arl2_ops"), CMakeExtension("arl2._C", "_C")],
    cmdclass={"build_ext": CMakeBuild},
)
