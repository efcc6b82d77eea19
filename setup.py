"""Build hook for the optional C accelerator; all metadata lives in pyproject.toml.

``optional=True``: when the compiler or Python headers are missing the build prints a
warning and the package installs without it (the pure-Python parser is used, only slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "harness.telemetry.parsers._auditd_fast",
            sources=["harness/telemetry/parsers/_auditd_fast.c"],
            optional=True,
            extra_compile_args=["-O2"],
        ),
        Extension(
            "harness.views._sigma_fast",
            sources=["harness/views/_sigma_fast.c"],
            optional=True,
            extra_compile_args=["-O2"],
        ),
    ]
)
