"""WrittenObjects: the controller's own writes stand in for the cache only while the cache still shows the
version each write was based on."""

from __future__ import annotations

from kubeasset.controller.run_memory import WrittenObjects


def test_a_write_is_used_while_the_cache_shows_the_version_it_was_based_on() -> None:
    written = WrittenObjects()
    written.remember("AssetRun", "shop", "daily-1", based_on="41", obj={"metadata": {"resourceVersion": "42"}})
    assert written.current("AssetRun", "shop", "daily-1", cached_version="41") == {
        "metadata": {"resourceVersion": "42"}
    }
    assert written.current("AssetRun", "shop", "other", cached_version="41") is None
    assert written.current("AssetJob", "shop", "daily-1", cached_version="41") is None


def test_once_the_cache_moved_on_the_write_is_forgotten() -> None:
    written = WrittenObjects()
    written.remember("AssetRun", "shop", "daily-1", based_on="41", obj={"v": 42})
    assert written.current("AssetRun", "shop", "daily-1", cached_version="42") is None
    # Even if the cache were to show the old version again (a re-list), the forgotten write is not used.
    assert written.current("AssetRun", "shop", "daily-1", cached_version="41") is None


def test_a_newer_write_replaces_the_older_one() -> None:
    written = WrittenObjects()
    written.remember("AssetRun", "shop", "daily-1", based_on="41", obj={"v": 42})
    written.remember("AssetRun", "shop", "daily-1", based_on="42", obj={"v": 43})
    assert written.current("AssetRun", "shop", "daily-1", cached_version="41") is None
