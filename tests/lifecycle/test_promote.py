"""Promotion, refusal, forced promotion, rollback and history against a real MLflow store and registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmp.core.errors import MmpError
from tests.lifecycle.conftest import Lab


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `mmp ARGS` in this process: (exit code, stdout, stderr)."""
    from mmp.cli.main import run

    code = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "250")  # tables on one line each
        try:
            run(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _alias(lab: Lab, name: str, alias: str = "champion") -> str | None:
    import mlflow

    try:
        return str(mlflow.MlflowClient(lab.tracking_uri).get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def _history(lab: Lab, name: str) -> list[Any]:
    from mmp.lifecycle.ledger import history

    return history(lab.client(), name)


def test_evaluate_reports_intervals_segments_and_logs_a_run(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlflow

    name = lab.register("good")
    code, out, err = cli(
        capsys,
        "evaluate",
        "-m",
        f"models:/{name}/1",
        "-d",
        str(lab.eval_data),
        "-c",
        str(lab.config_path),
        "--segment-by",
        "region",
        "--min-segment-rows",
        "450",
        "--log",
        "--json",
    )
    assert code == 0, err
    result = json.loads(out)
    (evaluation,) = result["evaluations"]
    assert result["rows_read"] == result["rows_scored"] == 1500 and result["rows_rejected"] == 0
    accuracy = evaluation["metrics"]["accuracy"]
    assert 0.8 < accuracy["low"] < accuracy["value"] < accuracy["high"]
    segments = {s["value"]: s["rows"] for s in evaluation["segments"]}
    assert sum(segments.values()) == 1500 and set(segments) <= {"north", "south", "east", "other"}
    (run_id,) = result["log_run_ids"]
    run = mlflow.MlflowClient(lab.tracking_uri).get_run(run_id)
    assert run.data.tags["mmp.model.name"] == name and run.data.tags["mmp.model.version"] == "1"
    assert run.data.metrics["accuracy"] == pytest.approx(accuracy["value"])
    version = mlflow.MlflowClient(lab.tracking_uri).get_model_version(name, "1")
    assert version.tags["mmp.last_evaluation"] == run_id


def test_rejected_rows_are_counted_not_scored(
    lab: Lab, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import pandas as pd

    frame = pd.read_csv(lab.eval_data).head(300).astype({"x1": object, "churned": object})
    frame.loc[0, "x1"] = "not a number"
    frame.loc[1, "churned"] = None
    frame.loc[2, "churned"] = 7  # not a class the model knows
    data = tmp_path / "dirty.csv"
    frame.to_csv(data, index=False)
    name = lab.register("good")
    code, out, err = cli(
        capsys, "evaluate", "-m", f"models:/{name}/1", "-d", str(data), "-c", str(lab.config_path), "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert (result["rows_read"], result["rows_scored"], result["rows_rejected"]) == (300, 297, 3)
    reasons = {e["row"]: (e["column"], e["reason"]) for e in result["reject_examples"]}
    assert reasons[1][0] == "x1" and reasons[2] == ("churned", "missing label")
    assert "not a class" in reasons[3][1]


def test_the_weekly_story_promote_refuse_force_rollback_history(
    lab: Lab, config: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    name = lab.register("bad", "good", "bad")
    common = ["-d", str(lab.eval_data), "-c", str(lab.config_path)]

    # No champion yet: the recipe's floor (accuracy 0.6) alone decides, and the noisy v1 misses it.
    code, out, _ = cli(capsys, "promote", name, "--version", "1", *common)
    assert code == 3 and "floor" in out and _alias(lab, name) is None
    code, out, err = cli(
        capsys, "promote", name, "--version", "1", "--force", "--reason", "bootstrap", *common
    )
    assert code == 0, err
    assert _alias(lab, name) == "1"

    code, out, _ = cli(capsys, "promote", name, "--version", "2", "--dry-run", *common)
    assert code == 0 and "would promote" in out and _alias(lab, name) == "1"
    code, out, err = cli(capsys, "promote", name, "--version", "2", "--actor", "weekly-job", *common)
    assert code == 0, err
    assert _alias(lab, name) == "2" and "champion v1" in out and "challenger v2" in out

    code, out, _ = cli(capsys, "promote", name, "--version", "3", *common, "--json")
    assert code == 3
    refused = json.loads(out)
    assert refused["promoted"] is False and "gain: accuracy gain -" in refused["decision"]["summary"]
    assert _alias(lab, name) == "2"

    code, out, err = cli(
        capsys, "rollback", name, "--reason", "bad forecasts in region 3", "-c", str(lab.config_path)
    )
    assert code == 0, err
    assert _alias(lab, name) == "1"

    entries = _history(lab, name)
    assert [(e.action, e.from_version, e.to_version, e.moved) for e in entries] == [
        ("rollback", "2", "1", True),
        ("refused", "2", "3", False),
        ("promote", "1", "2", True),
        ("force", None, "1", True),
        ("refused", None, "1", False),
    ]
    promoted, forced = entries[2], entries[3]
    assert promoted.actor == "weekly-job" and promoted.champion["accuracy"]["value"] < 0.6
    assert promoted.data["rows"] == 1500 and len(promoted.data["fingerprint"]["sha256"]) == 64
    assert forced.reason == "bootstrap" and forced.decision == "forced: gate skipped"
    assert "gain" in entries[1].decision

    code, out, _ = cli(capsys, "history", name, "-c", str(lab.config_path), "--json")
    assert [e["action"] for e in json.loads(out)] == ["rollback", "refused", "promote", "force", "refused"]
    code, out, _ = cli(capsys, "history", name, "-c", str(lab.config_path))
    assert code == 0 and out.index("rollback") < out.index("weekly-job")  # newest first


def test_a_promotion_refuses_when_the_alias_moved_during_evaluation(
    lab: Lab, config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: another promotion moves the alias after this one compared against the old holder."""
    import mlflow

    from mmp.lifecycle import promote as promote_module
    from mmp.lifecycle.promote import PromoteRequest, promote

    name = lab.register("bad", "good", "good")
    mlflow.MlflowClient(lab.tracking_uri).set_registered_model_alias(name, "champion", "1")
    evaluate = promote_module.evaluate

    def evaluate_then_lose_the_race(*args: Any, **kwargs: Any) -> Any:
        result = evaluate(*args, **kwargs)
        mlflow.MlflowClient(lab.tracking_uri).set_registered_model_alias(name, "champion", "3")
        return result

    monkeypatch.setattr(promote_module, "evaluate", evaluate_then_lose_the_race)
    with pytest.raises(MmpError, match="moved from 1 to 3 while this promotion was being evaluated"):
        promote(PromoteRequest(name, "2", data_path=str(lab.eval_data)), config)
    assert _alias(lab, name) == "3"
    (entry,) = _history(lab, name)
    assert entry.action == "refused" and not entry.moved


def test_a_rollback_refuses_when_the_alias_moved_before_it_took_the_lock(
    lab: Lab, config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmp.lifecycle import promote as promote_module
    from mmp.lifecycle.promote import PromoteRequest, RollbackRequest, promote, rollback

    name = lab.register("bad", "good", "good")
    assert promote(PromoteRequest(name, "1", force=True, reason="first"), config).promoted
    assert promote(PromoteRequest(name, "2", data_path=str(lab.eval_data)), config).promoted
    acquire = promote_module.AliasLock.acquire

    def another_promotion_moves_first(lock: Any) -> None:
        lab.client().set_registered_model_alias(name, "champion", "3")
        acquire(lock)

    monkeypatch.setattr(promote_module.AliasLock, "acquire", another_promotion_moves_first)
    with pytest.raises(MmpError, match="moved from 2 to 3 while this rollback was being prepared"):
        rollback(RollbackRequest(name, reason="region 3"), config)
    assert _alias(lab, name) == "3"
    refused = _history(lab, name)[0]
    assert (refused.action, refused.from_version, refused.to_version) == ("refused", "2", "1")
    assert not refused.moved and refused.reason == "region 3"


def test_a_held_lock_makes_a_promotion_wait_then_give_up_recording_nothing(
    lab: Lab, config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock is exclusive; a promotion waits up to LOCK_WAIT_S for it, then fails, nothing moved."""
    import threading

    from mmp.lifecycle import models
    from mmp.lifecycle.models import AliasLock
    from mmp.lifecycle.promote import PromoteRequest, promote

    monkeypatch.setattr(models, "LOCK_WAIT_S", 0.3)
    name = lab.register("bad", "good")
    lock = AliasLock(lab.client(), name, "champion")
    lock.acquire()
    try:
        with pytest.raises(MmpError, match="in progress"):
            AliasLock(lab.client(), name, "champion", wait_s=0).acquire()
        with pytest.raises(MmpError, match="in progress"):
            promote(PromoteRequest(name, "2", data_path=str(lab.eval_data)), config)
    finally:
        lock.release()
    assert _alias(lab, name) is None and _history(lab, name) == []

    lock.acquire()
    threading.Timer(0.2, lock.release).start()  # the other promotion finishes its move
    waiting = AliasLock(lab.client(), name, "champion", wait_s=30)
    waiting.acquire()
    waiting.release()
    assert promote(PromoteRequest(name, "2", data_path=str(lab.eval_data)), config).promoted


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # unknown model, version or alias
        (["promote", "nosuchmodel", "--version", "1"], "no registered model named 'nosuchmodel'"),
        (["promote", "{name}", "--version", "9"], "has no version 9"),
        (["rollback", "nosuchmodel"], "no registered model named 'nosuchmodel'"),
        (["rollback", "{name}", "--alias", "staging"], "the ledger has no move of churn"),
        (["rollback", "{name}", "--to-version", "9"], "has no version 9"),
        (["history", "nosuchmodel"], "no registered model named 'nosuchmodel'"),
        (["evaluate", "-m", "models:/{name}@nosuch"], "has no alias 'nosuch'"),
        (["evaluate", "-m", "models:/nosuchmodel/1"], "nosuchmodel"),
        # a version whose contract differs from the champion's, with the differing column named
        (["promote", "{name}", "--version", "3"], "different feature contract from champion v1: x2 (feature"),
        # labels missing from the evaluation data
        (
            ["promote", "{name}", "--version", "2", "-d", "{nolabels}"],
            "missing the column 'churned' Fix: eval",
        ),
        (["evaluate", "-m", "models:/{name}/2", "-d", "{nolabels}"], "target column 'churned'"),
        (["promote", "{name}", "--version", "2", "-d", "{unlabelled}"], "no row of"),
        # a metric that does not fit the task (on the command line, or in the promotion policy)
        (["evaluate", "-m", "models:/{name}/1", "--metric", "rmse"], "'rmse' does not fit a classification"),
        (
            ["promote", "{name}", "--version", "2", "-r", "{rmse_recipe}"],
            "promotion.metric: 'rmse' does not fit a classification task",
        ),
        (["retrain", "-r", "{rmse_recipe}"], "promotion.metric: 'rmse' does not fit a classification task"),
        # an empty evaluation set
        (["promote", "{name}", "--version", "2", "-d", "{empty}"], "no row of"),
        (["evaluate", "-m", "models:/{name}/2", "-d", "{empty}"], "no row of"),
        (["promote", "{name}", "--version", "2", "--force"], "--force needs --reason"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_nothing_moves(
    lab: Lab,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    import mlflow
    import pandas as pd

    from mmp.lifecycle.ledger import LEDGER_EXPERIMENT
    from mmp.lifecycle.models import AliasLock
    from mmp.lifecycle.sql_mirror import URL_ENV

    mirror = f"sqlite:///{tmp_path / 'deployments.db'}"
    monkeypatch.setenv(URL_ENV, mirror)
    name = lab.register("good", "good", "narrow")
    client = mlflow.MlflowClient(lab.tracking_uri)
    client.set_registered_model_alias(name, "champion", "1")
    files = {k: tmp_path / f"{k}.csv" for k in ("nolabels", "unlabelled", "empty")}
    frame = pd.read_csv(lab.eval_data)
    frame.drop(columns=["churned"]).to_csv(files["nolabels"], index=False)
    frame.assign(churned=None).to_csv(files["unlabelled"], index=False)  # every row rejected
    frame.head(0).to_csv(files["empty"], index=False)
    rmse_recipe = tmp_path / "rmse.yaml"
    rmse_recipe.write_text(
        lab.recipe_path.read_text(encoding="utf-8").replace("metric: accuracy", "metric: rmse"),
        encoding="utf-8",
    )
    argv = [a.format(name=name, rmse_recipe=rmse_recipe, **files) for a in args]
    if "-d" not in argv and argv[0] in ("promote", "evaluate", "retrain"):
        argv += ["-d", str(lab.eval_data)]
    code, out, err = cli(capsys, *argv, "-c", str(lab.config_path))
    assert code == 1, out + err
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err
    assert err.count("Error:") == 1
    # nothing moved, nothing half-written: no ledger run in any state, no lock, no mirror row
    assert _alias(lab, name) == "1"
    experiment = client.get_experiment_by_name(LEDGER_EXPERIMENT)
    if experiment is not None:
        runs = client.search_runs(
            [experiment.experiment_id],
            f"tags.`mmp.ledger.model` = '{name}'",
            run_view_type=mlflow.entities.ViewType.ALL,
        )
        assert runs == []
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_registered_model(AliasLock(client, name, "champion").lock_name)
    assert _mirror_rows(mirror, name) == []


def _mirror_rows(url: str, name: str) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    from mmp.lifecycle.sql_mirror import TABLE, SqlMirror

    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table(TABLE):
            return []
    finally:
        engine.dispose()
    return [r for r in SqlMirror(url).rows() if r["model_name"] == name]
