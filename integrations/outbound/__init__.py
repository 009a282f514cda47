"""Outbound webhooks: we notify partners when their orders change.

Life of a delivery
------------------
1. ``enqueue.delivery_enqueue_for_change`` writes a ``WebhookDelivery`` row in the
   transaction that changed the order (connected to ``orders.signals.order_status_changed``;
   the body is built in ``payload``). For a ``real_time`` integration the first attempt is
   queued on commit (through ``queue``, the one place outbound work reaches Celery); other
   frequencies wait for the integration's next sync slot (``next_attempt_at``).
2. A worker claims the row (``claim``: a lease, ``claim_token`` + ``claimed_until``), POSTs it
   signed with Standard Webhooks headers (``transport``), and records the attempt and the
   outcome in one go (``send`` sends a claimed batch in order, ``record`` writes it).
3. Failures retry on ``WEBHOOK_RETRY_SCHEDULE`` (``Retry-After`` honoured; ``retry`` is the
   only reader of the schedule), kept in the database. ``dispatch.deliveries_dispatch`` (Celery
   beat, every few seconds) claims whatever is due in batches, so a lost broker message or a
   killed worker only delays a delivery.
4. After ``WEBHOOK_HOLD_AFTER_FAILURES`` consecutive retryable failures, or on 410 Gone, the
   integration's deliveries are held (``holds``); held deliveries are probed on the retry
   schedule (not after a 410: ops resume those) and drained in order once the partner answers
   again (``drain``).

Ops replay, cancel and test-send from the admin through ``actions``; ``success_rate`` keeps the
integration's ``success_rate`` and last error current after every batch; ``tasks`` are the
thin Celery tasks; ``selectors`` holds the reads several of these modules share.
"""
