import resource
import subprocess
import sys
import textwrap

import pytest

from mdserver.memory import retain_freed_memory

FAULTS_OF_A_REUSED_BUFFER = textwrap.dedent(
    """
    import resource, sys
    from mdserver.memory import retain_freed_memory

    took = retain_freed_memory(int(sys.argv[1]))
    def respond():  # like one response: a few large buffers alive at once, all freed at the end
        return [bytearray(12 * 1024 * 1024) for _ in range(3)]

    for _ in range(3):  # warm up: the first buffers are mapped in any case
        respond()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        respond()
    print(took, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5)
    """
)


def faults_per_buffer(megabytes: int) -> tuple[bool, int]:
    """Run in a fresh interpreter (the setting is process-wide); count page faults per 36 MB "response"."""
    output = subprocess.run(
        [sys.executable, "-c", FAULTS_OF_A_REUSED_BUFFER, str(megabytes)], capture_output=True, text=True, check=True
    ).stdout.split()
    return output[0] == "True", int(output[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning")
def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    took, faults = faults_per_buffer(256)
    assert took
    untouched_took, untouched_faults = faults_per_buffer(0)
    assert not untouched_took
    pages = 36 * 1024 * 1024 // resource.getpagesize()
    assert untouched_faults > pages // 2  # glibc's defaults: freed, trimmed, faulted in anew
    assert faults < pages // 20


def test_zero_leaves_the_c_library_alone():
    assert retain_freed_memory(0) is False
