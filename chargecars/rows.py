"""Single-row INSERT, UPDATE and load with SQL built once per model, for the hot paths.

``Model.save()`` compiles its statement on every call; on the partner API that was about
40 % of a request's CPU, more than PostgreSQL spent running the statements. ``row_insert``
and ``row_update`` do what ``save(force_insert=True)`` and ``save(update_fields=...)`` do
for a plain row (``pre_save``/``post_save`` signals, ``auto_now`` and other ``pre_save``
values, each field's database preparation, database defaults returned by the INSERT), with
the SQL text cached per model, database and set of columns; ``row_load`` turns a fetched
row into an instance with the ORM's converters. They refuse what they do not handle
(inherited models, expressions as values, fields with custom placeholders), so a model
that grows such a thing fails loudly here instead of being saved wrongly. The status
engine and the inbound event log write through them.
"""

import functools
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import AutoField, BigAutoField, Field, Model, SmallAutoField
from django.db.models.expressions import DatabaseDefault
from django.db.models.signals import post_save, pre_save

_AUTO_FIELDS = (AutoField, BigAutoField, SmallAutoField)


@dataclass(frozen=True)
class _Statement:
    sql: str
    fields: tuple[Field, ...]  # whose values are parameters, in order
    returning: tuple[Field, ...] = ()
    converters: tuple[tuple, ...] = ()  # per returned field, as the ORM applies them


def _check_plain(model: type[Model], fields) -> None:
    if model._meta.parents:
        raise TypeError(f"{model.__name__} inherits from another model; use save().")
    for field in fields:
        if hasattr(field, "get_placeholder") or field.generated:
            raise TypeError(f"{model.__name__}.{field.name} needs save().")


@functools.cache
def _database_filled(model: type[Model]) -> tuple[Field, ...]:
    """Fields the database fills in when the INSERT leaves them out."""
    return tuple(
        f for f in model._meta.concrete_fields if f.has_db_default() or isinstance(f, _AUTO_FIELDS)
    )


@functools.cache
def _insert_statement(model: type[Model], alias: str, omitted: frozenset[str]) -> _Statement:
    """INSERT of every concrete column except ``omitted``, which the database fills in."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    concrete = model._meta.concrete_fields
    _check_plain(model, concrete)
    fields = tuple(f for f in concrete if f.attname not in omitted)
    returning = tuple(f for f in concrete if f.attname in omitted)
    if returning and not connection.features.can_return_columns_from_insert:
        raise TypeError(f"{connection.vendor} cannot return {model.__name__}'s defaults.")
    table = quote(model._meta.db_table)
    if fields:
        columns = ", ".join(quote(f.column) for f in fields)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    else:
        sql = f"INSERT INTO {table} DEFAULT VALUES"
    if returning:
        sql += " RETURNING " + ", ".join(quote(f.column) for f in returning)
    return _Statement(sql, fields, returning, tuple(_converters(f, connection) for f in returning))


@functools.cache
def _update_statement(model: type[Model], alias: str, names: tuple[str, ...]) -> _Statement:
    quote = connections[alias].ops.quote_name
    fields = tuple(model._meta.get_field(name) for name in names)
    _check_plain(model, fields)
    pk = model._meta.pk
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        quote(model._meta.db_table),
        ", ".join(f"{quote(f.column)} = %s" for f in fields),
        quote(pk.column),
    )
    return _Statement(sql, (*fields, pk))


def _converters(field: Field, connection) -> tuple:
    """What the ORM applies to a value read from this column: the backend's, then the field's."""
    column = field.get_col(field.model._meta.db_table)
    return (*connection.ops.get_db_converters(column), *column.get_db_converters(connection))


def _db_value(field: Field, value, connection):
    if hasattr(value, "resolve_expression"):
        raise TypeError(f"{field.name}: expressions need save().")
    return field.get_db_prep_save(value, connection)


def row_insert(obj: Model, *, using: str = DEFAULT_DB_ALIAS) -> Model:
    """``obj.save(force_insert=True)`` for a plain model, with the INSERT compiled once."""
    model = type(obj)
    connection = connections[using]
    pre_save.send(sender=model, instance=obj, raw=False, using=using, update_fields=None)
    omitted = frozenset(
        f.attname
        for f in _database_filled(model)
        if isinstance(value := getattr(obj, f.attname), DatabaseDefault)
        or (value is None and isinstance(f, _AUTO_FIELDS))
    )
    statement = _insert_statement(model, using, omitted)
    params = [_db_value(f, f.pre_save(obj, True), connection) for f in statement.fields]
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        if statement.returning:
            row = cursor.fetchone()
            for field, converters, value in zip(
                statement.returning, statement.converters, row, strict=True
            ):
                for converter in converters:
                    value = converter(value, field, connection)
                setattr(obj, field.attname, value)
    obj._state.adding = False
    obj._state.db = using
    post_save.send(
        sender=model, instance=obj, created=True, update_fields=None, raw=False, using=using
    )
    return obj


def row_update(obj: Model, fields: tuple[str, ...], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """``obj.save(update_fields=fields)`` with the UPDATE compiled once (``auto_now`` included)."""
    model = type(obj)
    connection = connections[using]
    update_fields = frozenset(fields)
    pre_save.send(sender=model, instance=obj, raw=False, using=using, update_fields=update_fields)
    statement = _update_statement(model, using, tuple(fields))
    params = [_db_value(f, f.pre_save(obj, False), connection) for f in statement.fields[:-1]]
    params.append(model._meta.pk.get_db_prep_value(obj.pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        if cursor.rowcount != 1:
            raise DatabaseError(f"{model.__name__} {obj.pk} was not updated: no such row.")
    obj._state.db = using
    post_save.send(
        sender=model,
        instance=obj,
        created=False,
        update_fields=update_fields,
        raw=False,
        using=using,
    )


@functools.cache
def _row_reader(model: type[Model], alias: str) -> tuple[tuple[str, ...], tuple]:
    connection = connections[alias]
    fields = model._meta.concrete_fields
    converters = ((i, f, _converters(f, connection)) for i, f in enumerate(fields))
    return tuple(f.attname for f in fields), tuple(c for c in converters if c[2])


def row_load(model: type[Model], row, *, using: str = DEFAULT_DB_ALIAS) -> Model:
    """The instance for ``row``, all concrete columns in field order (as ``SELECT *`` of the
    ORM), with the values converted as the ORM converts them."""
    attnames, converters = _row_reader(model, using)
    values = list(row)
    connection = connections[using]
    for index, field, field_converters in converters:
        for converter in field_converters:
            values[index] = converter(values[index], field, connection)
    return model.from_db(using, attnames, values)
