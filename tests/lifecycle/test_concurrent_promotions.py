"""Two real `mmp promote` processes race on one alias of one MLflow store: exactly one wins.

Both challengers beat the champion, so both pass the gate. A file barrier, added around the alias
move by a tiny wrapper (the only thing that differs from `mmp promote`), holds each process after
its evaluation until the other one has evaluated too: both then compete for the move at the same
moment, every run. The loser waits for the winner's lock, re-reads the alias, finds it moved, and
is refused on the record.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.lifecycle.conftest import Lab

# `mmp promote ARGS`, held at the alias move until PARTIES processes have evaluated (a file each).
RACER = """
import os, sys, time
from pathlib import Path

from mmp.lifecycle import promote as module

barrier, parties = Path(sys.argv[1]), int(sys.argv[2])
move = module._move

def move_together(*args, **kwargs):
    (barrier / str(os.getpid())).touch()
    deadline = time.monotonic() + 300
    while len(list(barrier.iterdir())) < parties:
        if time.monotonic() > deadline:
            raise SystemExit("the other promotion never reached the move")
        time.sleep(0.002)
    return move(*args, **kwargs)

module._move = move_together
from mmp.cli.main import run

run(sys.argv[3:])
"""


@pytest.mark.slow
def test_two_promotion_processes_racing_on_one_alias(lab: Lab, tmp_path: Path) -> None:
    from mmp.lifecycle.ledger import history
    from mmp.lifecycle.models import AliasLock

    name = lab.register("bad", "good", "good")
    client = lab.client()
    client.set_registered_model_alias(name, "champion", "1")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMP_", "MLFLOW_"))}
    racer = [sys.executable, "-c", RACER, str(barrier), "2"]
    common = ["-d", str(lab.eval_data), "-c", str(lab.config_path)]
    racers = {
        version: subprocess.Popen(
            [*racer, "promote", name, "--version", version, *common, "--actor", f"racer-{version}"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for version in ("2", "3")
    }
    outcomes = {version: (p.wait(timeout=300), *p.communicate()) for version, p in racers.items()}
    assert len(list(barrier.iterdir())) == 2  # both evaluated and reached the move

    codes = {version: code for version, (code, _, _) in outcomes.items()}
    assert sorted(codes.values()) == [0, 1], outcomes
    winner = next(v for v, code in codes.items() if code == 0)
    loser = next(v for v, code in codes.items() if code == 1)
    error = " ".join(outcomes[loser][2].split())
    assert error.count("Error:") == 1 and "Traceback" not in error, error
    assert f"moved from 1 to {winner} while this promotion was being evaluated" in error, error
    assert "re-run the promotion against the new holder" in error

    assert str(client.get_model_version_by_alias(name, "champion").version) == winner
    entries = history(client, name)
    assert sorted((e.action, e.from_version, e.to_version, e.moved) for e in entries) == [
        ("promote", "1", winner, True),
        ("refused", "1", loser, False),
    ]
    refused = next(e for e in entries if not e.moved)
    assert refused.actor == f"racer-{loser}" and "being evaluated" in refused.decision
    gain = refused.challenger["accuracy"]["value"] - refused.champion["accuracy"]["value"]
    assert gain > 0.1  # it had passed the gate
    with pytest.raises(Exception, match=r"(?i)not found|does not exist"):  # the lock is released
        client.get_registered_model(AliasLock(client, name, "champion").lock_name)
