"""The ``@asset`` decorator: turns a function into a validated, frozen :class:`AssetsDefinition`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeAlias, overload

from kubeasset.errors import DefinitionError, InvalidAssetKeyError
from kubeasset.graph import DEFAULT_GROUP_NAME, AssetKey, AssetSpec, CoercibleToAssetKey
from kubeasset.sdk.asset_in import AssetIn
from kubeasset.sdk.assets_definition import AssetsDefinition
from kubeasset.sdk.metadata import normalize_metadata
from kubeasset.sdk.naming import validate_group_name, validate_kinds, validate_owners, validate_tags

#: What ``deps=`` accepts: keys, ``"a/b"`` strings, asset definitions or specs.
CoercibleToAssetDep: TypeAlias = AssetKey | str | AssetsDefinition | AssetSpec

#: The parameter name that receives an AssetExecutionContext (first parameter only).
CONTEXT_PARAMETER = "context"


@overload
def asset(fn: Callable[..., Any], /) -> AssetsDefinition: ...


@overload
def asset(
    *,
    name: str | None = None,
    key: CoercibleToAssetKey | None = None,
    key_prefix: str | Sequence[str] | None = None,
    ins: Mapping[str, AssetIn] | None = None,
    deps: Iterable[CoercibleToAssetDep] | None = None,
    group_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    owners: Sequence[str] | None = None,
    kinds: Iterable[str] | None = None,
    description: str | None = None,
    code_version: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], AssetsDefinition]: ...


def asset(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    key: CoercibleToAssetKey | None = None,
    key_prefix: str | Sequence[str] | None = None,
    ins: Mapping[str, AssetIn] | None = None,
    deps: Iterable[CoercibleToAssetDep] | None = None,
    group_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    owners: Sequence[str] | None = None,
    kinds: Iterable[str] | None = None,
    description: str | None = None,
    code_version: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> AssetsDefinition | Callable[[Callable[..., Any]], AssetsDefinition]:
    """Define an asset computed by the decorated function (Dagster's ``@asset``).

    Parameters name upstream assets (``def orders(raw_orders)`` loads the asset ``raw_orders``);
    ``ins`` maps a parameter to another key; ``deps`` adds dependencies whose values are not loaded.
    A first parameter named ``context`` receives an :class:`AssetExecutionContext`. The key is
    ``key``, or ``key_prefix`` + ``name`` (default: the function name). ``description`` defaults to
    the docstring. Everything is validated now: a bad definition raises
    :class:`kubeasset.errors.DefinitionError` naming the function.

    Example::

        @asset
        def raw_orders() -> list[dict]:
            return [{"id": 1, "total": 9.5}]

        @asset(key_prefix="warehouse", group_name="sales", tags={"tier": "gold"},
               owners=["team:sales"], kinds={"python"}, code_version="2")
        def orders(context: AssetExecutionContext, raw_orders: list[dict]) -> list[dict]:
            \"\"\"Paid orders.\"\"\"
            return raw_orders

        @asset(ins={"orders": AssetIn(key="warehouse/orders")}, deps=["audit_log"])
        def revenue(orders: list[dict]) -> float:
            return sum(o["total"] for o in orders)
    """

    def decorate(function: Callable[..., Any]) -> AssetsDefinition:
        return _build_assets_definition(
            function,
            name=name,
            key=key,
            key_prefix=key_prefix,
            ins=ins or {},
            deps=deps or (),
            group_name=group_name,
            tags=tags,
            owners=owners,
            kinds=kinds,
            description=description,
            code_version=code_version,
            metadata=metadata,
        )

    if fn is not None:
        return decorate(fn)
    return decorate


def _build_assets_definition(
    fn: Callable[..., Any],
    *,
    name: str | None,
    key: CoercibleToAssetKey | None,
    key_prefix: str | Sequence[str] | None,
    ins: Mapping[str, AssetIn],
    deps: Iterable[CoercibleToAssetDep],
    group_name: str | None,
    tags: Mapping[str, str] | None,
    owners: Sequence[str] | None,
    kinds: Iterable[str] | None,
    description: str | None,
    code_version: str | None,
    metadata: Mapping[str, Any] | None,
) -> AssetsDefinition:
    if isinstance(fn, AssetsDefinition):
        raise DefinitionError(f"{fn.function_name} is already an asset: apply @asset only once")
    if not callable(fn):
        raise DefinitionError(f"@asset decorates a function, got {type(fn).__name__}")
    where = f"@asset {getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
        raise DefinitionError(f"{where}: async and generator functions are not supported; return the value")

    asset_key = _asset_key(fn, name=name, key=key, key_prefix=key_prefix, where=where)
    has_context, input_keys = _inputs(fn, ins, where=where)

    dep_keys: list[AssetKey] = list(input_keys.values())
    for dep in deps:
        dep_key = _dep_key(dep, where=where)
        if dep_key not in dep_keys:
            dep_keys.append(dep_key)
    if asset_key in dep_keys:
        raise DefinitionError(f"{where}: asset {asset_key} depends on itself")

    if code_version is not None and not isinstance(code_version, str):
        raise DefinitionError(f"{where}: code_version must be a str, got {type(code_version).__name__}")
    if description is not None and not isinstance(description, str):
        raise DefinitionError(f"{where}: description must be a str, got {type(description).__name__}")
    definition_metadata = normalize_metadata(metadata, owner=where)
    spec = AssetSpec(
        key=asset_key,
        deps=tuple(dep_keys),
        group_name=validate_group_name(DEFAULT_GROUP_NAME if group_name is None else group_name, owner=where),
        tags=validate_tags(tags, owner=where),
        owners=validate_owners(owners, owner=where),
        kinds=validate_kinds(kinds, owner=where),
        description=description if description is not None else inspect.getdoc(fn),
        code_version=code_version,
    )
    return AssetsDefinition(
        spec=spec,
        fn=fn,
        input_keys=MappingProxyType(input_keys),
        has_context=has_context,
        metadata=definition_metadata,
        stores_value=inspect.signature(fn).return_annotation not in (None, "None"),
    )


def _asset_key(
    fn: Callable[..., Any],
    *,
    name: str | None,
    key: CoercibleToAssetKey | None,
    key_prefix: str | Sequence[str] | None,
    where: str,
) -> AssetKey:
    try:
        if key is not None:
            if name is not None or key_prefix is not None:
                raise DefinitionError(f"{where}: pass key=, or name=/key_prefix=, not both")
            return AssetKey.coerce(key)
        base = AssetKey(name if name is not None else fn.__name__)
        if key_prefix is None:
            return base
        prefix = key_prefix.split("/") if isinstance(key_prefix, str) else list(key_prefix)
        return base.with_prefix(prefix)
    except InvalidAssetKeyError as error:
        raise InvalidAssetKeyError(f"{where}: {error}") from error


def _inputs(
    fn: Callable[..., Any], ins: Mapping[str, AssetIn], *, where: str
) -> tuple[bool, dict[str, AssetKey]]:
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError) as error:
        raise DefinitionError(f"{where}: cannot read the function's signature: {error}") from error
    has_context = bool(parameters) and parameters[0].name == CONTEXT_PARAMETER
    if has_context:
        parameters = parameters[1:]
    input_keys: dict[str, AssetKey] = {}
    for parameter in parameters:
        if parameter.name == CONTEXT_PARAMETER:
            raise DefinitionError(f"{where}: 'context' must be the first parameter")
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise DefinitionError(
                f"{where}: *{parameter.name} / **{parameter.name} parameters are not supported; "
                "name each upstream asset as a parameter or list it in deps="
            )
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise DefinitionError(
                f"{where}: parameter {parameter.name!r} is positional-only; upstream values are passed "
                "by name"
            )
        asset_in = ins.get(parameter.name, AssetIn())
        if not isinstance(asset_in, AssetIn):
            raise DefinitionError(
                f"{where}: ins[{parameter.name!r}] must be an AssetIn, got {type(asset_in).__name__}"
            )
        try:
            input_keys[parameter.name] = asset_in.resolve_key(parameter.name)
        except InvalidAssetKeyError as error:
            raise InvalidAssetKeyError(
                f"{where}: parameter {parameter.name!r} does not name a valid asset key ({error}); "
                "map it with ins={...: AssetIn(key=...)}"
            ) from error
    unknown = sorted(set(ins) - set(input_keys))
    if unknown:
        raise DefinitionError(
            f"{where}: ins names {', '.join(map(repr, unknown))}, which "
            f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of the function "
            f"(parameters: {', '.join(input_keys) or 'none'})"
        )
    return has_context, input_keys


def _dep_key(dep: Any, *, where: str) -> AssetKey:
    if isinstance(dep, AssetsDefinition):
        return dep.key
    if isinstance(dep, AssetSpec):
        return dep.key
    if isinstance(dep, AssetKey):
        return dep
    if isinstance(dep, str):
        try:
            return AssetKey.from_user_string(dep)
        except InvalidAssetKeyError as error:
            raise InvalidAssetKeyError(f"{where}: deps entry {dep!r}: {error}") from error
    if callable(dep):
        raise DefinitionError(
            f"{where}: deps entry {getattr(dep, '__name__', dep)!r} is a plain function; "
            "decorate it with @asset or pass its key"
        )
    raise DefinitionError(
        f"{where}: deps entries must be asset keys, 'a/b' strings or asset definitions, "
        f"got {type(dep).__name__}"
    )
