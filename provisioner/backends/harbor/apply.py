"""Execute one planned Harbor change (the payloads of :mod:`provisioner.backends.harbor.planner`).

Each step is written so that an apply interrupted half-way leaves a state the next run plans
from: a create that finds the name taken (409, e.g. a POST whose answer was lost) adopts the
existing endpoint, and deletions accept "already gone".
"""

from __future__ import annotations

from provisioner.backends.harbor.bootstrap import RotatePassword, rotate
from provisioner.backends.harbor.client import HarborClient
from provisioner.backends.harbor.planner import (
    DeleteEndpoint,
    DeleteProject,
    WriteEndpoint,
    WriteProject,
)
from provisioner.errors import Conflict, PlanError
from provisioner.plan import Change


def apply(client: HarborClient, change: Change) -> None:
    payload = change.payload
    if isinstance(payload, RotatePassword):
        rotate(client, payload)
    elif isinstance(payload, WriteEndpoint):
        _write_endpoint(client, payload)
    elif isinstance(payload, WriteProject):
        _write_project(client, payload)
    elif isinstance(payload, DeleteProject):
        client.delete_project(payload.name)
    elif isinstance(payload, DeleteEndpoint):
        client.delete_registry(payload.registry_id)
    else:  # pragma: no cover - a planner bug
        raise TypeError(f"{change.address}: no Harbor action for {type(payload).__name__}")


def _write_endpoint(client: HarborClient, step: WriteEndpoint) -> None:
    spec = step.spec
    if step.replace_id is not None:
        # A bound endpoint cannot be deleted (412): its projects go first (the plan said so).
        for project in step.bound_projects:
            client.delete_project(project)
        client.delete_registry(step.replace_id)
    if step.registry_id is not None:
        client.update_registry(step.registry_id, spec.update_body())
        registry_id = step.registry_id
    else:
        try:
            registry_id = client.create_registry(spec.create_body())
        except Conflict:
            existing = client.find_registry(spec.name)
            if existing is None:
                raise
            registry_id = int(existing["id"])
            client.update_registry(registry_id, spec.update_body())
    with client.lock:
        client.registry_ids[spec.name] = registry_id


def _write_project(client: HarborClient, step: WriteProject) -> None:
    spec = step.spec
    if step.exists and not step.replace:
        # Only the managed keys: Harbor keeps the others (retention_id must not be resent).
        client.update_project(spec.name, {"metadata": dict(spec.metadata)})
        return
    if step.replace:
        client.delete_project(spec.name)
    registry_id = step.registry_id or _registry_id(client, spec.endpoint)
    try:
        client.create_project({"project_name": spec.name, "registry_id": registry_id,
                               "metadata": dict(spec.metadata)})
    except Conflict:
        # Made meanwhile (another apply at the same time, or a create whose answer was lost):
        # bound to this endpoint it is the same project, so set its metadata and move on.
        existing = client.get_project(spec.name)
        if existing is None:
            raise
        if existing.get("registry_id") != registry_id:
            raise PlanError(f"project {spec.name} was just created by someone else, bound to "
                            "another registry endpoint; it is left alone") from None
        client.update_project(spec.name, {"metadata": dict(spec.metadata)})


def _registry_id(client: HarborClient, name: str) -> int:
    with client.lock:
        known = client.registry_ids.get(name)
    if known is not None:
        return known
    found = client.find_registry(name)
    if found is None:
        raise PlanError(f"endpoint {name} is missing; run apply again to create it")
    return int(found["id"])
