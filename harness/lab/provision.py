"""Provisioning the embedded lab's tools, outside any atomic's timing: the Shodan CLI's venv and
theHarvester's, whose certifi bundle trusts the lab CA while the lab is up."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from harness.errors import LabError
from harness.lab import teardown
from harness.lab.layout import LabLayout
from harness.lab.shell import run_checked
from harness.lab.state import LabState, Resource
from harness.packages import PackageUnavailable, PinError, cache_dir, theharvester

SHODAN_CLI_VERSION = "1.31.0"


class Provisioning(LabLayout):
    """Install the lab's tools that do not come from Debian, and remove them on ``lab purge``."""

    def provisioned(self) -> bool:
        return (self.venv_dir / "bin" / "shodan").exists()

    def provision(self) -> None:
        """Install the lab's tools that do not come from Debian: the Shodan CLI from PyPI, in a venv."""
        if self.provisioned():
            return
        self.cfg.cache_dir.mkdir(parents=True, exist_ok=True)
        python = shutil.which("python3") or sys.executable
        run_checked([python, "-m", "venv", "--clear", str(self.venv_dir)], timeout=120)
        run_checked(
            [str(self.venv_dir / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
             f"shodan=={SHODAN_CLI_VERSION}"],
            timeout=600,
        )
        if not self.provisioned():
            raise LabError(f"provisioning failed: {self.venv_dir}/bin/shodan is missing after pip install")

    def _provision_harvester(self, state: LabState) -> None:
        """theHarvester 4.6.0, installed here on the controller (the side with internet; the lab host has
        none) from the offline package cache or the upstream tag. When neither works the lab still comes
        up: the atomic's own prerequisite then reports PREREQ_MISSING with the reason."""
        venv = self.harvester_venv
        if theharvester.installed_version(venv) == theharvester.VERSION:
            return
        # Recorded first: an install cut short (error, Ctrl-C, kill -9) is removed by the next down.
        state.record("tool_venv", str(venv), marker=theharvester.MARKER)
        try:
            theharvester.ensure(venv)
        except (PackageUnavailable, PinError) as exc:
            state.info["theharvester"] = f"unavailable: {exc}"
            state.save()
            shutil.rmtree(venv, ignore_errors=True)

    def _trust_ca_in_tool_venv(self, state: LabState) -> None:
        """theHarvester's bing source verifies with certifi's bundle, not SSL_CERT_FILE: the lab CA is
        appended there, in its own venv only, and certifi's bundle is restored at down."""
        if theharvester.certifi_bundle(self.harvester_venv) is None:
            return
        state.record("venv_ca", str(self.harvester_venv), label=self.cfg.name)
        theharvester.trust_ca(self.harvester_venv, self.ca_bundle, self.cfg.name)

    def purge_cache(self) -> list[str]:
        """Remove the provisioned tools (the Shodan CLI's and theHarvester's venvs, the lab's other caches);
        the offline package cache, which holds the user's downloads, stays."""
        removed: list[str] = []
        packages = cache_dir().resolve()
        root = self.cfg.cache_dir
        if not root.is_dir():
            return removed
        for child in sorted(root.iterdir()):
            if child.resolve() == packages:
                continue
            is_dir = child.is_dir() and not child.is_symlink()
            shutil.rmtree(child) if is_dir else child.unlink()
            removed.append(f"{'dir' if is_dir else 'file'} {child}")
        if not any(root.iterdir()):
            root.rmdir()
            removed.append(f"dir {root}")
        return removed



@teardown.undo_handler("tool_venv")
def _undo_tool_venv(res: Resource) -> str | None:
    # A cached tool stays (`lab purge` removes it) unless its install never finished.
    p = Path(res.name)
    if p.exists() and not (p / res.data["marker"]).exists():
        shutil.rmtree(p)
        return f"incomplete tool venv {res.name}"
    return None


@teardown.undo_handler("venv_ca")
def _undo_venv_ca(res: Resource) -> str | None:
    label = res.data.get("label")
    if theharvester.untrust_ca(Path(res.name), label):
        return f"lab CA{' of ' + label if label else ''} out of the certifi bundle of {res.name}"
    return None
