"""Build the compiled kernels.

Each `ext/<name>.pyx` is listed here explicitly and becomes one private module
(`coverage_net.<package>._<name>`). OpenMP is used when the compiler accepts
`-fopenmp`; otherwise the same sources build serially (prange runs on one thread).
"""

import os
import shutil
import subprocess
import tempfile

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _compiler_supports_openmp() -> bool:
    if os.environ.get("COVERAGE_NET_NO_OPENMP"):
        return False
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc.split()[0]) is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp.c")
        with open(src, "w") as fh:
            fh.write("#include <omp.h>\n"
                     "int main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")
        proc = subprocess.run(
            [*cc.split(), "-fopenmp", src, "-o", os.path.join(tmp, "omp")],
            capture_output=True,
        )
        return proc.returncode == 0


OPENMP = _compiler_supports_openmp()
compile_args = ["-O3", "-fno-math-errno"]
link_args = []
if OPENMP:
    compile_args.append("-fopenmp")
    link_args.append("-fopenmp")

extensions = [
    Extension(
        "coverage_net.radio._pathloss",
        sources=["ext/pathloss.pyx"],
        depends=["ext/_great_circle.pxi"],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    ),
    Extension(
        "coverage_net.radio._itm",
        sources=["ext/itm.pyx"],
        depends=["ext/_great_circle.pxi", "ext/_itm_variability.pxi"],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    ),
    Extension(
        "coverage_net.coverage._cellgeom_corners",
        sources=["ext/cellgeom.pyx"],
        extra_compile_args=["-O3", "-fno-math-errno"],
    ),
    Extension(
        "coverage_net.coverage._geojson_rows",
        sources=["ext/geojson_rows.pyx"],
        extra_compile_args=["-O3"],
    ),
    Extension(
        "coverage_net.coverage._outline_rings",
        sources=["ext/outline.pyx"],
        extra_compile_args=["-O3"],
    ),
    Extension(
        "coverage_net.poc._links",
        sources=["ext/links.pyx"],
        extra_compile_args=["-O3"],
    ),
]


class ParallelBuildExt(build_ext):
    """Compile the extensions on every core (`make install` on a fresh clone)."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1


setup(
    cmdclass={"build_ext": ParallelBuildExt},
    ext_modules=cythonize(
        extensions,
        nthreads=os.cpu_count() or 1,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
