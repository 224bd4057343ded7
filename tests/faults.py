"Helpers for the fault-injection tests that run in child processes."
import os, time

from tiny_transformer.files import TMP_SUFFIX


def stall_nth_rename(n, event):
    """In this process only: the `n`th `os.replace` of a temporary file over a checkpoint sets `event` and waits
    there to be killed, so that a kill is certain to land after the temporary file is written and before the rename."""
    rename, count = os.replace, [0]
    def stalled(src, dst):
        if str(src).endswith(TMP_SUFFIX):
            count[0] += 1
            if count[0] == n:
                event.set()
                time.sleep(3600)
        rename(src, dst)
    os.replace = stalled
