"""Build hook for the optional C accelerator; all metadata lives in pyproject.toml.

``optional=True``: when the compiler or Python headers are missing the build prints a
warning and the package installs without it (the pure-Python parser is used, only slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "harness.telemetry.parsers._auditd_fast",
            # tokenizer, grouper, reader + module; the header is their internal interface
            sources=[f"harness/telemetry/parsers/{n}.c" for n in ("_auditd_tokens", "_auditd_group", "_auditd_fast")],
            depends=["harness/telemetry/parsers/_auditd_fast.h"],
            optional=True,
            extra_compile_args=["-O2", "-fvisibility=hidden"],
        ),
        Extension(
            "harness.views._sigma_fast",
            sources=["harness/views/_sigma_event.c", "harness/views/_sigma_fast.c"],
            depends=["harness/views/_sigma_fast.h"],
            optional=True,
            extra_compile_args=["-O2", "-fvisibility=hidden"],
        ),
    ]
)
