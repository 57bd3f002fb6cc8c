"""Small helpers shared by the core models."""

from datetime import datetime, timezone


def utc_naive(value):
    """RFC 3339 text to a naive UTC datetime, as Odoo stores datetimes (None stays)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def delay_once(model, job, kind, target, channel, description, eta=None):
    """Enqueue ``model.<job>(target.id)`` on ``channel`` unless the same job for the
    same target and start time is already pending (queue_job's ``identity_key``), so
    that concurrent requests do not pile up jobs that would all drain the same rows.

    :param kind: short name in the identity key (``drain``, ``deliver``)
    :param eta: start time (None: now)
    """
    stamp = int(eta.timestamp()) if eta else 0
    delayed = model.with_delay(
        channel=channel,
        eta=eta,
        identity_key=f"mfg_integration_{kind}_{target.id}_{stamp}",
        description=description,
    )
    return getattr(delayed, job)(target.id)


def targets_with_live_jobs(env, kind, horizon):
    """The ids of the targets that have a job of ``kind`` (see :func:`delay_once`)
    waiting, enqueued or running, and starting by ``horizon``."""
    env["queue.job"].flush_model(["identity_key", "state", "eta"])
    env.cr.execute(
        """
        SELECT DISTINCT split_part(identity_key, '_', 4)::int FROM queue_job
         WHERE identity_key LIKE %s
           AND state IN ('wait_dependencies', 'pending', 'enqueued', 'started')
           AND (eta IS NULL OR eta <= %s)
        """,
        (f"mfg_integration\\_{kind}\\_%", horizon),
    )
    return {row[0] for row in env.cr.fetchall()}


def iso_utc(value):
    """A naive UTC datetime as RFC 3339 text with ``Z`` (None for an empty value)."""
    if not value:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
