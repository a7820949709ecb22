"""The garbage collector per test, in the process that runs it (``pytestmon.gc``).

Owns GcRecord: a ``gc.callbacks`` entry that counts, between a test's begin() and end() (the
memory meter calls them: memory.RssMeter), the collections of each generation, the objects they
collected and found uncollectable, and the time spent in them (perf_counter_ns from the "start"
callback to the "stop" one), and how much ``gc.garbage`` grew. It is always on: the callback runs
only when Python collects, and a test costs two list operations at its start and a comparison
at its end (bench/hook_clock.py clocks both, and the callback). Its property is
``[gen0, gen1, gen2, collected, uncollectable, ns, garbage_growth]``, written only for a test
during which the collector ran or gc.garbage grew.
"""
import gc
import time

_GC_ITEM = '<property name="pytestmon.gc" value="[%d,%d,%d,%d,%d,%d,%d]"/>'
_ZERO = [0, 0, 0, 0, 0, 0]


class GcRecord:
    def __init__(self):
        self.stats = [0, 0, 0, 0, 0, 0]  # gen0, gen1, gen2, collected, uncollectable, ns
        self.t0 = 0
        self.garbage = 0
        self.callback = self._callback  # the one entry in gc.callbacks (bench/hook_clock.py may wrap it)
        gc.callbacks.append(self.callback)

    def _callback(self, phase, info, _clock=time.perf_counter_ns):
        if phase == "start":
            self.t0 = _clock()
            return
        s = self.stats
        s[info["generation"]] += 1
        s[3] += info["collected"]
        s[4] += info["uncollectable"]
        s[5] += _clock() - self.t0

    def begin(self):
        self.stats = [0, 0, 0, 0, 0, 0]
        self.garbage = len(gc.garbage)

    def end(self):
        """The test's property, or "" when the collector did not run and gc.garbage kept its size."""
        s = self.stats
        grew = len(gc.garbage) - self.garbage
        if s == _ZERO and grew <= 0:
            return ""
        return _GC_ITEM % (s[0], s[1], s[2], s[3], s[4], s[5], grew if grew > 0 else 0)

    def close(self):
        try:
            gc.callbacks.remove(self.callback)
        except ValueError:
            pass
