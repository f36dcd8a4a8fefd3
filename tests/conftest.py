"""Shared fixtures: real MLflow stores in temp dirs and models trained from the example recipes.

Training the examples once per session keeps the suite fast; tests that change MLflow state
(registry aliases, new runs) make their own store with `mlflow_store`.
"""

from __future__ import annotations

import os
import shutil
import signal
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import PostgresServer, PostgresUnavailable, running_postgres

# One OpenMP thread per process, for this process and every process a test starts (set before
# scikit-learn loads its OpenMP runtime; an explicit setting wins). The suite runs two xdist
# workers on two cores, next to the servers and CLI runs they start: a HistGradientBoosting fit
# with a 2-thread pool then waits at every parallel region for a thread the other worker holds
# off the core. Measured on this 2-core machine at load ~3, training the three example recipes
# in one process took 13.7-15.2 s with the default pool and 2.3-3.7 s with one thread. Results
# do not depend on it (the same trees; serving already limits OpenMP to one thread per worker).
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches the processes the tests start, however the suite itself was started.

    A command started in the background by a non-interactive shell (`scripts/check &`, CI runners)
    inherits SIGINT ignored, and an ignored signal stays ignored across exec: every `mmp` a test
    starts would then rightly run through a test's SIGINT to the end (seen: the Ctrl-C tests of
    `mmp train` and `batch-inference` failed only in such runs). A caught signal is reset to its
    default at exec, so catching it here, as an interactive Python does, gives children a terminal's
    Ctrl-C. Runs in the controller and in every xdist worker.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
DATA = REPO / "data"
EXAMPLES = ("breast_cancer", "diabetes", "retail_sell_through")


