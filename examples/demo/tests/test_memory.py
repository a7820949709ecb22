import time


def test_allocates_a_few_hundred_mb():
    # 300 MB of real pages, held for half a second: long enough to be seen in the status line
    # (sampled every 100 ms), and in :PytestMemory's peak afterwards.
    block = bytearray(300 * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(0.5)
    assert len(block) == 300 * 1024 * 1024
