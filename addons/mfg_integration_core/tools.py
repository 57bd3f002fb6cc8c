"""Small helpers shared by the core models."""

from datetime import datetime, timezone

from odoo import api, models

from odoo.addons.queue_job.exception import RetryableJobError


def form_action(record):
    """The window action that opens ``record`` (one record) in its form view."""
    return {
        "type": "ir.actions.act_window",
        "res_model": record._name,
        "res_id": record.id,
        "view_mode": "form",
        "views": [(False, "form")],
        "target": "current",
    }


def notify(message, title=None, next_action=None):
    """The client action that shows a success notification (then runs
    ``next_action``, when given)."""
    params = {"type": "success", "message": message}
    if title:
        params["title"] = title
    if next_action:
        params["next"] = next_action
    return {
        "type": "ir.actions.client",
        "tag": "display_notification",
        "params": params,
    }


def utc_naive(value):
    """RFC 3339 text to a naive UTC datetime, as Odoo stores datetimes (None stays)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def delay_once(
    model,
    job,
    kind,
    target,
    channel,
    description,
    eta=None,
    after_commit=False,
    bring_forward=False,
):
    """Enqueue ``model.<job>(target.id)`` on ``channel`` unless the same job for the
    same target and start time is already pending (queue_job's ``identity_key``), so
    that concurrent requests do not pile up jobs that would all drain the same rows.

    :param kind: short name in the identity key (``drain``, ``deliver``)
    :param eta: start time (None: now)
    :param bring_forward: a job handing over to the next one: when the job found
        waiting was postponed meanwhile (the target was busy with this very job),
        it is brought forward, so that the work goes on at once (queue_job's
        trigger tells the runner); one more query, which the ingress spares
    :param after_commit: the caller's transaction may last long (an emit of many
        events): the job found waiting may run and finish before it commits, and
        miss its rows. Once it committed, ask again in a transaction of its own (a
        job that has not started yet is found again; otherwise a new one is made).
    """
    stamp = int(eta.timestamp()) if eta else 0
    delayed = model.with_delay(
        channel=channel,
        eta=eta,
        identity_key=f"mfg_integration_{kind}_{target.id}_{stamp}",
        description=description,
    )
    queued = getattr(delayed, job)(target.id)
    if not isinstance(queued, models.BaseModel):
        return queued  # a new job: it starts once this transaction committed
    if bring_forward and eta is None:
        queued.flush_recordset(["state", "eta"])
        model.env.cr.execute(
            "UPDATE queue_job SET eta = NULL WHERE id = %s AND state = 'pending' "
            "AND eta IS NOT NULL",
            [queued.id],
        )
        queued.invalidate_recordset(["eta"])
    if after_commit:
        _ask_again_after_commit(model, job, kind, target, channel, description)
    return queued


def _ask_again_after_commit(model, job, kind, target, channel, description):
    """Once per transaction and target: :func:`delay_once` again after the commit."""
    callbacks = model.env.cr.postcommit
    key = ("mfg_integration_delay_once", kind, target._name, target.id)
    if key in callbacks.data:
        return
    callbacks.data[key] = True
    registry, uid, context = model.env.registry, model.env.uid, model.env.context
    model_name, target_name, target_id = model._name, target._name, target.id

    @callbacks.add
    def ask_again():
        with registry.cursor() as cr:
            env = api.Environment(cr, uid, context)
            delay_once(
                env[model_name],
                job,
                kind,
                env[target_name].browse(target_id),
                channel,
                description,
            )


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


#: seconds after which a job that found its target busy tries again
BUSY_RETRY_SECONDS = 2
#: namespaces of the PostgreSQL advisory locks that keep one job per target
DRAIN_LOCK_NAMESPACE = 0x6D666769  # "mfgi": inbound processing of a system
DELIVERY_LOCK_NAMESPACE = 0x6D666764  # "mfgd": outbound delivery to an endpoint


def try_job_lock(env, namespace, target_id):
    """Take a job's lock on its target (a system to drain, an endpoint to deliver
    to) for the current transaction: it goes with the transaction, so no lock
    outlives a failed or killed job. False when another job holds it."""
    env.cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (namespace, target_id))
    return env.cr.fetchone()[0]


def take_job_lock(env, namespace, target_id, busy_message):
    """Take a job's lock on its target, or postpone the job (queue_job tries it again
    in :data:`BUSY_RETRY_SECONDS`, without counting a retry).

    :raise RetryableJobError: another job holds the lock (``busy_message`` says so)
    """
    if not try_job_lock(env, namespace, target_id):
        raise RetryableJobError(
            busy_message, seconds=BUSY_RETRY_SECONDS, ignore_retry=True
        )
