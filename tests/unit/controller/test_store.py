"""The cache's store finds objects by every index they belong to, and by none they left: a run that
finished is no longer counted as unfinished, a run relabelled moves to its new schedule."""

from __future__ import annotations

from kubeasset.controller.store import Store


def run(name: str, job: str, finished: bool) -> dict[str, object]:
    return {"name": name, "job": job, "finished": finished}


def store() -> Store[dict[str, object]]:
    return Store(
        {
            "job": lambda item: [item["job"]],
            "unfinished": lambda item: [] if item["finished"] else [()],
        }
    )


def test_objects_are_found_under_each_of_their_keys_and_move_when_they_change() -> None:
    runs = store()
    runs.put("u1", run("r1", "sales", finished=False))
    runs.put("u2", run("r2", "sales", finished=False))
    runs.put("u3", run("r3", "marketing", finished=True))
    assert [item["name"] for item in runs.by("job", "sales")] == ["r1", "r2"]
    assert [item["name"] for item in runs.by("unfinished", ())] == ["r1", "r2"]

    previous = runs.put("u1", run("r1", "marketing", finished=True))  # the same run, changed
    assert previous is not None and previous["job"] == "sales"
    assert [item["name"] for item in runs.by("job", "sales")] == ["r2"]
    assert sorted(item["name"] for item in runs.by("job", "marketing")) == ["r1", "r3"]
    assert [item["name"] for item in runs.by("unfinished", ())] == ["r2"]
    assert len(runs) == 3


def test_a_removed_object_is_gone_from_every_index_and_empty_keys_do_not_pile_up() -> None:
    runs = store()
    runs.put("u1", run("r1", "sales", finished=False))
    assert runs.remove("u1") is not None
    assert runs.remove("u1") is None
    assert runs.by("job", "sales") == [] and runs.by("unfinished", ()) == []
    assert "u1" not in runs and runs.get("u1") is None
    assert runs._indexes == {"job": {}, "unfinished": {}}
