"""The offline package cache: third-party artifacts a lab installs without internet.

One directory (``RECON_HARNESS_PACKAGE_CACHE``, default ``/var/cache/recon-harness/packages``)
holds upstream source archives, wheels and locally built packages. Upstream files are accepted
only when their SHA-256 matches a pin kept in the project (``pins.sha256``, ``sha256sum`` format)
or in the user's own pin file beside the cache (``<cache>/local-pins.sha256``). A ``.gz`` is also
accepted when its decompressed content matches the pin of its name without ``.gz``.
:mod:`harness.packages.theharvester` obtains and installs the pinned theHarvester release.
"""

from harness.packages.cache import (
    DEFAULT_CACHE,
    ENV_VAR,
    PackageUnavailable,
    Pin,
    PinError,
    cache_dir,
    check_pinned,
    find_pinned,
    load_pins,
    sha256_file,
)

__all__ = [
    "DEFAULT_CACHE", "ENV_VAR", "PackageUnavailable", "Pin", "PinError", "cache_dir", "check_pinned", "find_pinned",
    "load_pins", "sha256_file",
]
