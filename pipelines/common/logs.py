"""dlt's log records, handed to whatever logging the process has (Airflow's, in a task), at their real level.

dlt gives its logger its own stderr handler and stops propagation. In an Airflow task everything on stderr is filed
as an error, so dlt's warnings read `[error]` in the task log. `route_dlt_logging()` replaces that handler with one
that hands the records to the root logger, which Airflow (or pytest, or a CLI's basicConfig) has configured; the
level stays dlt's own (`RUNTIME__LOG_LEVEL`, default WARNING).

One warning is expected on every load and says nothing actionable, so it is demoted to INFO (shown only with
`RUNTIME__LOG_LEVEL=INFO`): "columns ... did not receive any data during this load and therefore could not have their
types inferred". Provider APIs send many fields that are null in every row (Stripe's `application`, `review`, ...);
dlt cannot create a column for them until a value arrives, and the columns the models read are declared up front in
each source, so one missing here is not one the models need.
"""

from __future__ import annotations

import logging

NULL_ONLY_COLUMNS = "did not receive any data during this load and therefore could not have their types inferred"


ARROW_HINTS_KEPT = "when merging arrow schema with dlt schema, several column hints were different"
"""Logged for every arrow table whose resource declares a column hint: Klaviyo's events declare their JSON column
(a string in arrow) on purpose, and dlt keeps the hint (pipelines/klaviyo/source.py `EVENT_HINTS`)."""


class _DemoteKnownNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and any(known in record.getMessage() for known in (NULL_ONLY_COLUMNS, ARROW_HINTS_KEPT)):
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger("dlt").isEnabledFor(logging.INFO)
        return True


class _ToRoot(logging.Handler):
    """Hands dlt's records to the root logger's handlers, as propagation would (dlt turns propagation off)."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger().handle(record)


def route_dlt_logging() -> None:
    """Idempotent. dlt re-creates its logger whenever its runtime is re-initialised, but reuses the logger's first
    handler when there is one: so its stderr handler is replaced by one that forwards to the root logger."""
    logger = logging.getLogger("dlt")
    for handler in list(logger.handlers):
        if type(handler) is logging.StreamHandler:  # dlt's own (`dlt.common.logger._create_logger`), on stderr
            logger.removeHandler(handler)
    if not any(isinstance(h, _ToRoot) for h in logger.handlers):
        logger.handlers.insert(0, _ToRoot())
    logger.propagate = False  # _ToRoot does it, once
    if not any(isinstance(f, _DemoteKnownNoise) for f in logger.filters):
        logger.addFilter(_DemoteKnownNoise())
