"""Shopify Admin GraphQL API over the world: real schema, real cost accounting, real throttling.

Queries are parsed and validated against Shopify's own introspection schema (`specs/shopify`, 2025-01). For
versions from 2025-04 on, the one documented additive change our client uses is patched in
(`Customer.defaultEmailAddress`, changelog "Adding defaultEmailAddress field to Customer").

Cost follows Shopify's published rules: scalars and enums cost 0, an object 1, a connection 2 plus `first` times the
cost of one node. The bucket must hold the *requested* cost; afterwards the difference to the *actual* cost (nodes
really returned) is refunded. A query that does not fit gets HTTP 200 with a `THROTTLED` error in the body, and every
response carries `extensions.cost.throttleStatus`.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    build_client_schema,
    execute,
    parse,
    validate,
)
from graphql.error import GraphQLError
from graphql.language import ast as gql_ast

from sandbox.common.specs import load_json_spec
from sandbox.world.core import Customer, Order, World

SPEC_FILE = "shopify/admin_schema_2025-01.json"
MAX_QUERY_COST = 1000
MAX_PAGE_SIZE = 250


@lru_cache(maxsize=2)
def load_schema(with_default_email_address: bool) -> GraphQLSchema:
    introspection = load_json_spec(SPEC_FILE)
    introspection = introspection.get("data", introspection)
    if with_default_email_address:
        for t in introspection["__schema"]["types"]:
            if t["name"] == "Customer":
                t["fields"].append(
                    {
                        "name": "defaultEmailAddress",
                        "description": "The customer's default email address (API 2025-04+).",
                        "args": [],
                        "type": {"kind": "OBJECT", "name": "CustomerEmailAddress", "ofType": None},
                        "isDeprecated": False,
                        "deprecationReason": None,
                    }
                )
    schema = build_client_schema(introspection)
    # Shopify's published schema breaks two of graphql-core's type-system rules (deprecated fields implementing
    # non-deprecated interface fields). The real API serves it anyway; so do we: mark it validated.
    schema._validation_errors = []
    return schema


def schema_for_version(version: str) -> GraphQLSchema:
    return load_schema(version >= "2025-04")


@lru_cache(maxsize=256)
def checked_document(with_default_email_address: bool, query: str) -> tuple[gql_ast.DocumentNode | None, list[GraphQLError], GraphQLError | None]:
    """(document, validation errors, parse error) of a query text: a client sends the same few queries on every
    page, and parsing + validating one against Shopify's schema costs more than answering a page (documents are
    never mutated by execution, so one is safely shared)."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, [], exc
    return document, validate(load_schema(with_default_email_address), document), None


# --- cost -------------------------------------------------------------------------------------------------------------


def _unwrap(t: GraphQLType) -> tuple[GraphQLType, bool]:
    is_list = False
    while isinstance(t, (GraphQLNonNull, GraphQLList)):
        is_list = is_list or isinstance(t, GraphQLList)
        t = t.of_type
    return t, is_list


def _int_arg(node: FieldNode, name: str, variables: dict[str, Any]) -> int | None:
    for arg in node.arguments or ():
        if arg.name.value == name:
            value = arg.value
            if isinstance(value, gql_ast.IntValueNode):
                return int(value.value)
            if isinstance(value, gql_ast.VariableNode):
                v = variables.get(value.name.value)
                return int(v) if v is not None else None
    return None


