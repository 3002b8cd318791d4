"""Build hook (the project is configured in pyproject.toml): ship the top-level ``conf/`` inside
the wheel as ``srlab/conf``, where :func:`srlab.cli.config.config_dir` finds it after a normal
install. Editable installs and source checkouts read ``conf/`` from the checkout instead."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONF = Path(__file__).resolve().parent / "conf"


class BuildPyWithConfigs(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "srlab" / "conf"
        shutil.copytree(
            CONF, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )


setup(cmdclass={"build_py": BuildPyWithConfigs})
