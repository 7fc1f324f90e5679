"""The layers (README, "Layers"; contracts in pyproject.toml ``[tool.importlinter]``) are
checked by import-linter on every test run: the code keeps them, every module sits in a layer,
and a broken rule fails the check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub", "bots", "handoff", "knowledge")
_LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages in ``project``, with its pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(project), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", _LINT, "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )


def layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [[m.strip() for m in layer.replace("|", ":").split(":")]
            for layer in contract["layers"]]


def test_the_code_keeps_its_layers() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_module_sits_in_a_layer_and_the_layers_run_root_to_model() -> None:
    listed = [module for layer in layers() for module in layer]
    modules = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    unplaced = [m for m in modules if m not in PACKAGES
                and not any(m == top or m.startswith(f"{top}.") for top in listed)]
    assert not unplaced, f"add these modules to a layer in pyproject.toml: {unplaced}"

    def level(module: str) -> int:  # 0 is the top
        return next(n for n, layer in enumerate(layers()) if module in layer)

    assert level("hub.app") == level("hub.cli") == 0  # the composition root
    assert level("hub.api") < level("hub.core") < level("hub.pipeline") < level("bots")
    assert level("bots") < level("handoff.desk") == level("knowledge.service")
    assert level("knowledge.service") < level("hub.store") < level("hub.model")
    assert level("hub.model") == len(layers()) - 1


def test_a_module_breaking_a_layer_fails_the_check(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    violations = {  # module: the import it must not make
        "bots/render.py": "hub.pipeline",  # a channel adapter reaching the pipeline
        "hub/store/rows.py": "hub.auth",  # the store importing above itself
        "hub/events.py": "hub.store",  # the bus and the store are independent
        "knowledge/matcher.py": "hub.app",  # a domain module importing the composition root
        "handoff/desk.py": "hub.pipeline",  # the cycle the TurnWriter protocol broke
        "hub/pipeline.py": "hub.outbox",  # running services know nothing of each other
        "bots/telegram.py": "knowledge.service",  # named in the channel adapters' contract
    }
    for path, module in violations.items():
        source = tmp_path / path
        source.write_text(source.read_text() + f"\nimport {module}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 kept, 2 broken" in result.stdout
    for path, module in violations.items():
        importer = path.removesuffix(".py").replace("/", ".")
        assert f"{importer} -> {module}" in result.stdout, (importer, result.stdout)