def selection_cost(
    selections: Any, parent: GraphQLObjectType, variables: dict[str, Any], data: Any = None, fragments: dict[str, Any] | None = None
) -> int:
    """Shopify's cost of a selection set; with `data`, the actual cost of what was returned."""
    total = 0
    fragments = fragments or {}
    for sel in selections.selections if selections else ():
        if isinstance(sel, gql_ast.InlineFragmentNode):
            total += selection_cost(sel.selection_set, parent, variables, data, fragments)
            continue
        if isinstance(sel, gql_ast.FragmentSpreadNode):
            frag = fragments.get(sel.name.value)
            if frag is not None:
                total += selection_cost(frag.selection_set, parent, variables, data, fragments)
            continue
        if not isinstance(sel, FieldNode) or sel.name.value.startswith("__"):
            continue
        field = parent.fields.get(sel.name.value) if isinstance(parent, GraphQLObjectType) else None
        if field is None:
            continue
        named, is_list = _unwrap(field.type)
        if not isinstance(named, GraphQLObjectType):
            continue  # scalars and enums are free
        key = sel.alias.value if sel.alias else sel.name.value
        value = data.get(key) if isinstance(data, dict) else None
        if named.name.endswith("Connection"):
            node_type = _unwrap(named.fields["nodes"].type)[0] if "nodes" in named.fields else None
            per_node = 0
            returned = None
            for sub in sel.selection_set.selections if sel.selection_set else ():
                if not isinstance(sub, FieldNode):
                    continue
                if sub.name.value == "nodes" and isinstance(node_type, GraphQLObjectType):
                    nodes = value.get("nodes") if isinstance(value, dict) else None
                    returned = len(nodes) if nodes is not None else returned
                    per_node = 1 + (max((selection_cost(sub.selection_set, node_type, variables, n, fragments) for n in nodes), default=0) if nodes else selection_cost(sub.selection_set, node_type, variables, None, fragments))
                elif sub.name.value == "edges" and isinstance(node_type, GraphQLObjectType):
                    edges = value.get("edges") if isinstance(value, dict) else None
                    returned = len(edges) if edges is not None else returned
                    for edge_sel in sub.selection_set.selections if sub.selection_set else ():
                        if isinstance(edge_sel, FieldNode) and edge_sel.name.value == "node":
                            per_node = 1 + selection_cost(edge_sel.selection_set, node_type, variables, None, fragments)
            n = _int_arg(sel, "first", variables) or _int_arg(sel, "last", variables) or 0
            if data is not None and returned is not None:
                n = returned
            total += 2 + n * per_node
        elif is_list:
            items = value if isinstance(value, list) else None
            n = len(items) if items is not None and data is not None else (_int_arg(sel, "first", variables) or 1)
            total += n * (1 + selection_cost(sel.selection_set, named, variables, None, fragments))
        else:
            total += 1 + selection_cost(sel.selection_set, named, variables, value, fragments)
    return total


# --- rendering the world as Shopify objects -----------------------------------------------------------------------