# scripts/check runs the suite on two workers (`pytest -n 2 --dist loadgroup`). Tests that share one
# heavy resource run on the same worker, one after the other: the container tests share one private
# dockerd and the images built on it; the Spark tests run one JVM at a time. (Grouped by node id
# here, because pytest-xdist 3.8 cannot apply `xdist_group` marks under pytest 9.2.)
WORKER_GROUPS = {
    "tests/docker/": "docker",
    "tests/monitoring/test_spark.py::": "spark",
    "tests/pipelines/batch/test_spark.py::": "spark",
    "tests/conformance/test_surfaces.py::test_spark_local": "spark",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers, the `slow` tests come first (otherwise in collection order).

    Workers take single tests in the order collected, so a one-minute test collected last (the
    README's examples) ran alone at the end while the other worker idled: ~50 s of a ~550 s run.
    Serial runs keep the file order, so module fixtures are set up once."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ByResource(LoadGroupScheduling):  # type: ignore[misc]
        """A group is one unit of work (the biggest units start first); other tests go one by one."""

        def _split_scope(self, nodeid: str) -> str:
            for prefix, group in WORKER_GROUPS.items():
                if nodeid.startswith(prefix):
                    return group
            return nodeid

    return ByResource(config, log)


@dataclass(frozen=True)
class TrainedExample:
    """One example recipe trained into the session store."""

    name: str
    recipe_path: Path
    data_path: Path
    run_id: str
    model_uri: str  # models:/m-... (the logged model)
    registered_uri: str  # models:/<name>/1
    tracking_uri: str


@pytest.fixture(autouse=True)
def _no_user_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's MLflow or mmp settings."""
    for name in list(os.environ):
        if name.startswith(("MLFLOW_", "MMP_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # A test that calls `mlflow.set_tracking_uri` (which also writes MLFLOW_TRACKING_URI) must not
    # leak that store into the next test: every test starts with no process-wide URI set, and
    # monkeypatch puts both back afterwards.
    from mlflow.tracking._tracking_service import utils as tracking_utils

    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def sqlite_uri(folder: Path, name: str = "mlruns.db") -> str:
    """The URI of a SQLite MLflow store file in `folder` (the file itself: `new_store`)."""
    return f"sqlite:///{folder / name}"


NewStore = Callable[..., str]


@pytest.fixture(scope="session")
def new_store(tmp_path_factory: pytest.TempPathFactory) -> NewStore:
    """`new_store(folder, name="mlruns.db") -> URI`: a fresh, empty, real SQLite MLflow store.

    Why a copy: creating a store runs MLflow's alembic migrations (~2 s each, and ~50 tests want
    a fresh store), while copying an empty store migrated once per worker takes ~0.05 s. The copy
    is the same file MLflow would have written: same schema, same Default experiment (whose
    artifact location tests never use: every config names its own experiment and artifacts).
    Tests that prove a store is created from nothing (`mmp train` without a config, the README
    and the generated quickstart) do not use this.
    """
    template = tmp_path_factory.mktemp("mlflow-template") / "mlruns.db"

    def make(folder: Path, name: str = "mlruns.db") -> str:
        if not template.exists():
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            SqlAlchemyStore(sqlite_uri(template.parent), str(template.parent / "artifacts")).engine.dispose()
        shutil.copyfile(template, folder / name)
        return sqlite_uri(folder, name)

    return make


def write_config(folder: Path, tracking_uri: str, experiment: str = "tests") -> Path:
    """A config file pointing at a temp store, with artifacts beside it (never in the repo)."""
    path = folder / "config.yaml"
    path.write_text(
        f"environment: test\nmlflow:\n  tracking_uri: {tracking_uri}\n  experiment: {experiment}\n"
        f"  artifact_location: {folder / 'artifacts'}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def mlflow_store(tmp_path: Path, new_store: NewStore) -> Iterator[tuple[str, Path]]:
    """A fresh SQLite MLflow store for one test: (tracking URI, config path)."""
    import mlflow

    # mmp never sets MLflow's process-wide store; tests that read a model back with MLflow's own
    # fluent API (`mlflow.sklearn.load_model(result.model_uri)`) point it at this test's store
    # (`_no_user_environment` puts MLflow's global state back after every test).
    uri = new_store(tmp_path)
    mlflow.set_tracking_uri(uri)
    yield uri, write_config(tmp_path, uri)


@pytest.fixture(scope="session")
def session_store(tmp_path_factory: pytest.TempPathFactory, new_store: NewStore) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("mlflow-session")
    uri = new_store(folder)
    return uri, write_config(folder, uri, experiment="session")


@pytest.fixture(scope="session")
def trained(session_store: tuple[str, Path]) -> dict[str, TrainedExample]:
    """Every example recipe trained once, registered as `<name>` version 1."""
    from mmp.pipelines.train import train
    from mmp.recipe.loader import load_config, load_recipe

    uri, config_path = session_store
    out = {}
    for name in EXAMPLES:
        recipe_path = RECIPES / f"{name}.yaml"
        data_path = DATA / f"{name}.csv"
        result = train(load_recipe(recipe_path), load_config(config_path), str(data_path), register_as=name)
        out[name] = TrainedExample(
            name=name,
            recipe_path=recipe_path,
            data_path=data_path,
            run_id=result.run_id,
            model_uri=result.model_uri,
            registered_uri=f"models:/{name}/{result.registered_version}",
            tracking_uri=uri,
        )
    return out


def local_spark_session() -> tuple[Any, bool]:
    """A quiet `local[1]` Spark session and whether this call started it (the engine reuses an
    active one), or skip naming what is missing: the spark extra or a JDK."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if shutil.which("java") is None and not Path(os.environ.get("JAVA_HOME", "/nowhere")).is_dir():
        pytest.skip("Java is not installed (Spark needs a JDK 17+; apt-get install openjdk-17-jre-headless)")
    from mmp.core.spark import spark_session

    # The tests' JVM lives about a minute and runs tiny jobs, so most of its CPU goes to compiling
    # Spark's own code: C1 alone (no C2) and the serial collector cut the Spark tests' machine-wide
    # CPU by about a fifth (107 -> 83 CPU-s measured alone on 2 cores) and leave a core to the
    # other xdist worker. A user's session keeps the JVM's defaults; PYSPARK_SUBMIT_ARGS is
    # PySpark's own knob, read once when it launches the JVM, and a value already set wins.
    with pytest.MonkeyPatch.context() as env, warnings.catch_warnings():
        if "PYSPARK_SUBMIT_ARGS" not in os.environ:
            env.setenv(
                "PYSPARK_SUBMIT_ARGS",
                '--driver-java-options "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC" pyspark-shell',
            )
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support", category=FutureWarning
        )
        return spark_session("local[1]")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[1] Spark session for the whole run, stopped at its end.

    Why shared: starting the JVM and warming it up cost 6-11 s, paid by each Spark module in turn;
    the Spark tests all run on one xdist worker (WORKER_GROUPS), one after the other. The engines
    reuse an active session and leave it running, as they do for a user's own session; tests that
    change a runtime setting put it back.
    """
    session, owned = local_spark_session()
    assert owned, "a Spark session was already active before the shared one started"
    yield session
    session.stop()


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of Prometheus' `promtool` (Debian's `prometheus`, installed by .ci/run), else skip."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return found


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL server for the session (tests/postgres.py); skips when none can run."""
    try:
        with running_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's PostgreSQL server: its SQLAlchemy URL."""
    return postgres_server.new_database()
