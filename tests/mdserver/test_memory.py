import resource
import subprocess
import sys
import textwrap

from mdserver.memory import retain_freed_memory, usable_cores

# Transparent huge pages would fault memory in 2 MB at a time on hosts that enable them
# for everything; the child turns them off (PR_SET_THP_DISABLE) so page counts mean the same everywhere.
CHILD_PREAMBLE = textwrap.dedent(
    """
    import ctypes, os, resource, sys, threading
    ctypes.CDLL("libc.so.6").prctl(41, 1, 0, 0, 0)
    from mdserver.memory import retain_freed_memory

    took = retain_freed_memory(int(sys.argv[1]))
    def respond():  # like one response: a few large buffers alive at once, all freed at the end
        buffers = [bytearray(12 * 1024 * 1024) for _ in range(3)]
        for buffer in buffers:
            buffer[::4096] = b"x" * len(buffer[::4096])  # touch every page
    """
)

FAULTS_OF_A_REUSED_BUFFER = CHILD_PREAMBLE + textwrap.dedent(
    """
    for _ in range(3):  # warm up: the first buffers are mapped in any case
        respond()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        respond()
    print(took, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5)
    """
)

RESIDENT_AFTER_CONCURRENT_RESPONSES = CHILD_PREAMBLE + textwrap.dedent(
    """
    start = threading.Barrier(16)
    def request():  # sixteen requests at once, each on its own thread as under daphne
        start.wait()
        respond()
    threads = [threading.Thread(target=request) for _ in range(16)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    status = open("/proc/self/status").read()
    print(took, int(status.split("VmRSS:")[1].split()[0]) // 1024)
    """
)


def run_child(script: str, megabytes: int) -> tuple[bool, int]:
    """Run `script` in a fresh interpreter (the setting is process-wide); return (took, the number it prints)."""
    output = subprocess.run(
        [sys.executable, "-c", script, str(megabytes)], capture_output=True, text=True, check=True
    ).stdout.split()
    return output[0] == "True", int(output[1])


def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    took, faults = run_child(FAULTS_OF_A_REUSED_BUFFER, 64)
    assert took
    untouched_took, untouched_faults = run_child(FAULTS_OF_A_REUSED_BUFFER, 0)
    assert not untouched_took
    pages = 36 * 1024 * 1024 // resource.getpagesize()
    assert untouched_faults > pages // 2  # glibc's defaults: freed, trimmed, faulted in anew
    assert faults < pages // 20


def test_memory_kept_is_bounded_by_cores_whatever_the_number_of_threads():
    took, resident_mb = run_child(RESIDENT_AFTER_CONCURRENT_RESPONSES, 64)
    assert took
    # Sixteen threads would open sixteen arenas (16 x 36 MB kept) without the arena cap.
    assert resident_mb < usable_cores() * 64 + 100
    _, untouched_mb = run_child(RESIDENT_AFTER_CONCURRENT_RESPONSES, 0)
    assert untouched_mb < 100


def test_zero_leaves_the_c_library_alone():
    assert retain_freed_memory(0) is False
