def test_allocates_a_few_hundred_mb():
    # 300 MB of real pages: visible in the status line and in :PytestMemory.
    block = bytearray(300 * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    assert len(block) == 300 * 1024 * 1024
