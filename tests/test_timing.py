"""playbook.train.timing: the one timing loop keeps at most `in_flight` calls
unfinished (the training loop's two), times only the calls after its warm-up,
and the matrix-product peak is measured once per process."""

import time

import pytest

from playbook.train import timing


class _Output:
    """A dispatched call's output: unfinished until waited for."""

    def __init__(self, dispatches):
        self.dispatches, self.done = dispatches, False
        dispatches.unfinished += 1

    def block_until_ready(self):
        if not self.done:
            self.done = True
            self.dispatches.unfinished -= 1
        return self


class _Dispatches:
    """A fake step that records how many calls were unfinished at each dispatch."""

    def __init__(self, seconds_per_call: float = 0.0):
        self.unfinished, self.most, self.indices = 0, 0, []
        self.seconds_per_call = seconds_per_call

    def step(self, state, i):
        time.sleep(self.seconds_per_call)
        out = _Output(self)
        self.most = max(self.most, self.unfinished)
        self.indices.append(i)
        return state + 1, out


@pytest.mark.parametrize("in_flight, most", [(2, 2), (1, 1), (None, 10)])
def test_at_most_in_flight_calls_are_unfinished_and_all_end_ready(in_flight, most):
    fake = _Dispatches()
    run = timing.time_calls(fake.step, 0, calls=10, in_flight=in_flight)
    assert fake.most == most  # None: a textbook loop that waits only at its end
    assert fake.unfinished == 0  # every output waited for before the clock stops
    assert run.calls == 10 and run.state == 11  # one warm-up call, then ten timed
    assert fake.indices == list(range(11))


def test_without_a_call_count_it_runs_min_calls_and_seconds():
    fake = _Dispatches(seconds_per_call=0.01)
    run = timing.time_calls(fake.step, 0, seconds=0.05, min_calls=3, warmup=0)
    assert run.calls >= 3 and run.seconds >= 0.05
    assert run.calls == len(fake.indices) and run.state == run.calls
    assert run.calls_per_second == pytest.approx(run.calls / run.seconds)
    assert run.calls_per_second <= 1 / 0.01  # each call sleeps 10 ms
    with pytest.raises(ValueError, match="in_flight"):
        timing.time_calls(fake.step, 0, calls=1, in_flight=0)


def test_matmul_peak_is_positive_and_measured_once():
    peak = timing.matmul_flops(64, repeats=2)
    assert peak > 0
    key = next(k for k in timing._PEAK if k[:3] == (64, "float32", 2))
    timing._PEAK[key] = -1.0  # a second call reads the cache
    assert timing.matmul_flops(64, repeats=2) == -1.0
    del timing._PEAK[key]
