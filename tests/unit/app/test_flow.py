"""Resuming an already active flow must not drop queued records (streams/app/flow.py)."""

from mode.utils.queues import FlowControlEvent, FlowControlQueue

from streams.app import flow


async def _queue_with_flow():
    control = FlowControlEvent(initially_suspended=False)  # recovery left the flow active
    queue = FlowControlQueue(flow_control=control, clear_on_resume=True)
    await queue.put("first record after the committed offset")
    return control, queue


async def test_mode_alone_drops_a_queued_record_when_an_active_flow_is_resumed():
    control, queue = await _queue_with_flow()
    flow.MODE_RESUME(control)
    assert queue.qsize() == 0  # the loss the fix is for


async def test_with_the_fix_an_active_flow_keeps_its_queue_and_a_suspended_one_is_cleared():
    flow.install()
    control, queue = await _queue_with_flow()
    control.resume()  # recovery done, flow already active: the record stays
    assert queue.qsize() == 1 and await queue.get() == "first record after the committed offset"
    await queue.put("fetched before a rebalance")
    control.suspend()
    control.resume()  # a rebalance suspended the flow: stale records go, as faust intends
    assert queue.qsize() == 0
