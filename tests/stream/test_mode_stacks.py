"""The flight recorder's task stacks do not crash a worker whose agent is closing a stream."""

import asyncio

from mode.utils.tracebacks import format_task_stack

from stream_al.stream.mode_stacks import tolerate_async_generator_links


async def _stack_of_a_task_closing_an_async_generator() -> str:
    async def stream():
        try:
            yield 1
        finally:
            await asyncio.sleep(10)  # still closing when the stack is printed

    async def closing(events):
        await events.aclose()  # awaits the generator's athrow

    events = stream()
    await events.__anext__()
    task = asyncio.create_task(closing(events))
    await asyncio.sleep(0.01)
    try:
        return format_task_stack(task)
    finally:
        task.cancel()


def test_a_task_awaiting_an_async_generators_athrow_has_a_printable_stack() -> None:
    tolerate_async_generator_links()
    tolerate_async_generator_links()  # twice is once
    stack = asyncio.run(_stack_of_a_task_closing_an_async_generator())
    assert "closing" in stack and "async_generator_athrow" in stack
