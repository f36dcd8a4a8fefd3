"""What a model URI points to: parsed once (`ModelRef`), resolved once (`ResolvedModel`).

Every command that takes `--model-uri`/`--run-id` (serve-api, batch-inference, export-model, and
evaluate/promote) goes through here, so a URI means the same model, with the same registered name
and version, everywhere:

    from mmp.core.model_ref import ModelRef
    from mmp.core.tracking import TrackingStore

    ref = ModelRef.parse("models:/churn@champion")       # or ModelRef.from_options(run_id, uri)
    resolved = ref.resolve(TrackingStore.resolve(None))  # asks the registry once
    resolved.name, resolved.version, resolved.run_id     # ("churn", "3", "9f1c...")
    resolved.uri                                         # "models:/churn/3": load exactly this

Accepted forms: `runs:/RUN_ID/PATH` (what `--run-id` means, with PATH `model`),
`models:/NAME/VERSION`, `models:/NAME@ALIAS`, `models:/NAME/latest`, `models:/m-ID` (a logged
model), a local folder made by `mmp export-model`, and any other artifact URI MLflow can download
(`s3://...`), passed through as is. Parsing never touches the network; resolving turns an unknown
model, version or alias into one line that names it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mmp.core.errors import MmpError, first_line
from mmp.core.yamlio import redact_url

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mmp.core.tracking import TrackingStore

MODEL_ARTIFACT = "model"
SOURCE_FILE = "mmp_source.json"

RefKind = Literal["run", "version", "alias", "latest", "logged", "folder", "artifact"]

_RUN = re.compile(r"^runs:/(?P<run_id>[^/]+)/(?P<path>.+)$")
_LOGGED = re.compile(r"^models:/(?P<model_id>m-[0-9a-zA-Z]+)$")
_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_LATEST = re.compile(r"^models:/(?P<name>[^/@]+)/latest$")
_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
_NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"


@dataclass(frozen=True)
class ModelRef:
    """A model URI as the user gave it, split into its parts. Build it with `parse`."""

    uri: str
    kind: RefKind
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    model_id: str | None = None

    @classmethod
    def parse(cls, uri: str) -> ModelRef:
        """Split a URI; a bare path must be a folder holding an MLmodel file."""
        uri = uri.strip()
        if not uri:
            raise MmpError("the model URI is empty", "pass --model-uri or --run-id")
        if m := _RUN.match(uri):
            return cls(uri, "run", run_id=m["run_id"])
        if m := _LOGGED.match(uri):
            return cls(uri, "logged", model_id=m["model_id"])
        if m := _ALIAS.match(uri):
            return cls(uri, "alias", name=m["name"], alias=m["alias"])
        if m := _LATEST.match(uri):
            return cls(uri, "latest", name=m["name"])
        if m := _VERSION.match(uri):
            return cls(uri, "version", name=m["name"], version=m["version"])
        if "://" in uri or ":/" in uri:
            return cls(uri, "artifact")
        folder = Path(uri)
        if not (folder / "MLmodel").is_file():
            raise MmpError(
                f"no model at {uri}: expected a folder with an MLmodel file",
                "pass a runs:/ or models:/ URI, or a folder made by mmp export-model",
            )
        return cls(str(folder.resolve()), "folder")

    @classmethod
    def from_options(cls, run_id: str | None = None, model_uri: str | None = None) -> ModelRef:
        """The reference `--run-id`/`--model-uri` name; exactly one must be given."""
        if bool(run_id) == bool(model_uri):
            raise MmpError(
                "give exactly one of --run-id and --model-uri",
                "e.g. --run-id 3f2a... or --model-uri models:/churn@champion",
            )
        if run_id:
            return cls.parse(f"runs:/{run_id}/{MODEL_ARTIFACT}")
        assert model_uri is not None
        return cls.parse(model_uri)

    @property
    def follows(self) -> bool:
        """True for `@ALIAS` and `/latest`: the version they point to can change while serving."""
        return self.kind in ("alias", "latest")

    def resolve(self, store: TrackingStore) -> ResolvedModel:
        """Ask the store (once) which exact model this reference means now."""
        if self.kind == "folder":
            source = ModelSource.read(Path(self.uri))
            if source is None:
                return ResolvedModel(self, self.uri, self.uri)
            return ResolvedModel(self, self.uri, self.uri, source.name, source.version, source.run_id)
        if self.kind == "artifact":
            return ResolvedModel(self, self.uri, self.uri)
        client = store.client()
        if self.kind == "run":
            assert self.run_id is not None
            location = _run_model_location(client, store, self.uri, self.run_id, self._run_path())
            return ResolvedModel(self, self.uri, location, run_id=self.run_id)
        if self.kind == "logged":
            assert self.model_id is not None
            try:
                logged = client.get_logged_model(self.model_id)
            except Exception as exc:  # noqa: BLE001 - every store raises its own types
                raise _store_error(self.uri, store, exc, f"no logged model {self.model_id}") from None
            return ResolvedModel(
                self, self.uri, logged.artifact_location, run_id=logged.source_run_id, model_id=self.model_id
            )
        assert self.name is not None
        try:
            if self.kind == "alias":
                mv = client.get_model_version_by_alias(self.name, str(self.alias))
            elif self.kind == "version":
                mv = client.get_model_version(self.name, str(self.version))
            else:
                mv = _latest_version(client, self.name)
        except MmpError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._registry_error(client, store, exc) from None
        version = str(mv.version)
        model_id = getattr(mv, "model_id", None) or None
        try:
            if model_id:
                location = client.get_logged_model(model_id).artifact_location
            else:
                location = client.get_model_version_download_uri(self.name, version)
        except Exception as exc:  # noqa: BLE001
            raise _store_error(self.uri, store, exc) from None
        return ResolvedModel(
            self,
            f"models:/{self.name}/{version}",
            location,
            name=self.name,
            version=version,
            run_id=mv.run_id or None,
            model_id=model_id,
        )

    def _run_path(self) -> str:
        match = _RUN.match(self.uri)
        assert match is not None
        return match["path"]

    def _registry_error(self, client: MlflowClient, store: TrackingStore, exc: Exception) -> MmpError:
        """Say what is missing: the registered model, or its version/alias (listing what exists)."""
        assert self.name is not None
        try:
            model = client.get_registered_model(self.name)
        except Exception as lookup:  # noqa: BLE001
            if getattr(lookup, "error_code", None) == _NOT_FOUND:
                return MmpError(
                    f"no registered model named {self.name!r} in {store.display}",
                    "check the name (mlflow models list), or register one with mmp train --register-as",
                )
            return _store_error(self.uri, store, lookup)
        if self.kind == "alias":
            aliases = ", ".join(sorted(model.aliases or {})) or "none"
            return MmpError(
                f"registered model {self.name!r} has no alias {self.alias!r} (aliases: {aliases})",
                "set it with MlflowClient().set_registered_model_alias(NAME, ALIAS, VERSION)",
            )
        if self.kind == "version":
            try:
                newest = f" (newest: {_latest_version(client, self.name).version})"
            except Exception:  # noqa: BLE001 - no versions at all: say only what is missing
                newest = ""
            return MmpError(
                f"registered model {self.name!r} has no version {self.version}{newest}",
                f"use models:/{self.name}/latest or an existing version",
            )
        return _store_error(self.uri, store, exc)


@dataclass(frozen=True)
class ResolvedModel:
    """A reference pinned to one model: `uri` names it for people (`models:/NAME/3` for any
    registry form), `artifact_uri` is where its files are (what to download), the rest is its
    identity."""

    ref: ModelRef
    uri: str
    artifact_uri: str
    name: str | None = None
    version: str | None = None
    run_id: str | None = None
    model_id: str | None = None


@dataclass(frozen=True)
class ModelSource:
    """Where an exported folder came from, written beside its MLmodel by `mmp export-model`, so
    serving or scoring the folder reports the same registered name and version as the registry."""

    model_uri: str
    resolved_uri: str
    name: str | None
    version: str | None
    run_id: str | None

    @classmethod
    def of(cls, resolved: ResolvedModel) -> ModelSource:
        return cls(
            model_uri=redact_url(resolved.ref.uri),
            resolved_uri=redact_url(resolved.uri),
            name=resolved.name,
            version=resolved.version,
            run_id=resolved.run_id,
        )

    def write(self, folder: Path) -> None:
        (folder / SOURCE_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> ModelSource | None:
        """The recorded source of an exported folder; None for folders made another way."""
        file = folder / SOURCE_FILE
        if not file.is_file():
            return None
        try:
            data: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
            return cls(
                model_uri=str(data["model_uri"]),
                resolved_uri=str(data["resolved_uri"]),
                name=data.get("name"),
                version=data.get("version"),
                run_id=data.get("run_id"),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise MmpError(f"{file} is not a valid model source record: {first_line(exc)}") from None


def _run_model_location(client: MlflowClient, store: TrackingStore, uri: str, run_id: str, path: str) -> str:
    """Where `runs:/RUN/PATH` lives: the model logged by that run under that name (MLflow 3 keeps
    model files outside the run), else the run's own artifacts (models logged by MLflow 2)."""
    try:
        run = client.get_run(run_id)
    except Exception as exc:  # noqa: BLE001
        raise _store_error(uri, store, exc, f"no run {run_id}") from None
    name, _, rest = path.partition("/")
    quoted = name.replace("'", "\\'")
    token: str | None = None
    try:
        while True:
            page = client.search_logged_models(
                experiment_ids=[run.info.experiment_id], filter_string=f"name = '{quoted}'", page_token=token
            )
            for logged in page:
                if logged.source_run_id == run_id:
                    base = str(logged.artifact_location).rstrip("/")
                    return f"{base}/{rest}" if rest else base
            token = page.token
            if not token:
                break
    except Exception as exc:  # noqa: BLE001
        raise _store_error(uri, store, exc) from None
    return f"{str(run.info.artifact_uri).rstrip('/')}/{path}"


def _latest_version(client: MlflowClient, name: str) -> Any:
    quoted = name.replace("'", "\\'")
    found = client.search_model_versions(
        f"name = '{quoted}'", max_results=1, order_by=["version_number DESC"]
    )
    if not found:
        client.get_registered_model(name)  # an unknown name raises, and is reported as such
        raise MmpError(
            f"registered model {name!r} has no versions", "register one with mmp train --register-as"
        )
    return found[0]


def _store_error(uri: str, store: TrackingStore, exc: BaseException, missing: str | None = None) -> MmpError:
    from mmp.core.tracking import TRACKING_HINT

    if missing and getattr(exc, "error_code", None) == _NOT_FOUND:
        return MmpError(f"{missing} in {store.display}", TRACKING_HINT)
    return MmpError(f"cannot resolve {redact_url(uri)}: {redact_url(first_line(exc))}", TRACKING_HINT)
