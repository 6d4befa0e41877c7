"""The smallest workflow that shows why the tools are not local activities.

It reads something with a local activity, then decides from it how to treat a signal, the
way a claim refuses a pause while it is still starting. If the worker hands the local
activity's result to the workflow one task later than a replay does, a signal in that
task is judged differently on replay, and the history no longer replays.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def read_rules() -> int:
    return 1


@activity.defn
async def act_on_it() -> int:
    return 2


@workflow.defn
class LocalReadWorkflow:
    def __init__(self) -> None:
        self.started = False
        self.paused = False

    @workflow.signal
    def pause(self) -> None:
        # Like a claim: a pause before the rules are read is refused.
        self.paused = self.started

    @workflow.query
    def is_paused(self) -> bool:
        return self.paused

    @workflow.run
    async def run(self) -> int:
        await workflow.execute_local_activity(
            read_rules, start_to_close_timeout=timedelta(seconds=10)
        )
        self.started = True
        await workflow.execute_activity(act_on_it, start_to_close_timeout=timedelta(seconds=10))
        if self.paused:  # like a claim's checkpoint before its next step
            await workflow.sleep(timedelta(milliseconds=10))
        return await workflow.execute_activity(
            act_on_it, start_to_close_timeout=timedelta(seconds=10)
        )
