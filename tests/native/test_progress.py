"""The one-line build progress display."""

import io

from livemind_native.progress import StatusLine, format_elapsed, summarize_build_line

COMPILER_COMMAND = "/usr/bin/g++ " + "-DGGML_AVX2 " * 60 + "-c ggml-cpu.cpp"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_status_line_redraws_in_place_on_a_terminal_with_elapsed_time_and_build_step() -> None:
    stream, clock = io.StringIO(), FakeClock()
    status = StatusLine(stream, "building llama-cpp-python 0.3.36", is_tty=True, clock=clock)
    clock.now += 65
    status.feed("[ 42%] Building CXX object vendor/llama.cpp/ggml/src/CMakeFiles/ggml-cpu.dir/ops.cpp.o\n")
    clock.now += 1
    status.feed(COMPILER_COMMAND)
    output = stream.getvalue()
    assert output.count("\r\x1b[K") == 2
    assert "\n" not in output
    last = output.split("\r\x1b[K")[-1]
    assert "building llama-cpp-python 0.3.36 1:06" in last
    assert "[ 42%] Building CXX object" in last
    assert "-DGGML_AVX2" not in output


def test_status_line_prints_plain_lines_at_intervals_off_a_terminal() -> None:
    stream, clock = io.StringIO(), FakeClock()
    status = StatusLine(stream, "building", is_tty=False, clock=clock, plain_interval=30.0)
    for step in range(1, 7):
        clock.now += 10
        status.feed(f"[ {step * 10}%] Building C object ggml.c.o")
    status.finish("built llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl")
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines == [
        "building 0:10  [ 10%] Building C object ggml.c.o",
        "building 0:40  [ 40%] Building C object ggml.c.o",
        "built llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl (1:00)",
    ]


def test_status_line_keeps_the_last_build_step_over_chatter_between_steps() -> None:
    status = StatusLine(io.StringIO(), "building", is_tty=False)
    status.feed("[ 97%] Linking CXX shared library libllama.so")
    status.feed("  Building wheel for llama-cpp-python (pyproject.toml): still running...")
    assert status.last_line == "[ 97%] Linking CXX shared library libllama.so"


def test_elapsed_time_is_minutes_and_seconds() -> None:
    assert format_elapsed(0) == "0:00"
    assert format_elapsed(305.9) == "5:05"


def test_verbose_ninja_steps_become_step_count_percentage_and_file() -> None:
    compile_step = (
        "  [27/193] /usr/bin/g++ -DGGML_AVX2 -O3 -mavx2 -o vendor/llama.cpp/ggml/src/ops.cpp.o "
        "-c /tmp/pip-wheel-x/llama-cpp-python/vendor/llama.cpp/ggml/src/ggml-cpu/ops.cpp"
    )
    link_step = "[193/193] : && /usr/bin/g++ -fPIC -O3 -shared -o vendor/llama.cpp/src/libllama.so obj.o && :"
    assert summarize_build_line(compile_step) == ("[27/193] 13% ops.cpp", True)
    assert summarize_build_line(link_step) == ("[193/193] 100% linking libllama.so", True)
    assert summarize_build_line(COMPILER_COMMAND) is None
    assert summarize_build_line("*** Building project with Ninja...") == ("*** Building project with Ninja...", False)