def _ts(t: datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def _money(cents: int, currency: str = "USD") -> dict[str, Any]:
    money = {"amount": f"{cents / 100:.2f}", "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": money}


def encode_cursor(key: Any, ident: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, ident]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        key, ident = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return key, int(ident)
    except Exception as exc:
        raise GraphQLError("Invalid cursor for current pagination sort.") from exc


def page_size(args: dict[str, Any]) -> int:
    """`first`/`last` as Shopify checks it: one of them is required, 0..MAX_PAGE_SIZE."""
    requested = args.get("first", args.get("last"))
    if requested is None:
        raise GraphQLError("you must provide one of first or last")
    size = int(requested)
    if size > MAX_PAGE_SIZE or size < 0:
        raise GraphQLError(f"The value of first/last must be between 0 and {MAX_PAGE_SIZE}.")
    return size


def connection(items: list[Any], args: dict[str, Any], sort_value: Callable[[Any], Any], ident: Callable[[Any], int], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    size = page_size(args)
    ordered = sorted(items, key=lambda x: (sort_value(x), ident(x)), reverse=bool(args.get("reverse")))
    keys = [(sort_value(x), ident(x)) for x in ordered]
    start = 0
    if args.get("after"):
        after = decode_cursor(args["after"])
        after_key = (after[0], after[1])
        start = next((i for i, k in enumerate(keys) if (k > after_key if not args.get("reverse") else k < after_key)), len(keys))
    page = ordered[start : start + size]
    nodes = [render(x) for x in page]
    cursors = [encode_cursor(sort_value(x), ident(x)) for x in page]
    return {
        "nodes": nodes,
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
        "pageInfo": {
            "hasNextPage": start + size < len(ordered),
            "hasPreviousPage": start > 0,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def sorted_connection(
    ordered: list[Any], keys: list[tuple[Any, int]], lo: int, hi: int, args: dict[str, Any], render: Callable[[Any], dict[str, Any]]
) -> dict[str, Any]:
    """`connection` over `ordered[lo:hi]`, already in ascending (sort value, id) order with `keys` beside it: the
    page is found by bisection, so answering it costs the page, not the list (the list is built once per `now`)."""
    size = page_size(args)
    reverse = bool(args.get("reverse"))
    count = hi - lo
    start = 0
    if args.get("after"):
        after = decode_cursor(args["after"])
        after_key = (after[0], after[1])
        # First key after the cursor: above it ascending; in reverse, below it (those sit at the end of the range).
        start = bisect_right(keys, after_key, lo, hi) - lo if not reverse else hi - bisect_left(keys, after_key, lo, hi)
    if reverse:
        first, last = max(lo, hi - start - size), hi - start
        page_keys, page = keys[first:last][::-1], ordered[first:last][::-1]
    else:
        first, last = lo + start, min(hi, lo + start + size)
        page_keys, page = keys[first:last], ordered[first:last]
    nodes = [render(x) for x in page]
    cursors = [encode_cursor(k[0], k[1]) for k in page_keys]
    return {
        "nodes": nodes,
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
        "pageInfo": {
            "hasNextPage": start + size < count,
            "hasPreviousPage": start > 0,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


SEARCH_TERM = re.compile(r"(updated_at|created_at|processed_at|email):(>=|<=|>|<)?'?\"?([^'\" ]+)'?\"?")


def search_filter(query: str | None) -> Callable[[dict[str, Any]], bool]:
    """Shopify search syntax, the subset incremental loads use: `updated_at:>'2024-01-01T00:00:00Z'` (ANDed)."""
    if not query:
        return lambda _record: True
    terms = SEARCH_TERM.findall(query)
    if not terms:
        raise GraphQLError(f"Unsupported search query in sandbox: {query!r}")
    ops: dict[str, Callable[[Any, Any], bool]] = {
        ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, "": lambda a, b: a == b,
    }

    def parse_value(field: str, raw: str) -> Any:
        if field == "email":
            return raw.lower()
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))

    parsed = [(f, ops[op], parse_value(f, v)) for f, op, v in terms]
    return lambda record: all(cmp(record[f], value) for f, cmp, value in parsed)


def search_terms(query: str | None) -> list[tuple[str, str, Any]]:
    """The (field, operator, value) terms of a search query, parsed as `search_filter` parses them."""
    if not query:
        return []
    search_filter(query)  # the same errors for a query the sandbox does not support
    return [(f, op, v.lower() if f == "email" else datetime.fromisoformat(v.replace("Z", "+00:00"))) for f, op, v in SEARCH_TERM.findall(query)]


class SortedRecords:
    """One connection's search records at one `now`, ordered per sort field as `connection` orders them, built once.

    For a time field, the records' times are kept beside the order when they rise with it (they do unless two
    times share a second), so a search on that field is a range of the order found by bisection."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self._orders: dict[str, tuple[list[dict[str, Any]], list[tuple[Any, int]], list[Any] | None]] = {}

    def ordered(self, field: str) -> tuple[list[dict[str, Any]], list[tuple[Any, int]], list[Any] | None]:
        if field not in self._orders:
            def sort_value(r: dict[str, Any]) -> Any:
                return _ts(r[field]) if isinstance(r[field], datetime) else r[field]

            rows = sorted(((sort_value(r), r["id"]), r) for r in self.records) if self.records else []
            ordered = [r for _, r in rows]
            times = [r[field] for r in ordered]
            rising = all(isinstance(t, datetime) for t in times) and all(a <= b for a, b in zip(times, times[1:], strict=False))
            self._orders[field] = (ordered, [k for k, _ in rows], times if rising else None)
        return self._orders[field]

    def range(self, field: str, terms: list[tuple[str, str, Any]]) -> tuple[int, int] | None:
        """`[lo, hi)` of `ordered(field)` matching every term, if all are on `field` and its times rise; else None."""
        ordered, _, times = self.ordered(field)
        if times is None or any(f != field for f, _, _ in terms):
            return None
        lo, hi = 0, len(ordered)
        for _, op, value in terms:
            if op in (">", ">="):
                lo = max(lo, (bisect_right if op == ">" else bisect_left)(times, value, lo, hi))
            elif op in ("<", "<="):
                hi = min(hi, (bisect_left if op == "<" else bisect_right)(times, value, lo, hi))
            else:  # equality
                lo, hi = max(lo, bisect_left(times, value, lo, hi)), min(hi, bisect_right(times, value, lo, hi))
        return lo, max(lo, hi)


SORT_KEYS = {"ID": "id", "UPDATED_AT": "updated_at", "CREATED_AT": "created_at", "PROCESSED_AT": "processed_at"}


class ShopifyGraphQL:
    def __init__(self, world: World) -> None:
        self.world = world
        self._records: tuple[Any, tuple[SortedRecords, SortedRecords, dict[str, Customer], dict[str, Order]]] | None = None

    # Records carry the search fields alongside the GraphQL rendering.
    def _customer_record(self, c: Customer) -> dict[str, Any]:
        return {"id": c.id, "updated_at": self.world.customer_updated_at(c), "created_at": c.created_at, "email": c.email.lower(), "obj": c}

    def _order_record(self, o: Order) -> dict[str, Any]:
        now = self.world.now
        return {"id": o.id, "updated_at": o.updated_at(now), "created_at": o.created_at, "processed_at": o.created_at, "email": o.email.lower(), "obj": o}

    def render_customer(self, c: Customer) -> dict[str, Any]:
        now = self.world.now
        orders = [o for o in self.world.orders_by_customer.get(c.id, []) if o.created_at <= now and not (o.cancelled_at and o.cancelled_at <= now)]
        spent = sum(o.total_cents - o.refunded_cents(now) for o in orders)
        phone = c.phone if c.profile_updated_at > now or c.phone is None else c.phone[:-1] + "0"  # a later profile edit
        state = "SUBSCRIBED" if c.accepts_marketing else "NOT_SUBSCRIBED"
        consent = {"marketingState": state, "marketingOptInLevel": "SINGLE_OPT_IN" if c.accepts_marketing else None, "consentUpdatedAt": _ts(c.created_at)}
        address = {
            "id": f"gid://shopify/MailingAddress/{c.id + 1}?model_name=CustomerAddress",
            "address1": f"{(c.id % 900) + 10} Main St",
            "city": c.city, "province": c.province, "provinceCode": c.province_code, "country": c.country,
            "countryCodeV2": c.country_code, "zip": c.zip, "firstName": c.first_name, "lastName": c.last_name, "phone": phone,
        }
        return {
            "__typename": "Customer",
            "id": f"gid://shopify/Customer/{c.id}",
            "legacyResourceId": str(c.id),
            "firstName": c.first_name,
            "lastName": c.last_name,
            "displayName": f"{c.first_name} {c.last_name}",
            "email": c.email,
            "defaultEmailAddress": {"emailAddress": c.email, "marketingState": state},
            "emailMarketingConsent": consent,
            "phone": phone,
            "state": "ENABLED",
            "tags": c.tags,
            "verifiedEmail": True,
            "taxExempt": False,
            "locale": "en",
            "note": None,
            "createdAt": _ts(c.created_at),
            "updatedAt": _ts(self.world.customer_updated_at(c)),
            "numberOfOrders": str(len(orders)),
            "amountSpent": {"amount": f"{spent / 100:.2f}", "currencyCode": "USD"},
            "defaultAddress": address,
        }

    def render_order(self, o: Order) -> dict[str, Any]:
        now = self.world.now
        refunds = o.refunds_as_of(now)
        items = {li.id: li for li in o.line_items}

        def line_item(li: Any) -> dict[str, Any]:
            refunded_qty = sum(q for r in refunds for lid, q in r.line_items if lid == li.id)
            return {
                "id": f"gid://shopify/LineItem/{li.id}",
                "title": li.title,
                "name": li.title,
                "sku": li.sku,
                "isGiftCard": li.sku.startswith("GIFT-CARD"),
                "quantity": li.quantity,
                "currentQuantity": li.quantity - refunded_qty,
                "refundableQuantity": li.quantity - refunded_qty,
                "originalUnitPriceSet": _money(li.unit_price_cents, o.currency),
                "discountedTotalSet": _money(li.unit_price_cents * li.quantity, o.currency),
                "variant": {"id": f"gid://shopify/ProductVariant/{zlib.crc32(li.sku.encode())}", "sku": li.sku, "title": "Default Title"},
                "product": {"id": f"gid://shopify/Product/{zlib.crc32(li.title.encode())}", "title": li.title},
            }

        def refund(r: Any) -> dict[str, Any]:
            rlis = [
                {"id": f"gid://shopify/RefundLineItem/{r.id * 10 + i}", "quantity": q, "lineItem": line_item(items[lid]),
                 "restockType": "RETURN", "restocked": True, "subtotalSet": _money(o.returned_line_value_cents(lid, q), o.currency)}
                for i, (lid, q) in enumerate(r.line_items)
            ]
            return {
                "id": f"gid://shopify/Refund/{r.id}",
                "legacyResourceId": str(r.id),
                "createdAt": _ts(r.created_at),
                "updatedAt": _ts(r.created_at),
                "note": None,
                "totalRefundedSet": _money(r.amount_cents, o.currency),
                "refundLineItems": lambda info, **args: connection(rlis, args, lambda x: x["id"], lambda x: 0, lambda x: x),
            }

        lis = o.line_items
        cancelled = o.cancelled_at is not None and o.cancelled_at <= now
        return {
            "__typename": "Order",
            "id": f"gid://shopify/Order/{o.id}",
            "legacyResourceId": str(o.id),
            "name": f"#{o.number}",
            "email": o.email,
            "createdAt": _ts(o.created_at),
            "processedAt": _ts(o.created_at),
            "updatedAt": _ts(o.updated_at(now)),
            "cancelledAt": _ts(o.cancelled_at) if cancelled else None,
            "cancelReason": "CUSTOMER" if cancelled else None,
            "closedAt": None,
            "currencyCode": o.currency,
            "displayFinancialStatus": o.financial_status(now),
            "displayFulfillmentStatus": o.fulfillment_status(now),
            "test": False,
            "sourceName": "web",
            "tags": [],
            "customer": {"id": f"gid://shopify/Customer/{o.customer_id}"},
            "subtotalPriceSet": _money(o.subtotal_cents, o.currency),
            "totalDiscountsSet": _money(o.discount_cents, o.currency),
            "totalShippingPriceSet": _money(o.shipping_cents, o.currency),
            "totalTaxSet": _money(o.tax_cents, o.currency),
            "totalPriceSet": _money(o.total_cents, o.currency),
            "currentTotalPriceSet": _money(o.total_cents - o.refunded_cents(now), o.currency),
            "totalRefundedSet": _money(o.refunded_cents(now), o.currency),
            "lineItems": lambda info, **args: connection(lis, args, lambda x: x.id, lambda x: x.id, line_item),
            "refunds": lambda info, **args: [refund(r) for r in (refunds[: args["first"]] if args.get("first") else refunds)],
        }

    def records(self) -> tuple[SortedRecords, SortedRecords, dict[str, Customer], dict[str, Order]]:
        """Customers' and orders' search records, ordered per sort field, and both by gid: built once per `now`
        (`World.advance` moves it), not once per request."""
        world = self.world
        stamp = (world.now, world.epoch)
        if self._records is None or self._records[0] != stamp:
            customers = [self._customer_record(c) for c in world.visible_customers()]
            orders = [self._order_record(o) for o in world.visible_orders()]
            by_customer = {f"gid://shopify/Customer/{r['id']}": r["obj"] for r in customers}
            by_order = {f"gid://shopify/Order/{r['id']}": r["obj"] for r in orders}
            self._records = (stamp, (SortedRecords(customers), SortedRecords(orders), by_customer, by_order))
        return self._records[1]

    def root(self) -> dict[str, Any]:
        customers, orders, by_customer, by_order = self.records()

        def listing(records: SortedRecords, render: Callable[[Any], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
            def resolve(info: Any, **args: Any) -> dict[str, Any]:
                sort_field = SORT_KEYS.get(args.get("sortKey") or "ID", "id")
                terms = search_terms(args.get("query"))
                ordered, keys, _ = records.ordered(sort_field)
                bounds = records.range(sort_field, terms)
                if bounds is None:  # a search the order cannot answer (email, another field): filter the order
                    keep = search_filter(args.get("query"))
                    chosen = [i for i, r in enumerate(ordered) if keep(r)]
                    ordered, keys = [ordered[i] for i in chosen], [keys[i] for i in chosen]
                    bounds = 0, len(ordered)
                return sorted_connection(ordered, keys, *bounds, args, lambda r: render(r["obj"]))

            return resolve

        return {
            "customers": listing(customers, self.render_customer),
            "orders": listing(orders, self.render_order),
            "customer": lambda info, id: self.render_customer(by_customer[id]) if id in by_customer else None,
            "order": lambda info, id: self.render_order(by_order[id]) if id in by_order else None,
            "shop": {"id": "gid://shopify/Shop/1", "name": "Northwind Roasters", "currencyCode": "USD", "ianaTimezone": "UTC"},
        }

    def run(self, version: str, query: str, variables: dict[str, Any] | None, bucket: Any) -> tuple[dict[str, Any], int]:
        """Execute a request. Returns (body, actual cost charged)."""
        variables = variables or {}
        schema = schema_for_version(version)
        document, errors, parse_error = checked_document(version >= "2025-04", query)
        if parse_error is not None:
            return {"errors": [parse_error.formatted]}, 0
        assert document is not None
        if errors:
            return {"errors": [e.formatted | {"extensions": {"code": "undefinedField" if "Cannot query field" in e.message else "GRAPHQL_VALIDATION_FAILED"}} for e in errors]}, 0
        operation = next(d for d in document.definitions if isinstance(d, gql_ast.OperationDefinitionNode))
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, gql_ast.FragmentDefinitionNode)}
        root_type = schema.query_type if operation.operation.value == "query" else schema.mutation_type
        assert root_type is not None
        requested = selection_cost(operation.selection_set, root_type, variables, None, fragments)
        if requested > MAX_QUERY_COST:
            return {
                "errors": [{
                    "message": f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n",
                    "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST},
                }]
            }, 0
        taken, _wait = bucket.try_take(requested)
        if not taken:
            return {
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": None, "throttleStatus": throttle_status(bucket)}},
            }, 0
        result = execute(schema, document, root_value=self.root(), variable_values=variables)
        assert isinstance(result, ExecutionResult)  # resolvers are synchronous
        data = result.data
        actual = selection_cost(operation.selection_set, root_type, variables, data or {}, fragments) if data else requested
        bucket.refund(max(0, requested - actual))
        body: dict[str, Any] = {"data": data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        body["extensions"] = {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": throttle_status(bucket)}}
        return body, actual


def throttle_status(bucket: Any) -> dict[str, Any]:
    return {"maximumAvailable": float(bucket.capacity), "currentlyAvailable": int(bucket.available()), "restoreRate": float(bucket.rate)}
